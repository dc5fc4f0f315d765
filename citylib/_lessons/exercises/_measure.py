"""What the exercises' judges measure, shared by every notebook's module.

Each judge drives the learner's answer against AI City's services on a fresh
timeline and measures: which services were called, how often and when (city
seconds), how long the loop went without a heartbeat, what came back. These helpers
turn such measurements into :class:`~citylib._lessons.practice.Check`\\ s.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from citylib._core import services
from citylib._core.timeline import Timeline
from citylib._core.watch import held_threshold
from citylib._lessons.practice import Check, GiveUpError

__all__ = [
    "SLACK",
    "calls_once",
    "held",
    "keys_of",
    "latency",
    "payload_of",
    "run_answer",
    "size_of",
    "together",
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


def together(tl: Timeline, names: Sequence[str], label: str = "the cars drove at once") -> Check:
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
    """Call the learner's function and await what it returns (if it is awaitable)."""
    if not callable(answer):
        raise GiveUpError(f"expected a function, got {type(answer).__name__} {answer!r:.60}")
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def keys_of(body: Any) -> str:
    return str(sorted(body)) if isinstance(body, dict) else f"{body!r:.60}"


def size_of(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r:.40}"


def payload_of(value: Any, name: str) -> bool:
    return isinstance(value, dict) and value.get("service") == name
