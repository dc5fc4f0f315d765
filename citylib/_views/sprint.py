"""The learner's ``citylib.sprint``: the Sprint's lesson, plus its charts.

Everything is the lesson itself (:mod:`citylib._lessons.sprint`); this module only
adds the drawing: the self-check's drives as the learner's own lanes
(:func:`check`), and the stretch goal's two runs side by side (:func:`compare_timings`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from citylib._core.race import RaceResult
from citylib._lessons import sprint as lesson
from citylib._lessons.sprint import (
    Source,
    default_sources,
    describe_result,
    describe_sources,
    hint_if_unwritten,
    stretch_timings,
)
from citylib._views import charts
from citylib._views.lanes import Recording, record
from citylib._views.lanes_chart import lanes_chart

#: The self-check's heartbeat lane: its machinery, not the learner's code.
_HEARTBEAT_LANE = "Heartbeat._beat"

__all__ = [
    "Source",
    "check",
    "compare_timings",
    "default_sources",
    "describe_result",
    "describe_sources",
    "hint_if_unwritten",
]


async def check(parallel_fetch: Callable[..., Any], *, draw: bool = True) -> None:
    """Self-check the deliverable, then draw your ``parallel_fetch``'s lanes in its drives.

    The checks and their hints are the lesson's (:func:`citylib._lessons.sprint.check`).
    While it drives your function, :func:`citylib.lanes.record` watches: each call
    of a source is a lane (``sources['maps']()``), so you see whether they ran side
    by side, and a stall names the line of yours that held the loop.

    Args:
        parallel_fetch: The learner's ``async def parallel_fetch(sources=None)``.
        draw: Draw the lanes (the checks are always printed; a function that raised on
            every drive has no lanes worth a chart: its one diagnosis says it all).
    """
    with record() as rec:
        verdict = await lesson.check(parallel_fetch)
    # Each drive runs in a task the judge names "parallel_fetch, drive N".
    yours = [lane for lane in rec.lanes[1:] if lane.name != _HEARTBEAT_LANE]
    drives = sum(1 for lane in yours if lane.name.startswith("parallel_fetch, drive "))
    # Nothing to see when nothing ran (the stub) or every drive stopped at its error.
    if draw and drives and verdict is not None and verdict.status not in ("not_attempted", "error"):
        drawn: Recording[Any] = Recording(
            stalls=rec.stalls, threshold=rec.threshold, duration=rec.duration, _lanes=yours
        )
        held = "the loop was held" if rec.stalls else "the loop was never held"
        title = f"Your parallel_fetch in the self-check: {drives} drives; {held}"
        charts.show(lanes_chart(drawn, title=title), alt=drawn.summary())


async def compare_timings(
    parallel_fetch: Callable[..., Any],
    sequential_fetch: Callable[..., Any] | None = None,
    *,
    draw: bool = True,
) -> None:
    """The stretch goal: side-by-side timing for sequential vs async, then both lanes.

    Locked until ``parallel_fetch`` passes the self-check (see
    :func:`citylib._lessons.sprint.stretch_timings`, which prints the table).

    Args:
        parallel_fetch: The deliverable.
        sequential_fetch: The learner's ``async def sequential_fetch(sources=None)``.
        draw: Draw both runs' lanes; the table is always printed.
    """
    timings = await stretch_timings(parallel_fetch, sequential_fetch)
    if timings is not None and draw:
        _draw(timings.results)


def _draw(results: Sequence[RaceResult]) -> None:
    """Both runs' lanes side by side, as a PNG with its one-line text alternative."""
    charts.show(charts.compare(results), alt=charts.describe(results))
