"""The learner's ``citylib.lanes``: record your own asyncio code and draw its lanes.

The recorder is :mod:`citylib._core.lanes`; this module adds ``rec.chart()`` and
``rec.show()``, and the ``%%lanes`` cell magic (``%load_ext citylib``). Where it is
taught: notebook 02 (your rude and polite drivers), 04 (step 3), 05 (your
``parallel_fetch``), 06 (each lesson's fix).

Example (a notebook cell)::

    from citylib import lanes

    with lanes.record() as rec:
        await asyncio.gather(polite(), rude())
    rec.show()
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from citylib._core import lanes as _recorder
from citylib._core.lanes import KINDS, LANE_STATUSES, Lane, Span, Stall
from citylib._views.lanes_chart import lanes_chart
from citylib._views.style import to_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KINDS",
    "LANE_STATUSES",
    "Lane",
    "Recording",
    "Span",
    "Stall",
    "record",
    "run",
]

T = TypeVar("T")


class Recording(_recorder.Recording[T]):
    """A recording that can draw itself (see :class:`citylib._core.lanes.Recording`)."""

    def chart(self) -> Figure:
        """A matplotlib Figure: one row per lane, running and awaiting apart, stalls marked."""
        return lanes_chart(self)

    def show(self) -> None:
        """Display the chart in a notebook, with the one-line summary below it."""
        from IPython.display import Image, display

        display(Image(to_png(self.chart())))
        print(self.summary())

    def _repr_png_(self) -> bytes:
        return to_png(self.chart())


@contextmanager
def record(threshold: float | None = None) -> Iterator[Recording[Any]]:
    """Record every task started inside the block, and the block's own code, as lanes.

    Use it inside running async code (a notebook cell, an ``async def``); the
    recording is complete when the block ends. See :func:`citylib._core.lanes.record`.

    Args:
        threshold: Real seconds the loop must be held to count as a stall (default:
            the course's one rule, in the glossary under "held").
    """
    with _recorder.record(threshold, recording=Recording()) as rec:
        yield rec  # type: ignore[misc]


def run(main: Coroutine[Any, Any, T], *, threshold: float | None = None) -> Recording[T]:
    """Like ``asyncio.run(main())``, recording every task; ``rec.result`` is main's result.

    Args:
        main: The coroutine, such as ``main()``.
        threshold: Real seconds the loop must be held to count as a stall (default:
            the course's one rule, in the glossary under "held").
    """
    rec: Recording[T] = Recording()
    _recorder.run(main, threshold=threshold, recording=rec)
    return rec
