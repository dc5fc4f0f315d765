"""One chart style for every picture in the course, and the one way to make a PNG.

Colours come from the Okabe-Ito palette, which stays readable with every common
colour-vision deficiency. Figures are ``matplotlib.figure.Figure`` objects made
without pyplot, so no global figure state builds up across re-runs of a cell.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "GRID",
    "PALETTE",
    "TEXT",
    "WAIT",
    "canvas_to_png",
    "colour",
    "new_figure",
    "tidy",
    "to_png",
    "without_emoji",
]

#: Okabe-Ito colours, one per service.
PALETTE: dict[str, str] = {
    "image": "#D55E00",  # vermillion
    "chat": "#0072B2",  # blue
    "speech": "#CC79A7",  # reddish purple
    "maps": "#009E73",  # bluish green
    "translate": "#E69F00",  # orange
    "weather": "#56B4E9",  # sky blue
}
OTHER = "#777777"
#: Time spent waiting in line: light grey, hatched.
WAIT = "#D9D9D9"
#: Grid lines, and labels written on a chart.
GRID = "#EEEEEE"
TEXT = "#333333"
DPI = 100


def colour(service: str) -> str:
    """The service's palette colour."""
    return PALETTE.get(service, OTHER)


def new_figure(width: float, height: float) -> Figure:
    """A figure in the course's size units (inches at :data:`DPI`), laid out tightly."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def tidy(ax: Axes, *, grid: Literal["both", "x", "y"] = "x") -> None:
    """The course's axes: a light grid behind the data, no top or right spine."""
    ax.grid(axis=grid, color=GRID)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def without_emoji(text: str) -> str:
    """``text`` without emoji: chart fonts have none, and matplotlib would draw a box."""
    import unicodedata

    kept = (c for c in text if unicodedata.category(c) not in ("So", "Mn", "Cf"))
    return " ".join("".join(kept).split())


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def canvas_to_png(canvas: Any) -> bytes:
    """The canvas's pixels as PNG bytes, encoded for speed (a frame lives briefly)."""
    from PIL import Image as PILImage

    width, height = canvas.get_width_height()
    image = PILImage.frombuffer(
        "RGBA", (width, height), bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1
    )
    out = io.BytesIO()
    image.save(out, format="png", compress_level=1)
    return out.getvalue()
