"""Judging a ``parallel_fetch``: instrumented sources, a heartbeat, and the checks.

A judge never trusts what a function says about itself. It hands the function
its own sources, each of which notes when it was called, when it started and
ended, and which fresh payload it gave out, while a heartbeat task notes whether
the event loop ever stopped. Each drive uses new, seeded latencies (the second
drive's are far longer than the first's), so a hard-coded ``total_latency``
cannot agree with both.

The checks read only :class:`DriveRecord`\\ s, plain observations of a drive
(:mod:`citylib._lessons.drives`). The in-process :func:`judge` makes them here for the
learner's self-check (:func:`citylib._lessons.sprint.check`); the teacher's grader
makes them in its own process, outside the sandbox, from what a submission's child
did over a socket (``citylib.grading._judge``), and both hand them to :func:`verdict`:
the same checks, the same words. A verdict names each mistake once, by its cause
(:mod:`citylib._lessons.slips`), however many checks it fails.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citylib._core import clock
from citylib._core.watch import Heartbeat, held_threshold
from citylib._lessons import slips
from citylib._lessons.drives import CallRecord, DriveRecord, used_calls
from citylib._lessons.slips import Diagnosis
from citylib._lessons.sprint_contract import ANSWER_NAME, SOURCE_NAMES, STRETCH_NAME, CheckId

__all__ = [
    "CHECKS",
    "LATENCY_RANGES",
    "STRETCH_CHECKS",
    "CallRecord",
    "Check",
    "CheckResult",
    "Diagnosis",
    "DriveRecord",
    "JudgeSettings",
    "Verdict",
    "block_limit",
    "drive_limit",
    "judge",
    "latencies",
    "verdict",
]

# Taken before any learner code runs, so a submission that rebinds these names
# in its own modules does not change what the judge measures.
_perf_counter = time.perf_counter
_sleep = asyncio.sleep


@dataclass(frozen=True)
class Check:
    """One thing the judge verifies.

    Attributes:
        id: Short key, used as a CSV column.
        title: What passing means, in words a beginner reads.
        hint: The shape of the fix when it fails (never a line of the solution); the
            cause comes from the verdict's :attr:`Verdict.diagnoses`.
    """

    id: CheckId
    title: str
    hint: str


_RETURNS = Check(
    "returns_dict",
    "finishes and returns a dict",
    "End the function by returning one dict; an error on the way says the line it stopped at.",
)
_CALLS = Check(
    "calls_once",
    "calls every source exactly once",
    "Fetch from the sources you are given (not new ones): call each one once and await "
    "every call, all together with asyncio.gather().",
)
_PAYLOADS = Check(
    "payloads",
    "merges every answer unchanged under its source's name",
    "Put each answer in the result just as it came back, under its source's name.",
)
_OVERLAP = Check(
    "overlap",
    "runs the calls at the same time (every lane open at once)",
    "Start every call before you await any of them: one await on asyncio.gather (or an "
    "asyncio.TaskGroup) gives each call a lane of its own.",
)
_ONE_LANE = Check(
    "one_lane",
    "runs the calls one after another (one lane)",
    "Await each call before you make the next one, in a plain for loop over the sources.",
)
_LATENCY = Check(
    "total_latency",
    "reports a total_latency that agrees with the measured time",
    "Read clock.now() before the first call and again after the last answer, and store "
    "the difference under 'total_latency'.",
)
_NON_BLOCKING = Check(
    "non_blocking",
    "never blocks the event loop",
    "Never time.sleep() (or another slow blocking call) in async code; wait with await, "
    "for example await asyncio.sleep(...).",
)

#: The deliverable's checks, in the order they are reported.
CHECKS: tuple[Check, ...] = (_RETURNS, _CALLS, _PAYLOADS, _OVERLAP, _LATENCY, _NON_BLOCKING)

#: The stretch goal's checks: the same, but the calls must take one lane.
STRETCH_CHECKS: tuple[Check, ...] = (
    _RETURNS, _CALLS, _PAYLOADS, _ONE_LANE, _LATENCY, _NON_BLOCKING,
)  # fmt: skip


@dataclass(frozen=True)
class JudgeSettings:
    """How a judge drives a function.

    Attributes:
        seed: Seeds the latencies: the same seed, the same drives.
        drives: How many times the function is called (with fresh sources each time).
        scale: Multiplies every latency (the self-check uses shorter ones).
        min_block: Real seconds of heartbeat silence that count as a blocked loop,
            at the least (the course's rule, :func:`~citylib._core.watch.held_threshold`,
            is never under it at the default).
        tolerance: How far ``total_latency`` may fall short of the measured time,
            as a fraction of it (it can never be longer than the judge's stopwatch).
    """

    seed: int = 2024
    drives: int = 2
    scale: float = 1.0
    min_block: float = 0.05
    tolerance: float = 0.15


#: City-second ranges the latencies are drawn from, one per drive in turn. The
#: second drive's makespan is at least 1.5 times the first's, so one constant
#: cannot agree with both within the tolerance.
LATENCY_RANGES: tuple[tuple[float, float], ...] = ((0.8, 1.6), (2.4, 3.6))


@dataclass(frozen=True)
class CheckResult:
    """How one check went.

    Attributes:
        id: The check's :attr:`Check.id`.
        title: The check's title.
        passed: Whether it held on every drive.
        detail: What went wrong, measured (empty when it passed).
        hint: What to try (empty when it passed).
    """

    id: CheckId
    title: str
    passed: bool
    detail: str = ""
    hint: str = ""


@dataclass
class Verdict:
    """Everything a judge found out about one function.

    Attributes:
        status: ``ok`` (judged), ``not_attempted`` (still raises
            ``NotImplementedError``), ``error`` (raised on every drive) or
            ``timeout`` (a drive never finished).
        checks: One result per check, in order.
        error: The exception the function raised, if any, as ``Type: message``.
        drives: How many drives ran.
        diagnoses: Each mistake once, by its cause: together they explain every
            failed check (one slip that fails five checks is one diagnosis).
    """

    status: str
    checks: list[CheckResult] = field(default_factory=list)
    error: str = ""
    drives: int = 0
    diagnoses: list[Diagnosis] = field(default_factory=list)

    @property
    def score(self) -> int:
        """How many checks passed."""
        return sum(c.passed for c in self.checks)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return self.status == "ok" and bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "status": self.status,
            "error": self.error,
            "drives": self.drives,
            "checks": [vars(c) for c in self.checks],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Rebuild a verdict from :meth:`to_dict`'s output."""
        return cls(
            status=str(data["status"]),
            checks=[CheckResult(**c) for c in data.get("checks", [])],
            error=str(data.get("error", "")),
            drives=int(data.get("drives", 0)),
            diagnoses=[Diagnosis.from_dict(d) for d in data.get("diagnoses", [])],
        )


class _Source:
    """A zero-argument async callable that records how it was used."""

    def __init__(self, name: str, latency: float, drive: int, calls: dict[str, list[CallRecord]]):
        self.name = name
        self.latency = latency  # city seconds
        self._drive = drive
        self._calls = calls

    def __call__(self) -> Awaitable[dict[str, Any]]:
        # Counted when called, timed when awaited: a call that is never awaited
        # shows up as "called but never awaited".
        record = CallRecord(invoked=_perf_counter())
        self._calls.setdefault(self.name, []).append(record)
        coroutine = self._answer(record)
        # Named like the learner's own call, so their lanes read sources['maps']().
        coroutine.__qualname__ = f"sources[{self.name!r}]()"  # type: ignore[attr-defined]
        record.coroutine = coroutine
        return coroutine

    async def _answer(self, record: CallRecord) -> dict[str, Any]:
        record.started = _perf_counter()
        await _sleep(clock.to_real(self.latency))
        payload = {
            "source": self.name,
            "drive": self._drive,
            "token": secrets.token_hex(8),  # fresh and unguessable
        }
        record.payload = copy.deepcopy(payload)
        record.ended = _perf_counter()
        return payload

    def __repr__(self) -> str:
        return f"<judge's source {self.name!r}>"


def latencies(settings: JudgeSettings, drive: int) -> dict[str, float]:
    """The seeded latencies of one drive, city seconds, in the mapping's (shuffled) order."""
    low, high = LATENCY_RANGES[drive % len(LATENCY_RANGES)]
    rng = random.Random(f"{settings.seed}:{drive}")
    names = list(SOURCE_NAMES)
    rng.shuffle(names)  # the function must not depend on the order of the mapping
    return {n: round(rng.uniform(low, high) * settings.scale, 3) for n in names}


def block_limit(real: list[float], settings: JudgeSettings, speed: float | None = None) -> float:
    """Real seconds of hold that count as a blocked loop: the course's one rule.

    :func:`~citylib._core.watch.held_threshold` at the city clock's ``speed`` (default
    the clock's), as the practice checks and the lanes charts ask it, so the Sprint's
    self-check, the grader and a chart of the same answer agree; ``settings.min_block``
    may raise it. ``real`` (the drive's latencies) no longer moves it: a limit of half
    the shortest call let a 0.3 s hold through at speed 1 while its lanes showed a stall.
    """
    return max(settings.min_block, held_threshold(speed))


def drive_limit(real: list[float]) -> float:
    """Real seconds a drive may take: generous (one lane needs the sum), but a hang ends."""
    return 4 * sum(real) + 1.0


async def _drive(
    fn: Callable[..., Any], settings: JudgeSettings, drive: int, label: str = ANSWER_NAME
) -> DriveRecord:
    lat = latencies(settings, drive)
    calls: dict[str, list[CallRecord]] = {}
    sources = {n: _Source(n, v, drive, calls) for n, v in lat.items()}
    real = [clock.to_real(v) for v in lat.values()]
    limit = drive_limit(real)
    outcome = DriveRecord(lat, calls, 0.0, 0.0, block_limit(real, settings), clock.speed())
    heart = Heartbeat(min(0.01, outcome.block_limit / 5)).start()
    try:
        start = _perf_counter()
        try:
            # Its own task on every Python (3.12's wait_for no longer makes one), named
            # so a recording of the drive reads "parallel_fetch, drive 1".
            run = asyncio.get_running_loop().create_task(
                _call(fn, sources), name=f"{label}, drive {drive + 1}"
            )
            outcome.result = await asyncio.wait_for(run, limit)
            outcome.result_type = type(outcome.result).__name__
        except NotImplementedError:
            outcome.not_implemented = True
        except TimeoutError as exc:
            if _perf_counter() - start >= limit:
                outcome.timed_out = True
                outcome.error = f"did not finish within {clock.to_city(limit):.1f} s"
            else:
                outcome.error = slips.describe_error(exc)
        except (Exception, SystemExit) as exc:  # sys.exit() in an answer is its own error
            outcome.error = slips.describe_error(exc)
            outcome.where = slips.where_raised(exc)
            slips.close_unstarted(exc)  # asyncio.run(main()) left main unstarted: no warning
        outcome.elapsed = _perf_counter() - start
        # Let the heartbeat wake once more: a block just before the return shows up.
        await _sleep(2 * heart.interval)
    finally:
        await heart.stop()
    outcome.max_gap = heart.longest_hold()
    for made in calls.values():
        for record in made:
            if record.started is None and record.coroutine is not None:
                record.coroutine.close()  # never awaited: reported, not warned about
    return outcome


async def _call(fn: Callable[..., Any], sources: dict[str, _Source]) -> Any:
    result = fn(sources)
    if inspect.isawaitable(result):
        result = await result
    return result


def _fmt(city_seconds: float) -> str:
    return f"{city_seconds:.1f} s"


# Each per-drive check returns "" when it held, else what went wrong.


def _check_returns(d: DriveRecord) -> str:
    if d.error:
        return f"it raised {d.error}" if not d.timed_out else d.error
    if not isinstance(d.result, dict):
        return f"it returned {d.result_type}, not a dict"
    return ""


def _check_calls(d: DriveRecord) -> str:
    problems = []
    used = used_calls(d)
    for name in d.latencies:
        made = d.calls.get(name, [])
        awaited = [c for c in made if c.started is not None]
        if not made:
            problems.append(f"{name} was never called")
        elif not awaited:
            problems.append(f"{name} was called but never awaited")
        elif len(made) > 1:
            problems.append(f"{name} was called {len(made)} times")
        elif not used.get(name):
            problems.append(f"{name}'s answer never reached the returned value")
    return "; ".join(problems)


def _check_payloads(d: DriveRecord) -> str:
    if not isinstance(d.result, dict):
        return "there was no merged dict to look in"
    problems = []
    for name in d.latencies:
        given = [c.payload for c in d.calls.get(name, []) if c.payload is not None]
        if name not in d.result:
            problems.append(f"{name!r} is missing")
        elif not given or not _among(d.result[name], given):
            problems.append(f"{name!r} is not the answer its source gave")
    return "; ".join(problems)


def _among(value: Any, given: list[dict[str, Any]]) -> bool:
    try:
        return any(value == g for g in given)
    except Exception:  # a learner's object may compare badly; then it is not the payload
        return False


def _intervals(d: DriveRecord) -> list[tuple[float, float]]:
    """Each source's first call whose answer reached the returned value, as (start, end):
    a call whose answer was thrown away ran in no lane that counts, and extra calls are
    another check's."""
    spans = []
    for made in used_calls(d).values():
        first = next((c for c in made if c.started is not None), None)
        if first is not None and first.started is not None:
            spans.append((first.started, first.ended if first.ended is not None else math.inf))
    return spans


def _check_overlap(d: DriveRecord) -> str:
    spans = _intervals(d)
    if len(spans) < 2:
        return "fewer than two answers reached the returned value"
    if max(s for s, _ in spans) < min(e for _, e in spans):
        return ""
    slowest = max(d.latencies.values())
    return (
        f"the calls took turns: {_fmt(d.elapsed * d.speed)} in all, "
        f"when the slowest alone takes {_fmt(slowest)}"
    )


def _check_one_lane(d: DriveRecord) -> str:
    spans = sorted(_intervals(d))
    if len(spans) < 2:
        return "fewer than two answers reached the returned value"
    if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
        return "some calls ran at the same time; a one-lane fetch awaits each before the next"
    return ""


def _check_latency(d: DriveRecord, settings: JudgeSettings) -> str:
    if not isinstance(d.result, dict):
        return "there was no merged dict to look in"
    if "total_latency" not in d.result:
        return "the result has no 'total_latency'"
    value = _seconds(d.result["total_latency"])
    if value is None:
        return f"total_latency is {_shown(d.result['total_latency'])}, not a number of seconds"
    # Accept real seconds (time.perf_counter) or city seconds (citylib._core.clock.now).
    # A function times itself inside the judge's stopwatch, so nothing it measures is
    # longer than elapsed: the tolerance is below only. Above it, a drive that a busy
    # machine made late would widen the window enough to take a number written in.
    slack = 0.02
    city = d.elapsed * d.speed
    floor = d.elapsed if d.floor is None else min(d.floor, d.elapsed)
    for unit in (1.0, d.speed):  # real seconds, then city seconds
        low, high = floor * unit, d.elapsed * unit
        if low * (1 - settings.tolerance) - slack * unit <= value <= high + slack * unit:
            return ""
    took = f"{city:.2f} s"
    if d.speed != 1:  # the grader's clock runs fast: give the real time as well
        took = f"{took} on the city clock ({d.elapsed:.2f} s of real time)"
    return f"total_latency says {value:.2f} but the drive took {took}"


def _seconds(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (not a number, or beyond a float's range)."""
    if type(value) not in (int, float):
        return None
    try:
        seconds = float(value)  # an int of 400 digits overflows
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _shown(value: Any) -> str:
    """A short, safe description of a returned value (never the learner's ``repr``)."""
    if type(value) is int:
        digits = value.bit_length() * 0.30103
        return f"an int of about {digits:,.0f} digits" if digits > 30 else str(value)
    if type(value) in (float, bool) or value is None:
        return repr(value)
    if type(value) is str:
        return repr(value[:40])
    if type(value) is dict and set(value) == {"$object"} and type(value["$object"]) is str:
        return f"an {value['$object'][:60]}" if value["$object"].startswith("int") else "an object"
    return f"a {type(value).__name__}"


def _same_latency_every_drive(drives: list[DriveRecord], details: list[str]) -> list[str]:
    """Fail a ``total_latency`` that is the same number on every drive.

    The drives' latencies differ (:data:`LATENCY_RANGES`), so no measurement gives one
    number for all of them; but on a busy machine a drive that ran late can stretch
    its window far enough to take a number written in. Only the last drive fails:
    the others' details stay as their own windows judged them.
    """
    repeated = slips.repeated_latency(drives)
    makespans = {max(d.latencies.values(), default=0.0) for d in drives}
    if repeated is None or len(makespans) < 2 or any(details):
        return details
    took = " and ".join(f"{d.elapsed * d.speed:.2f} s" for d in drives)
    last = f"total_latency is {repeated:.2f} on every drive, though they took {took}"
    return [*details[:-1], last]


def _check_blocking(d: DriveRecord) -> str:
    if d.unwatched:
        return d.unwatched
    if d.max_gap <= d.block_limit:
        return ""
    # Real seconds: what blocks a loop (time.sleep, a busy loop) runs on the real clock.
    return f"the event loop stood still for {d.max_gap:.2f} s of real time: something blocked it"


async def judge(
    fn: Callable[..., Any],
    settings: JudgeSettings | None = None,
    *,
    stretch: bool = False,
    on_drive: Callable[[DriveRecord], object] | None = None,
) -> Verdict:
    """Drive ``fn`` with fresh instrumented sources and check what it did.

    Args:
        fn: The learner's ``parallel_fetch`` (or, with ``stretch``, ``sequential_fetch``).
        settings: Seed, number of drives, latency scale and tolerances.
        stretch: Judge a one-lane ``sequential_fetch`` instead: the calls must
            *not* overlap.
        on_drive: Called with each drive's record as it ends (the self-check draws
            each source call from it).

    Returns:
        The :class:`Verdict`. A function that still raises ``NotImplementedError``
        gets status ``not_attempted`` and no checks.
    """
    settings = settings or JudgeSettings()
    if not callable(fn):
        return Verdict("error", error=f"expected a function, got {type(fn).__name__}")
    drives: list[DriveRecord] = []
    for number in range(settings.drives):
        drive = await _drive(fn, settings, number, STRETCH_NAME if stretch else ANSWER_NAME)
        if on_drive is not None:
            on_drive(drive)
        if drive.not_implemented:
            return Verdict("not_attempted", drives=number + 1)
        drives.append(drive)
        if drive.timed_out:
            break  # another hang would only cost more time
    return verdict(drives, settings, stretch=stretch)


def verdict(
    drives: list[DriveRecord], settings: JudgeSettings, *, stretch: bool = False
) -> Verdict:
    """Check what the drives observed; the one place a :class:`Verdict` is made.

    Args:
        drives: Every drive that ran, in order (a drive that raised
            ``NotImplementedError`` ends judging before this).
        settings: The tolerances.
        stretch: Judge the one-lane stretch goal instead.
    """
    checks = STRETCH_CHECKS if stretch else CHECKS
    rules: dict[str, Callable[[DriveRecord], str]] = {
        "returns_dict": _check_returns,
        "calls_once": _check_calls,
        "payloads": _check_payloads,
        "overlap": _check_overlap,
        "one_lane": _check_one_lane,
        "total_latency": lambda d: _check_latency(d, settings),
        "non_blocking": _check_blocking,
    }
    results = []
    problems: list[dict[str, str]] = [{} for _ in drives]  # each drive's failed checks
    for check in checks:
        details = [rules[check.id](d) for d in drives]
        if check.id == "total_latency":
            details = _same_latency_every_drive(drives, details)
        for failed, detail in zip(problems, details, strict=True):
            if detail:
                failed[check.id] = detail
        problem = next((p for p in details if p), "")
        results.append(
            CheckResult(check.id, check.title, not problem, problem, check.hint if problem else "")
        )
    errors = [d.error for d in drives if d.error]
    if any(d.timed_out for d in drives):
        status = "timeout"
    elif len(errors) == len(drives):
        status = "error"
    else:
        status = "ok"
    subject = STRETCH_NAME if stretch else ANSWER_NAME
    hints: dict[str, str] = {c.id: c.hint for c in checks}
    diagnoses = slips.diagnose(drives, problems, hints, subject)
    return Verdict(status, results, errors[0] if errors else "", len(drives), diagnoses)
