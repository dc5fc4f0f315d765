"""The drives: one function called with the judge's sources, each drive observed and judged.

Each drive's latencies come from the batch's seed; its record is built only from what
the :class:`~._session.Session` observed (the calls served and when, the hold its
watch measured, the returned value as data); the checks are the in-process judge's
(:func:`citylib._lessons.judge.verdict`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from citylib._lessons import judge as rules
from citylib._lessons.drives import answered_span
from citylib._lessons.sprint_contract import STRETCH_NAME, DriveOutcome, GradeStatus
from citylib.grading import _messages as m
from citylib.grading._session import DriveState, EndError, Session

__all__ = ["ANSWER_FILE", "STRETCH_FILE", "MissingError", "drives", "seconds"]

_perf = time.perf_counter

ANSWER_FILE = "<parallel-fetch-sprint cell>"
STRETCH_FILE = "<parallel-fetch-stretch cell>"


def seconds(value: object) -> float | None:
    """A returned ``total_latency`` as a finite float (``None``: not one, or too large)."""
    if type(value) not in (int, float):
        return None
    try:
        found = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
    except OverflowError:  # 10**400: a number no stopwatch gives
        return None
    return found if found == found and abs(found) != float("inf") else None


class MissingError(EndError):
    """The cell does not define the function driven."""

    def __init__(self, function: str) -> None:
        super().__init__("error", f"the answer cell does not define {function}")


def _record_of(d: DriveState, speed: float) -> rules.DriveRecord:
    """The drive's calls and returned value, for :func:`answered_span` (times filled later)."""
    done = d.done
    result = done.result if done is not None and done.outcome == "returned" else None
    return rules.DriveRecord(d.latencies, d.calls, 0.0, 0.0, d.block_limit, speed, result)


def _drive_report(d: DriveState, speed: float, outcome: DriveOutcome) -> m.DriveReport:
    def city(t: float | None) -> float | None:
        return None if t is None else round((t - d.started) * speed, 4)

    spans = []
    for name, made in d.calls.items():
        for c in made:
            spans.append(m.CallSpan(name, city(c.invoked) or 0.0, city(c.started), city(c.ended)))
    spans.sort(key=lambda s: s.invoked)
    reported = None
    if d.done is not None and isinstance(d.done.result, dict):
        reported = seconds(d.done.result.get("total_latency"))
    end = d.done_at if d.done_at else _perf()
    span = answered_span(_record_of(d, speed))
    return m.DriveReport(
        d.number, d.function, dict(d.latencies), spans, round((end - d.started) * speed, 4),
        reported, round(d.hold, 4), round(d.block_limit, 4), outcome,
        round(span * speed, 4) if span is not None else None,
        {"sampled": round(d.sampled_hold, 4), "echo": round(d.echo_hold, 4),
         "cpu": round(d.cpu_hold, 4)},
    )  # fmt: skip


def _where(job: m.Job, function: str, done: m.DriveDone | None) -> str:
    """The submission's line a drive raised at, named as the self-check names it."""
    if done is None or done.outcome != "raised" or done.line <= 0:
        return ""
    which, cell = ("stretch", job.stretch) if function == STRETCH_NAME else ("answer", job.answer)
    lines = cell.splitlines()
    place = f"line {done.line} of your {which} cell"
    return f"{place}: {lines[done.line - 1].strip()}" if done.line <= len(lines) else place


async def drives(
    s: Session, function: str, deadline: float, stretch: bool
) -> tuple[rules.Verdict | None, list[m.DriveReport], GradeStatus, str, int]:
    """Drive ``function``; its verdict (``None``: not judged), reports, status, error, line."""
    settings = s.settings
    if stretch:  # the bonus, at shorter latencies: one lane stands out all the same
        settings = dataclasses.replace(settings, scale=settings.scale * m.DEFAULTS.stretch_scale)
    records: list[rules.DriveRecord] = []
    reports: list[m.DriveReport] = []
    speed = s.job.speed
    for number in range(s.job.drives):
        lat = rules.latencies(settings, number)
        real = {n: v / speed for n, v in lat.items()}
        d = DriveState(
            number, function, lat, real, rules.block_limit(list(real.values()), settings, speed)
        )
        limit = rules.drive_limit(list(real.values()))
        threads_before = s.watch.threads_and_cpu() if s.watch else (0, 0.0)
        waits_before = s.watch.child_waited() if s.watch else 0.0
        s.drive = d
        d.sampled = s.watch is not None and s.watch.available
        d.started = _perf()
        s.send(m.StartDrive(number, function, list(lat)))
        watcher = asyncio.create_task(s.watch_drive(d))
        timed_out = False
        try:
            await s.reply(m.DriveDone, min(d.started + limit, deadline), "drive")
        except EndError as ended:
            if ended.status != "timeout":
                raise
            if _perf() >= deadline:
                raise EndError("timeout", f"still running after {s.job.timeout:g} s") from None
            timed_out = True
        # An echo sent while the loop was held is answered after the return: wait for it.
        settle = _perf() + min(2.0, max(0.0, deadline - _perf()))
        if s.echo_out is not None and not timed_out:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(s.echoed.wait(), max(0.0, settle - _perf()))
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        d.active = False
        s.finished.append(d)
        s.drive = None
        unwatched = ""
        waited = 0.0
        if s.watch is not None:
            waited = s.watch.child_waited() - waits_before
            threads, cpu = s.watch.threads_and_cpu()
            cpu_used = cpu - threads_before[1]
            elapsed = (d.done_at or _perf()) - d.started
            # A loop that computes holds itself: CPU well beyond what awaiting costs.
            if cpu_used > max(d.block_limit, 0.5 * elapsed):
                d.cpu_hold = cpu_used - 0.25 * elapsed
            if threads > 1 or s.watch.offspring():
                if not s.watch.available:
                    unwatched = (
                        "it started a thread or a process of its own, so the grader could "
                        "not watch its event loop"
                    )
                s.notes.append(f"drive {number + 1}: the child ran {threads} threads")
        done = d.done
        outcome: DriveOutcome = "timeout" if timed_out or done is None else done.outcome
        reports.append(_drive_report(d, speed, outcome))
        if done is not None and done.outcome == "missing":
            raise MissingError(function)
        if done is not None and done.outcome == "not_implemented":
            return None, reports, "not_attempted", "", 0
        result = done.result if done is not None and done.outcome == "returned" else None
        window = (d.done_at or _perf()) - d.started
        # Only the calls whose answers reached the returned value count: a call thrown
        # away ran in no lane the answer used.
        floor = answered_span(_record_of(d, speed))
        if floor is not None and d.idle_outside < 2 and s.watch is not None and s.watch.available:
            # The function's own stopwatch brackets its calls, and all it did besides
            # (it never waited idle outside them): at most the calls' span, the time the
            # sampler found it busy, the time it waited for a CPU, and this judge's lag in
            # noticing its first call. On a busy machine that is far tighter than from
            # the start of the drive to its result.
            tick = min(m.DEFAULTS.tick, d.block_limit / 5)
            window = min(window, floor + d.busy + waited + 2 * d.max_lag + 3 * tick)
        record = rules.DriveRecord(
            d.latencies, d.calls, window, d.hold, d.block_limit,
            speed, result, done.result_type if done else "NoneType",
            error=(f"{done.error}" if done and done.outcome == "raised" else ""),
            timed_out=timed_out, unwatched=unwatched, floor=floor,
            where=_where(s.job, function, done),
        )  # fmt: skip
        if timed_out:
            record.error = f"did not finish within {limit * speed:.1f} s"
        records.append(record)
        if timed_out:
            break
    v = rules.verdict(records, settings, stretch=stretch)
    line = next((d.done.line for d in s.finished[-len(records) :] if d.done and d.done.line), 0)
    status: GradeStatus = "error"
    if v.status in ("ok", "timeout"):
        status = "ok" if v.status == "ok" else "timeout"
    return v, reports, status, v.error, line
