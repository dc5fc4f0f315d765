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
from citylib._lessons.drives import DriveRecord
from citylib._lessons.sprint import (
    Source,
    default_sources,
    describe_result,
    describe_sources,
    hint_if_unwritten,
    stretch_timings,
)
from citylib._views import charts
from citylib._views.lanes import Lane, Recording, Span, record
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
    While it drives your function, :func:`citylib.lanes.record` watches, and each call
    of a source is a lane of its own (``sources['maps']()``), drawn from what the judge
    saw it do, whether or not your code made a task of it: so you see whether the
    calls ran side by side, and a stall names the line of yours that held the loop.

    Args:
        parallel_fetch: The learner's ``async def parallel_fetch(sources=None)``.
        draw: Draw the lanes (the checks are always printed; a function that raised on
            every drive has no lanes worth a chart: its one diagnosis says it all).
    """
    drives: list[DriveRecord] = []
    with record() as rec:
        verdict = await lesson.check(parallel_fetch, on_drive=drives.append)
    # Each drive runs in a task the judge names "parallel_fetch, drive N".
    yours = [lane for lane in rec.lanes[1:] if lane.name != _HEARTBEAT_LANE]
    driven = [lane for lane in yours if lane.name.startswith(_DRIVE_LANE)]
    # Nothing to see when nothing ran (the stub) or every drive stopped at its error.
    if draw and driven and verdict is not None and verdict.status not in ("not_attempted", "error"):
        lanes = _with_call_lanes(yours, drives, rec.origin)
        drawn: Recording[Any] = Recording(
            stalls=rec.stalls,
            threshold=rec.threshold,
            duration=rec.duration,
            speed=rec.speed,
            origin=rec.origin,
            _lanes=lanes,
        )
        held = "the loop was held" if rec.stalls else "the loop was never held"
        title = (
            f"Your parallel_fetch in the self-check: {len(driven)} drives, "
            f"{len(lanes) - len(driven)} source calls; {held}"
        )
        charts.show(lanes_chart(drawn, title=title), alt=drawn.summary())


#: The judge names each drive's task "parallel_fetch, drive N".
_DRIVE_LANE = "parallel_fetch, drive "


def _with_call_lanes(recorded: list[Lane], drives: list[DriveRecord], origin: float) -> list[Lane]:
    """Each drive's own lane, then one lane per source call it made, as the judge saw it.

    A call is a lane from when it was called to when its answer came: waiting for the
    loop until it was first awaited, then awaiting its answer. A call never awaited
    stays ``pending``. The recorder's own lanes of source calls (tasks that ``gather``
    made of them) give way to these, so a call is drawn once whatever your code did.
    """
    drive_lanes = [lane for lane in recorded if lane.name.startswith(_DRIVE_LANE)]
    lanes: list[Lane] = []
    for number, lane in enumerate(drive_lanes):
        lanes.append(lane)
        if number >= len(drives):
            continue
        calls = [(name, c) for name, made in drives[number].calls.items() for c in made]
        for name, call in sorted(calls, key=lambda nc: nc[1].invoked):
            called = call.invoked - origin
            if call.started is None:
                lanes.append(Lane(f"sources[{name!r}]()", called, lane.end, "pending", ()))
                continue
            started = call.started - origin
            ended = call.ended - origin if call.ended is not None else lane.end
            status = "done" if call.ended is not None else "pending"
            span = Span("awaiting", started, ended, "")
            lanes.append(Lane(f"sources[{name!r}]()", called, ended, status, (span,)))
    others = [
        lane
        for lane in recorded
        if not lane.name.startswith(_DRIVE_LANE) and not lane.name.startswith("sources[")
    ]
    return lanes + others


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
