"""What a judge observed in one drive of a learner's function: plain records.

Both judges make them: the in-process one for the self-check
(:mod:`citylib._lessons.judge`) and the grader's, outside the sandbox
(``citylib.grading._judge``). The checks (:func:`citylib._lessons.judge.verdict`) and
the diagnosis of a slip (:mod:`citylib._lessons.slips`) read nothing else, so the
self-check and the grader say the same things.

A call *reached the returned value* when the fresh token the judge put in its answer
is in what the function returned (:func:`used_calls`): overlap, calls-once
and total_latency are judged over those calls only. A call whose answer was thrown
away still counts as a call, but earns nothing.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRecord", "DriveRecord", "answered_span", "returned_strings", "used_calls"]


@dataclass
class CallRecord:
    """One call of a source, as the judge saw it (real seconds on the judge's clock).

    Attributes:
        invoked: When the source was called.
        started: When its coroutine was first awaited (``None``: never).
        ended: When its answer was given (``None``: never).
        payload: The answer given.
    """

    invoked: float
    started: float | None = None
    ended: float | None = None
    payload: dict[str, Any] | None = None
    coroutine: Coroutine[Any, Any, dict[str, Any]] | None = field(default=None, repr=False)


@dataclass
class DriveRecord:
    """What one call of the function did, as the judge observed it.

    Attributes:
        latencies: Each source's latency, city seconds.
        calls: Every call of each source, in order.
        elapsed: Real seconds on the judge's own stopwatch.
        max_gap: Real seconds the loop was held at the longest.
        block_limit: Real seconds of hold that count as blocking.
        speed: The city clock's speed where the function ran.
        result: What it returned (as data, when it ran in another process).
        result_type: The returned value's type name.
        error: ``Type: message`` of what it raised.
        not_implemented: It raised ``NotImplementedError``.
        timed_out: It did not finish within the drive's limit.
        unwatched: Why the loop could not be watched (``""``: it was).
        floor: Real seconds from the first call to the last answer, when the judge's
            stopwatch cannot bracket the function tightly (it ran in another
            process): a ``total_latency`` between this and :attr:`elapsed` agrees.
        where: The learner's line it raised at, such as ``line 6 of your cell:
            answers = ...`` (``""``: not known, or it did not raise).
    """

    latencies: dict[str, float]
    calls: dict[str, list[CallRecord]]
    elapsed: float
    max_gap: float
    block_limit: float
    speed: float = 1.0
    result: Any = None
    result_type: str = "NoneType"
    error: str = ""
    not_implemented: bool = False
    timed_out: bool = False
    unwatched: str = ""
    floor: float | None = None
    where: str = ""


_MOST_STRINGS = 10_000  # a returned value is walked this far, no further


def returned_strings(result: Any) -> set[str]:
    """Every string in a returned value: keys and values of dicts, items of lists and
    tuples, at any depth. Subclasses are read through the base type's own methods, so
    nothing of the learner's runs here (an ``OrderedDict`` is read as the dict it is)."""
    found: set[str] = set()
    todo = [result]
    seen = 0
    while todo and seen < _MOST_STRINGS:
        value = todo.pop()
        seen += 1
        kind = type(value)
        if issubclass(kind, str):
            found.add(str.__str__(value))
        elif issubclass(kind, dict):
            for key, item in dict.items(value):
                todo.extend((key, item))
        elif issubclass(kind, (list, tuple)):
            todo.extend(list.__iter__(value) if issubclass(kind, list) else tuple.__iter__(value))
    return found


def used_calls(d: DriveRecord) -> dict[str, list[CallRecord]]:
    """Each source's calls whose answer reached the returned value: those whose fresh
    token is in the returned dict's entry for that source, or, when none is, those
    whose token is anywhere in what it returned (answers merged under the wrong names,
    or returned as a list, still reached it). An answer kept aside while the entry
    holds another call's ran in no lane the merge used."""
    everywhere = returned_strings(d.result)
    result = dict(dict.items(d.result)) if issubclass(type(d.result), dict) else {}
    used = {}
    for name, made in d.calls.items():
        tokens = [c.payload.get("token") if c.payload is not None else None for c in made]
        entry = returned_strings(result[name]) if name in result else set()
        own = [c for c, t in zip(made, tokens, strict=True) if type(t) is str and t in entry]
        used[name] = own or [
            c for c, t in zip(made, tokens, strict=True) if type(t) is str and t in everywhere
        ]
    return used


def answered_span(d: DriveRecord) -> float | None:
    """Real seconds from the first used call made to the last used answer given."""
    made = [c for calls in used_calls(d).values() for c in calls]
    ended = [c.ended for c in made if c.ended is not None]
    if not made or not ended:
        return None
    return max(ended) - min(c.invoked for c in made)
