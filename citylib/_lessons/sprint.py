"""The Parallel Fetch Sprint: the course's graded exercise.

Deliverable: call three slow mock sources concurrently and return one merged
response with total latency. The learner writes, in the cell tagged
:data:`SPRINT_TAG`::

    async def parallel_fetch(sources=None) -> dict:
        ...  # {name: payload, ..., "total_latency": seconds}

This module gives them the sources (:func:`default_sources`), a self-check with
hints (:func:`check`) and, once the deliverable passes, the stretch goal's
side-by-side timing of one lane against the Async Highway (:func:`compare_timings`).
In a notebook, both are awaited at the top level of a cell::

    await sprint.check(parallel_fetch)
    await sprint.compare_timings(parallel_fetch, sequential_fetch)

Until the answer is written, a cell that drives it prints a hint rather than a
``NotImplementedError`` traceback, and a common slip (:mod:`citylib._lessons.slips`)
prints its cause rather than asyncio's traceback::

    with sprint.hint_if_unwritten(parallel_fetch):
        result = await parallel_fetch()
        print(sprint.describe_result(result))

``citylib student SOLUTION LEARNER`` writes the learner's notebook from the
teacher's (``make student``). The stretch goal's chart is drawn by the views
(:func:`citylib._views.sprint.compare_timings`); this module only measures and prints.
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from citylib._core import clock, services, timeline
from citylib._core.race import RaceResult, Request, predict_makespan, speedup
from citylib._core.services import Service
from citylib._lessons import slips
from citylib._lessons.drives import DriveRecord
from citylib._lessons.judge import JudgeSettings, Verdict, judge
from citylib._lessons.sprint_contract import ANSWER_NAME, SOURCE_NAMES

__all__ = [
    "Source",
    "StretchTimings",
    "check",
    "default_sources",
    "describe_result",
    "describe_sources",
    "hint_if_unwritten",
    "stretch_timings",
]

#: The self-check's latencies, as a share of the grader's: a quick check for the learner.
_SELF_CHECK_SCALE = 0.35


@dataclass(frozen=True, eq=False)  # hashed by identity, as the judge's sources are
class Source:
    """A slow mock source: call it with no arguments and await a fresh dict.

    Attributes:
        service: The AI-City service it asks (its latency is in city seconds).
    """

    service: Service

    async def __call__(self) -> dict[str, Any]:
        """Ask the service and return its fresh payload."""
        return await services.call(self.service)

    def __repr__(self) -> str:
        return f"<source {self.service.label}, {self.service.latency:g} s>"


def default_sources() -> dict[str, Source]:
    """The Sprint's three slow sources: ☁️ weather (1 s), 🗺️ maps (2 s), 💬 chat (3 s).

    Returns:
        A new mapping name → zero-argument async callable returning a fresh dict.

    Example:
        >>> sorted(default_sources())
        ['chat', 'maps', 'weather']
    """
    return {name: Source(services.get_service(name)) for name in SOURCE_NAMES}


def describe_sources(sources: dict[str, Source] | None = None) -> str:
    """A short table of the sources and what one lane or the highway would take."""
    chosen = default_sources() if sources is None else sources
    latencies = [s.service.latency for s in chosen.values()]
    width = max(len(s.service.label) for s in chosen.values())
    lines = [
        f"{s.service.label.ljust(width)}  sources[{name!r}]  {s.service.latency:g} s"
        for name, s in chosen.items()
    ]
    lines.append(
        f"One lane, one after another: {predict_makespan('sync', latencies):g} s. "
        f"Async Highway, all at once: {predict_makespan('async', latencies):g} s."
    )
    return "\n".join(lines)


def _not_written_lines(name: str) -> list[str]:
    """What a learner reads while ``name`` is still the ``raise NotImplementedError()`` stub."""
    return [
        f"⏳ Not attempted yet: {name} still raises NotImplementedError.",
        f"   💡 Try: replace `raise NotImplementedError()` in the cell that defines {name} "
        "with your code, run that cell, then run this one again.",
    ]


@contextmanager
def hint_if_unwritten(fn: Callable[..., Any]) -> Iterator[None]:
    """Print a hint, not a traceback, while ``fn`` is unwritten or trips on a common slip.

    Inside the block, a ``NotImplementedError`` (what the learner's notebook's
    ``raise NotImplementedError()`` stub raises, and what the grader calls "not
    attempted") becomes a two-line hint, and a common slip (the sources handed to
    ``gather`` uncalled, ``asyncio.run()`` inside ``async def``...) prints its cause,
    the learner's line and the shape of the fix. Any other error shows in full, as it
    should: the traceback points to the learner's own line.

    Args:
        fn: The learner's function the block drives, named in the hint.

    Example (a notebook cell)::

        with sprint.hint_if_unwritten(parallel_fetch):
            result = await parallel_fetch()
            print(sprint.describe_result(result))
    """
    explained = False
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    except NotImplementedError:
        print("\n".join(_not_written_lines(getattr(fn, "__name__", "your function"))))
    except Exception as exc:
        found = slips.from_error(exc, fn)
        if found is None:
            raise
        explained = True
        slips.close_unstarted(exc)
        print("\n".join(found.lines()))
    finally:
        _warn_again(caught, explained)


def _warn_again(caught: list[warnings.WarningMessage], explained: bool) -> None:
    """Show the block's warnings as Python would have, but a "never awaited" one only
    when no slip explained it (the slip's message already says so, in words)."""
    for w in caught:
        if explained and "was never awaited" in str(w.message):
            continue
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def describe_result(result: Any, sources: Mapping[str, Any] | None = None) -> str:
    """What a test drive of ``parallel_fetch`` returned, in two lines, or its slip's cause.

    Args:
        result: What ``await parallel_fetch(sources)`` returned.
        sources: The sources it was given (``None``: the default ones).

    Example:
        >>> print(describe_result({"weather": {}, "maps": {}, "chat": {}, "total_latency": 3.0}))
        Merged: weather, maps, chat
        total_latency: 3.0 s
    """
    names = list(default_sources() if sources is None else sources)
    found = slips.from_result(result, names, ANSWER_NAME)
    if found is not None:
        _close_unawaited(result)
        return "\n".join(found.lines())
    merged = ", ".join(str(name) for name in result if name != "total_latency")
    return f"Merged: {merged}\ntotal_latency: {result['total_latency']:.1f} s"


def _close_unawaited(result: Any) -> None:
    """Close the never-awaited calls a slip returned: reported, not warned about later."""
    values = result.values() if isinstance(result, dict) else [result]
    for value in values:
        if inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == "CORO_CREATED":
            value.close()


def _verdict_lines(verdict: Verdict, subject: str) -> list[str]:
    """✅ for each check passed, then each mistake once, by its cause (``Diagnosis``).

    When the function never returned a dict, nothing else was really measured: only
    the mistake shows.
    """
    returned = all(c.passed for c in verdict.checks if c.id == "returns_dict")
    lines = [f"✅ {subject} {c.title}" for c in verdict.checks if c.passed and returned]
    for diagnosis in verdict.diagnoses:
        lines.extend(diagnosis.lines())
    return lines


def _to_fix(verdict: Verdict) -> str:
    """How many mistakes stand between the learner and the deliverable, in words."""
    mistakes = len(verdict.diagnoses)
    if mistakes <= 1:
        return "one mistake stands in the way, named above. Fix it"
    return f"{mistakes} mistakes stand in the way, named above. Fix the first"


def _needs_function(fn: object, name: str) -> str:
    """An empty string when ``fn`` can be judged, else a message for the learner."""
    if inspect.iscoroutine(fn):
        fn.close()  # never awaited on purpose: no warning
        return f"Pass the function itself, without parentheses: `await sprint.check({name})`."
    if not callable(fn):
        return f"Pass your function `{name}`, not {type(fn).__name__}."
    return ""


async def check(
    parallel_fetch: Callable[..., Any], *, on_drive: Callable[[DriveRecord], object] | None = None
) -> Verdict | None:
    """Self-check the deliverable and print each check, passed or failed, with a hint.

    Await it at the top level of a notebook cell: ``await sprint.check(parallel_fetch)``.
    The check brings its own instrumented sources (fresh payloads, seeded latencies
    about a third as long as the grader's) and drives the function twice; it trusts only what
    it measures.

    Args:
        parallel_fetch: The learner's ``async def parallel_fetch(sources=None)``.
        on_drive: Called with each drive's record (what the judge saw each call do).

    Returns:
        The verdict, or ``None`` when nothing could be driven.
    """
    print("🏁 Parallel Fetch Sprint: self-check, two drives with fresh sources")
    problem = _needs_function(parallel_fetch, "parallel_fetch")
    if problem:
        print(f"⚠️ {problem}")
        return None
    verdict = await judge(parallel_fetch, JudgeSettings(scale=_SELF_CHECK_SCALE), on_drive=on_drive)
    if verdict.status == "not_attempted":
        print("\n".join(_not_written_lines("parallel_fetch")))
        return verdict
    print("\n".join(_verdict_lines(verdict, "parallel_fetch")))
    total = len(verdict.checks)
    if verdict.passed:
        print(
            f"🎉 Deliverable complete: {total}/{total} checks passed. "
            "Popy unlocks the stretch goal for you!"
        )
    else:
        print(
            f"Deliverable: {verdict.score}/{total} checks passed; {_to_fix(verdict)}, run "
            "your parallel_fetch cell again, then this one."
        )
    return verdict


@dataclass
class _Timed:
    result: RaceResult
    elapsed: float  # city seconds, measured here
    reported: Any  # the function's own total_latency


def _one_lane_each(trips: Sequence[timeline.Trip]) -> list[timeline.Trip]:
    """Trips re-drawn as cars that all arrived at 0, each in the first free lane."""
    free_at: list[float] = []
    placed = []
    for t in sorted(trips, key=lambda t: t.start):
        lane = next((i for i, end in enumerate(free_at) if end <= t.start + 1e-9), None)
        if lane is None:
            lane = len(free_at)
            free_at.append(t.end)
        free_at[lane] = t.end
        placed.append(
            timeline.Trip(t.request, t.service, f"lane {lane + 1}", 0.0, t.start, t.end, t.status)
        )
    return placed


async def _timed_run(fn: Callable[..., Any], mode: str) -> _Timed:
    """Drive ``fn`` once over the default sources, recording every trip."""
    sources = default_sources()
    with timeline.recording(timeline.Timeline(name=mode)) as tl:
        start = time.perf_counter()
        merged = await fn(sources)
        elapsed = clock.to_city(time.perf_counter() - start)
    trips = _one_lane_each(tl.trips)
    lanes = len({t.lane for t in trips}) or 1
    requests = [Request(name, s.service) for name, s in sources.items()]
    latencies = [s.service.latency for s in sources.values()]
    result = RaceResult(
        mode,
        lanes,
        requests,
        timeline.Timeline(name=mode, trips=trips),
        predict_makespan(mode, latencies, lanes),
    )
    reported = merged.get("total_latency") if isinstance(merged, dict) else None
    return _Timed(result, elapsed, reported)


def _seconds(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.1f} s"
    return "—"


def _side_by_side(one_lane: _Timed, highway: _Timed) -> str:
    drives = [{t.request: t.duration for t in run.result.timeline} for run in (one_lane, highway)]
    rows: list[tuple[str, str, str]] = [("", "sequential", "async")]
    for r in one_lane.result.requests:
        rows.append(
            (
                f"{r.service.label} ({r.service.latency:g} s)",
                _seconds(drives[0].get(r.name)),
                _seconds(drives[1].get(r.name)),
            )
        )
    rows.append(("measured total", _seconds(one_lane.elapsed), _seconds(highway.elapsed)))
    rows.append(("your total_latency", _seconds(one_lane.reported), _seconds(highway.reported)))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a.ljust(width)}  {b:>10}  {c:>10}" for a, b, c in rows]
    lines.append(
        f"The Async Highway was {speedup(one_lane.elapsed, highway.elapsed):.1f}× faster: "
        "one lane adds the latencies up, "
        "many lanes wait only for the slowest."
    )
    return "\n".join(lines)


_STRETCH_TODO = (
    "⏳ Not attempted yet: write `async def sequential_fetch(sources=None) -> dict`, "
    "the one-lane twin of parallel_fetch, then run this cell again."
)


@dataclass(frozen=True)
class StretchTimings:
    """Both stretch-goal runs over the default sources, as races to draw side by side."""

    one_lane: RaceResult
    highway: RaceResult

    @property
    def results(self) -> list[RaceResult]:
        """The two runs, one lane first."""
        return [self.one_lane, self.highway]


async def stretch_timings(
    parallel_fetch: Callable[..., Any], sequential_fetch: Callable[..., Any] | None = None
) -> StretchTimings | None:
    """The stretch goal: side-by-side timing for sequential vs async, printed.

    Locked until ``parallel_fetch`` passes the self-check. Then ``sequential_fetch``
    (the learner's one-lane twin, same contract) is checked too, and both run over
    the default sources: a table of each source's time, the measured totals and the
    functions' own ``total_latency``.

    Args:
        parallel_fetch: The deliverable.
        sequential_fetch: The learner's ``async def sequential_fetch(sources=None)``.

    Returns:
        Both runs, or ``None`` while the stretch goal is locked or not yet passing.
    """
    quick = JudgeSettings(drives=1, scale=_SELF_CHECK_SCALE)
    problem = _needs_function(parallel_fetch, "parallel_fetch")
    if problem or not (await judge(parallel_fetch, quick)).passed:
        print(
            "🔒 Stretch goal locked. Complete the deliverable first, then unlock the stretch goal."
        )
        print("   💡 Try: `await sprint.check(parallel_fetch)` shows what is still missing.")
        return None
    print("🔓 Stretch goal unlocked: print side-by-side timing for sequential vs async.")
    if sequential_fetch is None or _needs_function(sequential_fetch, "sequential_fetch"):
        print(_STRETCH_TODO)
        return None
    stretch = await judge(sequential_fetch, quick, stretch=True)
    if stretch.status == "not_attempted":
        print(_STRETCH_TODO)
        return None
    if not stretch.passed:
        print("\n".join(_verdict_lines(stretch, "sequential_fetch")))
        print(f"Stretch: {_to_fix(stretch)} in sequential_fetch, then run this cell again.")
        return None
    print("✅ sequential_fetch passes every check: one lane, every answer, honest timing.")
    one_lane = await _timed_run(sequential_fetch, "sync")
    highway = await _timed_run(parallel_fetch, "async")
    print(_side_by_side(one_lane, highway))
    return StretchTimings(one_lane.result, highway.result)
