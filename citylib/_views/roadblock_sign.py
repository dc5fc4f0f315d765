"""The roadblock sign: a live badge over a cell while the roadblock detector watches.

Green while the event loop flows, red *while* it is stuck (the watchdog thread
updates the sign even though the loop cannot), amber once it moves again with the
line that blocked it. When the cell ends the sign keeps the verdict, and the same
verdict is printed below it as plain text for readers without a live kernel; they
see the sign itself as one line of text (:data:`PLAIN_SIGN`), not a widget's repr.
"""

from __future__ import annotations

import html
from types import TracebackType
from typing import Any

import ipywidgets as widgets

from citylib._core.watch import Spot, Stall, Watch, describe_place

__all__ = ["PLAIN_SIGN", "RoadblockSign", "sign_html"]

#: What a reader without a live kernel (GitHub, nbviewer, a PDF) sees of the sign.
PLAIN_SIGN = "🚦 Stall sign: live while the cell runs; its verdict is printed below."

_COLOURS = {"watching": "#009E73", "stuck": "#D55E00", "moving": "#8a4b00", "clear": "#009E73"}


def sign_html(state: str, text: str) -> str:
    """The sign's HTML: a rounded badge, coloured by ``state``, ``text`` escaped."""
    colour = _COLOURS.get(state, "#333333")
    return (
        f'<div class="citylib-roadblock-sign" style="display: inline-block; '
        f"padding: 0.3em 0.8em; border: 2px solid {colour}; border-radius: 0.6em; "
        f'color: {colour}; font-size: 1.05em; line-height: 1.5">{html.escape(text)}</div>'
    )


class RoadblockSign:
    """Watch the event loop while a cell runs, with a sign that shows what it sees.

    Example (a notebook cell)::

        with RoadblockSign():
            await asyncio.gather(polite(), rude())

    Args:
        threshold: Real seconds of standstill that count as a roadblock.

    Attributes:
        widget: The ``ipywidgets.HTML`` sign.
        watch: The :class:`~citylib._core.watch.Watch` behind it.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.widget = widgets.HTML(sign_html("watching", "🟢 Watching the event loop…"))
        self.watch = Watch(
            threshold, announce=False, on_block=self._stuck, on_roadblock=self._moving
        )

    def __repr__(self) -> str:
        return PLAIN_SIGN

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, with :data:`PLAIN_SIGN` as its text instead of a widget repr."""
        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = PLAIN_SIGN
        return bundle

    def __enter__(self) -> RoadblockSign:
        from IPython.display import display

        display(self)
        self.watch.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.watch.__exit__(exc_type, exc, tb)
        found = self.watch.roadblocks
        if found:
            self.widget.value = sign_html("stuck", self.watch.summary().splitlines()[0])
        else:
            self.widget.value = sign_html("clear", "✅ No roadblocks: the highway kept moving.")
        print(self.watch.summary())

    # Both run on the watchdog thread; ipywidgets send their updates from any thread.

    def _stuck(self, spot: Spot) -> None:
        place = describe_place(spot.filename, spot.lineno, home=self.watch.home)
        self.widget.value = sign_html("stuck", f"🚧 The event loop is stuck at {place}…")

    def _moving(self, roadblock: Stall) -> None:
        self.widget.value = sign_html("moving", f"🚧 Moving again; it was {roadblock}")
