"""What the exercises' judges measure, shared by every notebook's module.

Each judge drives the learner's answer against AI City's services on a fresh
timeline and measures: which services were called, how often and when (city
seconds), how long the loop went without a heartbeat, what came back. These helpers
turn such measurements into :class:`~citylib._lessons.practice.Check`\\ s.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from citylib._core import services
from citylib._core.timeline import Timeline
from citylib._core.watch import held_threshold
from citylib._lessons import practice_slips
from citylib._lessons.practice import Check, GiveUpError, Slip, SlipError

__all__ = [
    "SLACK",
    "blocked",
    "blocking_line",
    "calls_once",
    "drove",
    "held",
    "keys_of",
    "latency",
    "payload_of",
    "run_answer",
    "size_of",
    "stop_if_not_awaited",
    "together",
    "took_turns",
]

# Measured times carry real-world overhead (threads starting, a loaded machine at a
# fast clock); a makespan within this many city seconds of its ideal counts as it.
SLACK = 0.6


def latency(name: str) -> float:
    return services.get_service(name).latency


def calls_once(tl: Timeline, names: Sequence[str]) -> Check:
    """Each of ``names`` called exactly once (and nothing else)."""
    counts = {n: 0 for n in names}
    others = []
    for t in tl:
        if t.service in counts:
            counts[t.service] += 1
        else:
            others.append(t.service)
    ok = all(c == 1 for c in counts.values()) and not others
    measured = ", ".join(f"{n} ×{c}" for n, c in counts.items())
    if others:
        measured += "; also " + ", ".join(sorted(set(others)))
    missing = [n for n, c in counts.items() if c == 0]
    twice = [n for n, c in counts.items() if c > 1]
    if missing:
        cause = f"{', '.join(missing)} never set off: every car must be called (and awaited)"
    elif twice:
        cause = f"{', '.join(twice)} drove more than once: call each service once"
    elif others:
        cause = "only the services the exercise names should be called"
    else:
        cause = ""
    return Check(ok, "each service called once", measured, cause)


TOGETHER = "the cars drove at once"


def together(tl: Timeline, names: Sequence[str], label: str = TOGETHER) -> Check:
    """The trips overlapped: the makespan is the slowest trip, not the sum."""
    slowest = max(latency(n) for n in names)
    total = sum(latency(n) for n in names)
    ok = tl.makespan <= slowest + SLACK
    measured = (
        f"done in {tl.makespan:.1f} s (one after another: {total:g} s; together: {slowest:g} s)"
    )
    cause = ""
    if not ok:
        cause = (
            "the cars drove one after another: each await waited for its car to arrive "
            "before the next one even started, so the times added up"
        )
    return Check(ok, label, measured, cause)


def held(beats_gap: float) -> Check:
    # The watcher's stalls are at least the course's threshold long: any is a hold.
    ok = beats_gap == 0
    measured = (
        f"the event loop stood still for {beats_gap:.2f} s of real time"
        if beats_gap
        else f"the event loop was never held ({held_threshold():g} s of real time or more)"
    )
    cause = ""
    if not ok:
        cause = (
            "something held the event loop: a blocking call (time.sleep, call_blocking, a "
            "long calculation) inside async code stops every lane, the heartbeat included"
        )
    return Check(ok, "the event loop stayed free", measured, cause)


async def run_answer(answer: Any, *args: Any) -> Any:
    """Call the learner's function and await what it returns (if it is awaitable).

    What an ``async def`` gives back is awaited once, as its caller would. Once the
    measuring blocks are left, :func:`stop_if_not_awaited` reads what it returned
    (not inside them: it collects garbage, which would show as a held loop).
    """
    if not callable(answer):
        raise GiveUpError(f"expected a function, got {type(answer).__name__} {answer!r:.60}")
    result = answer(*args)
    if inspect.isawaitable(result) and (
        inspect.iscoroutinefunction(inspect.unwrap(answer)) or inspect.iscoroutine(result)
    ):
        result = await result
    return result


def stop_if_not_awaited(result: Any) -> None:
    """Raise the slip for what ``result`` holds (or the answer dropped) never awaited.

    A coroutine made and never awaited (returned, or thrown away) is ``not_awaited``;
    gather's future handed back without ``await`` is ``gather_not_awaited``: either
    stops the judging, since nothing after it happened as asked.
    """
    seen = practice_slips.watching()
    if seen is not None:
        seen.note(result)
        if seen.flush():
            raise SlipError(practice_slips.not_awaited(seen.found))
    if isinstance(result, asyncio.Future):
        result.cancel()  # its trips are the answer's to wait for, not the check's
        result.add_done_callback(_retrieved)  # named here: asyncio need not log it
        raise SlipError(
            Slip(
                "gather_not_awaited",
                "your function returned gather's future, not the answers: gather hands "
                "back a promise of the answers, and only await turns it into them",
                "put await in front of the gather, and return what it gives you",
                "asyncio.gather sends every call off at once and hands you a future: a "
                "promise of the answers, not the answers. Only await waits for the "
                "promise and gives you the list.",
                f"returned {type(result).__name__}",
            )
        )


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def blocking_line(answer: Any) -> str:
    """The learner's line that blocks: a time.sleep or call_blocking in ``answer``, or the
    line calling one of the learner's functions that does (``""``: not found)."""
    blockers = ("time.sleep(", "call_blocking(", "_blocking(")
    found = practice_slips.line_of(answer, *blockers)
    if found:
        return found
    func = inspect.unwrap(answer) if callable(answer) else None
    names = getattr(getattr(func, "__code__", None), "co_names", ())
    space = getattr(func, "__globals__", {})
    for name in names:
        helper = space.get(name)
        plain = inspect.isfunction(helper) and not inspect.iscoroutinefunction(helper)
        if plain and practice_slips.line_of(helper, *blockers):
            return practice_slips.line_of(answer, f"{name}(")
    return ""


def blocked(answer: Any, gap: float) -> Slip:
    """The slip for a held loop: a blocking wait inside async code."""
    return Slip(
        "blocked",
        "something held the event loop: a blocking wait (time.sleep, call_blocking, a long "
        "calculation) inside an async def stops every lane until it ends, so nobody else "
        "could drive meanwhile",
        "wait with await instead: await asyncio.sleep(...) for a pause, await call(...) for "
        "a service; or hand a blocking function to asyncio.to_thread and await that",
        "The event loop is the one driver that takes turns between all the async code. "
        "await hands the wheel back while you wait; time.sleep (and every *_blocking "
        "call) keeps the wheel and waits, so every other lane stops with you.",
        f"the loop stood still for {gap:.2f} s of real time",
        blocking_line(answer),
    )


def took_turns(answer: Any, total: float, slowest: float, took: float) -> Slip:
    """The slip for calls awaited one by one when they could drive at once."""
    return Slip(
        "one_after_another",
        "the cars drove one after another: each await waited for its car to arrive before "
        "the next call even started, so the times added up",
        "make every call first, then wait for them all with one await on asyncio.gather",
        "An await on its own line means: stop here until this car arrives. Such lines, "
        "one after another, are a one-lane road. gather sends all the calls off together "
        "and waits once, for the slowest.",
        f"done in {took:.1f} s: one after another takes {total:g} s, together {slowest:g} s",
        practice_slips.line_of(answer, "await "),
    )


def drove(
    answer: Any,
    tl: Timeline,
    gap: float,
    names: Sequence[str],
    label: str = "the cars drove at once",
) -> list[Check]:
    """Every car called once, driving together, the loop free: checked in that order.

    Checks about how the cars drove count only when they all drove: an answer whose
    cars never set off gets the ❌ that says so, and no ✅ for a road nobody used.
    """
    calls = calls_once(tl, names)
    if not calls.ok:
        return [calls]
    turn, hold = together(tl, names, label), held(gap)
    if not hold.ok:
        slip = blocked(answer, gap)
        return [calls, turn if turn.ok else replace(turn, slip=slip), replace(hold, slip=slip)]
    if not turn.ok:
        total, slowest = sum(latency(n) for n in names), max(latency(n) for n in names)
        turn = replace(turn, slip=took_turns(answer, total, slowest, tl.makespan))
    return [calls, turn, hold]


def keys_of(body: Any) -> str:
    return str(sorted(body)) if isinstance(body, dict) else f"{body!r:.60}"


def size_of(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r:.40}"


def payload_of(value: Any, name: str) -> bool:
    return isinstance(value, dict) and value.get("service") == name
