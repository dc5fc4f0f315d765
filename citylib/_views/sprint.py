"""The learner's ``citylib.sprint``: the Sprint's lesson, plus the stretch goal's chart.

Everything but :func:`compare_timings` is the lesson itself
(:mod:`citylib._lessons.sprint`); this module only adds the drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from citylib._core.race import RaceResult
from citylib._lessons.sprint import (
    Source,
    check,
    default_sources,
    describe_sources,
    hint_if_unwritten,
    stretch_timings,
)
from citylib._views import charts

__all__ = [
    "Source",
    "check",
    "compare_timings",
    "default_sources",
    "describe_sources",
    "hint_if_unwritten",
]


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
