"""The one live board: a figure drawn once, whose moving parts are blitted each frame.

Re-plotting a lane chart costs about 75 ms a frame; drawing the axes, labels and
legend once, caching that background and redrawing only the artists that move
keeps a frame near 10 ms, well under the 50 ms a smooth animation needs
(``make bench``). Every live picture in the course (the lane boards of 01 and 03,
the chatbot rush of 03) is a :class:`LiveBoard`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citylib._views.style import canvas_to_png, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LiveBoard"]


class LiveBoard:
    """A figure with a cached background and a list of animated artists.

    Subclasses draw the still parts onto :attr:`fig`, add their moving artists with
    ``animated=True``, call :meth:`freeze`, and then move the artists before each
    :meth:`render`.

    Args:
        width: Figure width in inches.
        height: Figure height in inches.
    """

    def __init__(self, width: float, height: float) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig = new_figure(width, height)
        self.canvas = FigureCanvasAgg(self.fig)
        self._moving: list[tuple[Axes, Any]] = []
        self._background: Any = None

    def moving(self, ax: Axes, *artists: Any) -> None:
        """Register artists on ``ax`` that :meth:`render` redraws every frame."""
        self._moving.extend((ax, a) for a in artists)

    def freeze(self) -> None:
        """Draw the still parts once and keep them as the background of every frame."""
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self) -> bytes:
        """The current frame as PNG bytes (blitted, not re-plotted)."""
        if self._background is None:
            self.freeze()
        self.canvas.restore_region(self._background)
        for ax, artist in self._moving:
            if artist.get_visible():
                ax.draw_artist(artist)
        return canvas_to_png(self.canvas)
