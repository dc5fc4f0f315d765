"""The Sprint's common slips: one mistake, one message, the cause first.

One slip often fails several checks at once (the sources handed to ``gather``
uncalled fail five of them), and a learner needs its one cause, not five ❌.
:func:`diagnose` reads the drives' records, the same ones the checks read, and names
each mistake once: the cause in words, what was measured that shows it, and the
shape of the fix. A fix never holds a line of the solution (tests/test_sprint.py
checks it). Every failed check is explained by exactly one :class:`Diagnosis`.

The test-drive cell has no instrumented sources, only what the function raised or
returned: :func:`from_error` and :func:`from_result` recognise the same slips there,
in the same words, and :func:`where_raised` finds the learner's own line.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import sysconfig
from collections.abc import Callable, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass, replace
from types import FrameType, TracebackType
from typing import Any

from citylib._lessons.drives import DriveRecord
from citylib._lessons.sprint_contract import STRETCH_NAME

__all__ = [
    "Diagnosis",
    "awaited_type",
    "close_unstarted",
    "describe_error",
    "diagnose",
    "from_error",
    "from_result",
    "gather_handed",
    "is_library",
    "repeated_latency",
    "where_raised",
]

#: The checks that need a function that ran: a slip that stops it explains them all.
_RAN = ("returns_dict", "calls_once", "payloads", "overlap", "one_lane", "total_latency")
_CALLS = ("calls_once", "payloads", "overlap", "one_lane")


@dataclass(frozen=True)
class Diagnosis:
    """One mistake, named from what was measured.

    Attributes:
        id: Short key for the slip, such as ``uncalled_sources``.
        cause: Why, in words a beginner reads (the first thing they read).
        seen: What was measured that shows it (an error, a line, a number).
        fix: The shape of the fix, never a line of the solution.
        checks: The failed checks this one mistake explains.
        where: The learner's line it showed at (``""``: not known).
    """

    id: str
    cause: str
    seen: str
    fix: str
    checks: tuple[str, ...] = ()
    where: str = ""

    def lines(self) -> list[str]:
        """The diagnosis as a notebook prints it: the cause, what happened, the fix."""
        lines = [f"❌ {_sentence(self.cause, upper=True)}"]
        if self.seen:
            lines.append(f"   What happened: {_sentence(self.seen)}")
        if self.where:
            lines.append(f"   Where: {self.where}")
        lines.append(f"   💡 Try: {_sentence(self.fix, upper=True)}")
        return lines

    def text(self) -> str:
        """One paragraph (the grader's feedback): the cause, then the fix."""
        return f"{_sentence(self.cause, upper=True)} 💡 {_sentence(self.fix, upper=True)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {**vars(self), "checks": list(self.checks)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnosis:
        """Rebuild a diagnosis from :meth:`to_dict`'s output."""
        return cls(
            str(data["id"]), str(data["cause"]), str(data.get("seen", "")), str(data["fix"]),
            tuple(str(c) for c in data.get("checks", ())), str(data.get("where", "")),
        )  # fmt: skip


def _sentence(text: str, *, upper: bool = False) -> str:
    """``text`` ending in a full stop (and, with ``upper``, starting with a capital)."""
    text = text.strip()
    if not text:
        return text
    if upper:
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


def describe_error(exc: BaseException) -> str:
    """``Type: message``, the way every judge records an error."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# ------------------------------------------------------------- what was handed where


@dataclass(frozen=True)
class _Facts:
    """What one drive shows, whichever judge saw it (or the test drive).

    Attributes:
        subject: The function's name.
        error: ``Type: message`` of what it raised (``""``: nothing).
        where: The learner's line it raised at (``""``: not known).
        called: Sources called (``None``: nobody counted, as in the test drive).
        awaited: Sources awaited (``None``: not known).
        in_gather: Whether the error came out of a call of gather (``None``: not known).
        box: What gather got instead of its awaitables (``"list"``), when seen.
    """

    subject: str
    error: str
    where: str
    called: int | None
    awaited: int | None
    in_gather: bool | None = None
    box: str = ""


def _shown(value: Any, width: int = 40) -> str:
    """``repr(value)``, cut to ``width``; a learner's object whose repr fails is its type."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 1] + "…"


def _names(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _in_gather(where: str) -> bool | None:
    """Whether the learner's line that raised calls gather (``None``: no line known)."""
    return ("gather(" in where) if ": " in where else None


_ASYNCIO_RUN = (
    "asyncio.run() cannot be called from a running event loop",
    "This event loop is already running",
    "Cannot run the event loop while another loop is running",
)
_NOT_AWAITABLE = "An asyncio.Future, a coroutine or an awaitable is required"
_CANT_AWAIT = "can't be used in 'await' expression"
_UNHASHABLE = "unhashable type: '"
_SOURCE_TYPES = ("Source", "_Source")


def _asyncio_run(f: _Facts) -> Diagnosis | None:
    if not any(text in f.error for text in _ASYNCIO_RUN):
        return None
    return Diagnosis(
        "asyncio_run",
        f"you called asyncio.run() inside {f.subject}: asyncio.run starts an event loop of "
        f"its own, and {f.subject} already runs inside one (Jupyter's, or the check's)",
        f.error,
        "inside an async def there is no loop to start: await what you handed asyncio.run, "
        "right where you are (notebook 02 shows why)",
        _RAN,
    )


def awaited_type(error: str) -> str:
    """``Source`` in ``TypeError: object Source can't be used in 'await' expression``."""
    words = error.split(_CANT_AWAIT)[0].split()
    return words[-1] if words else ""


def _uncalled(f: _Facts) -> Diagnosis | None:
    if f.called:  # a source was called: another slip
        return None
    if _CANT_AWAIT in f.error and awaited_type(f.error) in _SOURCE_TYPES:
        return Diagnosis(
            "uncalled_sources",
            "you awaited a source, not a call of it: await needs an awaitable, and a source "
            "only makes one when you call it",
            f.error,
            "put () after the source, so that you await its call; and to share the road, "
            "start every call before you await any of them",
            _RAN,
        )
    if "a coroutine was expected" in f.error:
        who, needs = "create_task", "a coroutine"
    elif _NOT_AWAITABLE in f.error or (_UNHASHABLE in f.error and f.in_gather):
        who, needs = "gather", "awaitables"
    else:
        return None
    return Diagnosis(
        "uncalled_sources",
        f"you handed {who} the sources, not calls of them: {who} needs {needs}, and a "
        "source only makes one when you call it",
        f.error,
        f"call each source as you hand it to {who}: a source with () after it is a call, a "
        f"trip about to start. Give {who} one call per source, each an argument of its own "
        "(unpack them with *, not in a list or a dict_values)",
        _RAN,
    )


def _unpacked_box(f: _Facts) -> str:
    """What gather got instead of the calls (``list``), or ``""``: not that slip."""
    if f.box:
        return f.box
    if not f.called or f.awaited or f.in_gather is False:
        return ""
    if _UNHASHABLE in f.error:
        return f.error.split(_UNHASHABLE)[1].split("'")[0]
    return "collection" if _NOT_AWAITABLE in f.error else ""


def _not_unpacked(f: _Facts) -> Diagnosis | None:
    box = _unpacked_box(f)
    if not box:
        return None
    return Diagnosis(
        "not_unpacked",
        f"you handed gather one {box} of calls, not the calls themselves: gather takes each "
        f"awaitable as an argument of its own, and a {box} is not awaitable",
        f.error,
        "unpack the calls with * as you hand them to gather, so that each call is one argument",
        _RAN,
    )


def _keys_are_answers(f: _Facts) -> Diagnosis | None:
    if "unhashable type: 'dict'" not in f.error or f.awaited == 0 or f.in_gather:
        return None
    return Diagnosis(
        "answers_as_keys",
        "you used the answers as the dict's keys: a key must be hashable, and each answer "
        "is a dict",
        f.error,
        "make the source names the keys and the answers the values: pair them name first, "
        "answer second",
        _RAN,
    )


def _gather_unawaited(f: _Facts) -> Diagnosis | None:
    if "await wasn't used with future" not in f.error and "_GatheringFuture" not in f.error:
        return None
    return _gather_future(f.error)


def _gather_future(seen: str) -> Diagnosis:
    return Diagnosis(
        "gather_not_awaited",
        "you used what gather gave back without awaiting it: gather hands back a future, a "
        "promise of the answers, and only await turns it into the list of answers",
        seen,
        "put await in front of the gather, then merge the list it gives you",
        _RAN,
    )


def _task_unfinished(f: _Facts) -> Diagnosis | None:
    if not f.error.startswith("InvalidStateError"):
        return None
    return Diagnosis(
        "task_not_done",
        "you asked a task for its result before it had finished: create_task starts a trip, "
        "but only awaiting the task (or the end of a TaskGroup's async with block) waits "
        "for its answer",
        f.error,
        "await the tasks first (all at once, with gather), or read each task's result only "
        "after the TaskGroup's block has ended",
        _RAN,
    )


def _crashed(f: _Facts) -> Diagnosis | None:
    if not f.error:
        return None
    return Diagnosis(
        "error",
        f"your {f.subject} stopped with an error of its own before it returned",
        f.error,
        "read the line the error names and fix it; the test-drive cell shows the full traceback",
        _RAN,
    )


#: Slips known by what was raised, in the order they are tried: the first one fits.
_ERROR_SLIPS: tuple[Callable[[_Facts], Diagnosis | None], ...] = (
    _asyncio_run, _uncalled, _not_unpacked, _keys_are_answers, _gather_unawaited,
    _task_unfinished,
)  # fmt: skip


# ------------------------------------------------------------- what came back


def _kind(value: Any) -> str:
    """A value's type name (the grader's child sends objects as ``{"$object": name}``)."""
    if isinstance(value, dict) and set(value) == {"$object"}:
        return str(value["$object"])
    return type(value).__name__


_PENDING_TASKS = ("Task", "Future")


def _pending(result: Any, names: Sequence[str], subject: str) -> Diagnosis | None:
    """A dict of coroutines, tasks or futures where the answers should be."""
    if not isinstance(result, dict):
        return None
    kinds = {_kind(result[n]) for n in names if n in result}
    if "_GatheringFuture" in kinds:
        return _gather_future("your dict holds gather's future, not answers")
    if "coroutine" in kinds:
        return Diagnosis(
            "not_awaited",
            "you called the sources but never awaited the calls: a call hands you a "
            "coroutine, a trip that has not started, and only await brings its answer back",
            "your dict holds coroutines where the answers should be",
            _await_each(subject)
            if subject == STRETCH_NAME
            else "hand all the calls to asyncio.gather and await it once (await works only "
            "inside an async def), then merge the answers it gives back",
            _CALLS,
        )
    if kinds & set(_PENDING_TASKS):
        return Diagnosis(
            "tasks_not_awaited",
            f"you returned the tasks, not their answers: create_task starts each trip, but "
            f"{subject} returned before any of them arrived",
            "your dict holds tasks where the answers should be",
            "await the tasks (together, with gather) or let a TaskGroup's block end, then "
            "merge each task's result",
            _CALLS,
        )
    return None


def _not_a_dict(result: Any, result_type: str, subject: str) -> Diagnosis | None:
    if isinstance(result, dict):
        return None
    checks = ("returns_dict", "payloads", "total_latency")
    if result_type == "NoneType":
        return Diagnosis(
            "returns_none",
            f"your {subject} returned None: it ends without a return, so the merged dict never "
            "leaves it",
            "", f"end {subject} by returning the merged dict", checks,
        )  # fmt: skip
    if result_type in ("list", "tuple"):
        return Diagnosis(
            "returns_list",
            f"your {subject} returned a {result_type} (the answers in a row), not a dict: the "
            "Sprint wants each answer under its source's name",
            "",
            "pair each name with its answer (gather gives the answers back in the order you "
            "handed it the calls), make a dict of the pairs, add 'total_latency' and return "
            "that dict",
            checks,
        )
    return Diagnosis(
        "not_a_dict",
        f"your {subject} returned a {result_type}, not a dict", "",
        "return one dict: each answer under its source's name, plus 'total_latency'", checks,
    )  # fmt: skip


def _missing_keys(result: Any, names: Sequence[str]) -> Diagnosis | None:
    missing = [n for n in names if isinstance(result, dict) and n not in result]
    if not missing:
        return None
    return Diagnosis(
        "missing_names",
        f"your dict has no {'key' if len(missing) == 1 else 'keys'} {_names(missing)}: each "
        "answer must go in under its source's name",
        "keys found: " + (", ".join(_shown(k) for k in list(result)[:8]) or "none"),
        "use each source's name as its answer's key",
        ("payloads",),
    )


def _wrong_names(wrong: Sequence[str]) -> Diagnosis:
    return Diagnosis(
        "wrong_names",
        "every answer is in your dict, but some under another source's name: gather "
        "hands the answers back in the order you handed it the calls, so the names must "
        "come in that same order",
        f"the answer under {_names(wrong)} came from another source"
        if len(wrong) == 1
        else f"the answers under {_names(wrong)} came from other sources",
        "take the names and the calls from the same walk through sources, and pair them "
        "in that order",
        ("payloads",),
    )


def _misnamed(result: Any, names: Sequence[str]) -> Diagnosis | None:
    """The test drive's answers under the wrong names (each names its service)."""
    if not isinstance(result, dict):
        return None
    served = {n: result[n].get("service") for n in names if isinstance(result.get(n), dict)}
    wrong = [n for n, by in served.items() if by in names and by != n]
    return _wrong_names(wrong) if wrong else None


def _latency_slip(result: Any) -> Diagnosis | None:
    """No total_latency at all, or not a number of seconds."""
    if not isinstance(result, dict):
        return None
    if "total_latency" not in result:
        return Diagnosis(
            "no_latency",
            "your dict has no 'total_latency': the Sprint wants the fetch's own measured time "
            "in it too",
            "",
            "read clock.now() before the first call and again after the last answer, and "
            "store the difference under 'total_latency'",
            ("total_latency",),
        )
    value = result["total_latency"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Diagnosis(
            "latency_not_a_number",
            f"your total_latency is {_shown(value, 60)}, not a number of seconds",
            "",
            "store the difference of two clock.now() readings: a float of city seconds",
            ("total_latency",),
        )
    return None


# ------------------------------------------------------------- the judge's drives


@dataclass(frozen=True)
class _Seen:
    """One drive and the checks it failed (id → what went wrong)."""

    drive: DriveRecord
    problems: Mapping[str, str]
    subject: str
    drives: Sequence[DriveRecord]


def _facts(d: DriveRecord, subject: str) -> _Facts:
    called = sum(1 for made in d.calls.values() if made)
    awaited = sum(1 for made in d.calls.values() if any(c.started is not None for c in made))
    return _Facts(subject, d.error, d.where, called, awaited, _in_gather(d.where))


def _raised(s: _Seen) -> Diagnosis | None:
    d = s.drive
    if d.timed_out:
        return Diagnosis(
            "never_finished",
            f"your {s.subject} never finished: something in it waits forever (an await on "
            "something that never ends, or a loop that never stops)",
            d.error,
            "look for a while loop without an end, or an await on an Event, a Queue or a "
            "Future that nothing ever sets",
            _RAN,
        )
    if not d.error:
        return None
    facts = _facts(d, s.subject)
    for slip in (*_ERROR_SLIPS, _crashed):
        found = slip(facts)
        if found is not None:
            return replace(found, where=facts.where)
    return None


def _returned_pending(s: _Seen) -> Diagnosis | None:
    return None if s.drive.error else _pending(s.drive.result, list(s.drive.latencies), s.subject)


def _returned_other(s: _Seen) -> Diagnosis | None:
    if s.drive.error or s.drive.timed_out:
        return None
    return _not_a_dict(s.drive.result, s.drive.result_type, s.subject)


def _own_sources(s: _Seen) -> Diagnosis | None:
    d = s.drive
    if d.error or any(d.calls.values()):
        return None
    return Diagnosis(
        "own_sources",
        f"your {s.subject} fetched from sources of its own, not the ones it was given: the check "
        "hands it sources with new latencies and fresh answers, and none of them was called",
        "",
        "fetch from the sources argument; fall back on sprint.default_sources() only when "
        "sources is None, as the stub's first lines do",
        _CALLS,
    )


def _not_awaited_calls(s: _Seen) -> Diagnosis | None:
    made = s.drive.calls
    never = [
        n for n in s.drive.latencies if made.get(n) and all(c.started is None for c in made[n])
    ]
    if not never:
        return None
    return Diagnosis(
        "not_awaited",
        f"you called {_names(never)} but never awaited the call: a call hands you a "
        "coroutine, a trip that has not started, and only await brings its answer back",
        "",
        _await_each(s.subject),
        _CALLS,
    )


def _await_each(subject: str) -> str:
    """The shape of the fix for calls never awaited: one lane for the stretch goal."""
    if subject == STRETCH_NAME:
        return (
            "await each call before you make the next one: the stretch goal's one lane "
            "waits for every answer in turn"
        )
    return "await every call you make: hand them all to one gather and await it"


def _left_out(s: _Seen) -> Diagnosis | None:
    missing = [n for n in s.drive.latencies if not s.drive.calls.get(n)]
    if not missing:
        return None
    return Diagnosis(
        "missing_sources",
        f"you never called {_names(missing)}: each source must be called once, or its answer "
        "is missing from the merged dict",
        "",
        "call every source in the mapping you are given, whatever it holds: walk through "
        "sources rather than naming the sources one by one",
        _CALLS,
    )


def _twice(s: _Seen) -> Diagnosis | None:
    again = [n for n, made in s.drive.calls.items() if len(made) > 1]
    if not again:
        return None
    return Diagnosis(
        "called_twice",
        f"you called {_names(again)} more than once: every call is a new trip with a fresh "
        "answer, so a second call costs time and gives a different answer",
        s.problems.get("calls_once", ""),
        "call each source once and keep the answer that call gave",
        ("calls_once",),
    )


def _payload_slip(s: _Seen) -> Diagnosis | None:
    d = s.drive
    if "payloads" not in s.problems or not isinstance(d.result, dict):
        return None
    missing = _missing_keys(d.result, list(d.latencies))
    if missing is not None:
        return missing
    given = {n: [c.payload for c in made if c.payload is not None] for n, made in d.calls.items()}
    wrong = [n for n in d.latencies if not _among(d.result[n], given.get(n, []))]
    if wrong and all(_among(d.result[n], [p for g in given.values() for p in g]) for n in wrong):
        return _wrong_names(wrong)
    return Diagnosis(
        "changed_answer",
        f"the answer under {_names(wrong)} is not the one its source gave in this drive: the "
        "check wants each answer merged as it came back",
        s.problems["payloads"],
        "store each answer exactly as it came back: no edits, no copies from an earlier run",
        ("payloads",),
    )


def _among(value: Any, given: Sequence[Any]) -> bool:
    try:
        return any(value == g for g in given)
    except Exception:  # a learner's object may compare badly; then it is not the payload
        return False


def repeated_latency(drives: Sequence[DriveRecord]) -> int | float | None:
    """The ``total_latency`` every drive returned, when two or more returned one and the
    same number (``None`` otherwise): written in, not measured."""
    values = [d.result.get("total_latency") for d in drives if isinstance(d.result, dict)]
    first = values[0] if values else None
    if (
        len(values) > 1
        and isinstance(first, (int, float))
        and all(type(v) in (int, float) and v == first for v in values)
    ):
        return first
    return None


def _latency(s: _Seen) -> Diagnosis | None:
    if "total_latency" not in s.problems:
        return None
    found = _latency_slip(s.drive.result)
    if found is not None:
        return found
    repeated = repeated_latency(s.drives)
    if repeated is not None:
        return Diagnosis(
            "hard_coded_latency",
            f"your total_latency is {repeated!r} on every drive, though the drives took "
            "different times: it must be measured, not written in",
            s.problems["total_latency"],
            "read clock.now() before the first call and again after the last answer, and "
            "store the difference",
            ("total_latency",),
        )
    return Diagnosis(
        "latency_off",
        "your total_latency does not span the whole fetch: it should run from just before "
        "the first call to just after the last answer",
        s.problems["total_latency"],
        "read clock.now() once before the first call and once after the last answer (not "
        "inside a loop, not in milliseconds), and store the difference",
        ("total_latency",),
    )


def _took_turns(s: _Seen) -> Diagnosis | None:
    if "overlap" not in s.problems:
        return None
    return Diagnosis(
        "took_turns",
        "each await waited for its source's answer before the next call started: one lane "
        "for everybody, so the waits added up",
        s.problems["overlap"],
        "start every call first, then wait for them all with one await: asyncio.gather (or "
        "an asyncio.TaskGroup) gives each call a lane of its own",
        ("overlap",),
    )


def _side_by_side(s: _Seen) -> Diagnosis | None:
    if "one_lane" not in s.problems:
        return None
    return Diagnosis(
        "side_by_side",
        f"the calls ran side by side: {s.subject} should be the traffic jam, one lane, each "
        "source waiting for the one before it to answer",
        s.problems["one_lane"],
        "await each call before you make the next one, in a plain for loop over the sources",
        ("one_lane",),
    )


def _blocked(s: _Seen) -> Diagnosis | None:
    problem = s.problems.get("non_blocking", "")
    if not problem:
        return None
    if s.drive.unwatched:
        return Diagnosis(
            "unwatched", problem, "",
            "await the sources on the event loop you are given: no threads or processes of "
            "your own", ("non_blocking",),
        )  # fmt: skip
    return Diagnosis(
        "blocked_loop",
        "something held the event loop: a blocking call such as time.sleep() stops every "
        "lane, the check's heartbeat included",
        problem,
        "wait with await instead (await asyncio.sleep(...) if you must pause); never "
        "time.sleep() inside an async def",
        ("non_blocking",),
    )


#: Slips read from a drive, tried in this order: each explains the failed checks it names.
_DRIVE_SLIPS: tuple[Callable[[_Seen], Diagnosis | None], ...] = (
    _raised, _returned_pending, _returned_other, _own_sources, _not_awaited_calls,
    _left_out, _twice, _payload_slip, _latency, _took_turns, _side_by_side, _blocked,
)  # fmt: skip


def diagnose(
    drives: Sequence[DriveRecord],
    problems: Sequence[Mapping[str, str]],
    hints: Mapping[str, str],
    subject: str,
) -> list[Diagnosis]:
    """Name each mistake once: every failed check is explained by exactly one diagnosis.

    Args:
        drives: The drives, in order.
        problems: For each drive, its failed checks (id → what went wrong), in order.
        hints: Each check's own hint, for a failure no slip explains.
        subject: The function's name (``parallel_fetch``).
    """
    left = [c for per_drive in problems for c in per_drive]
    left = list(dict.fromkeys(left))  # each failed check once, in order
    found: list[Diagnosis] = []
    for slip in _DRIVE_SLIPS:
        for drive, failed in zip(drives, problems, strict=True):
            diagnosis = slip(_Seen(drive, failed, subject, drives)) if failed else None
            covers = tuple(c for c in left if diagnosis and c in diagnosis.checks)
            if diagnosis is not None and covers:
                found.append(replace(diagnosis, checks=covers))
                left = [c for c in left if c not in covers]
                break
    for check in left:  # no slip fits: the check's own words
        detail = next(p[check] for p in problems if check in p)
        found.append(Diagnosis(check, detail, "", hints.get(check, ""), (check,)))
    return found


# ------------------------------------------------------------- the test drive


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Where Python's own files, installed packages' and citylib's live."""
    paths = sysconfig.get_paths()
    roots = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return tuple(os.path.abspath(root) + os.sep for root in roots)


def is_library(filename: str) -> bool:
    """Not the learner's file: Python's own, an installed package's, or citylib's."""
    return not filename.startswith("<") and os.path.abspath(filename).startswith(_library_roots())


def _frames(exc: BaseException) -> Iterator[tuple[FrameType, int]]:
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def where_raised(exc: BaseException, place: str = "your cell") -> str:
    """The learner's own line that ``exc`` went through last, such as ``line 6 of your
    cell: answers = ...`` (``""`` when none of its frames is the learner's)."""
    mine = [(f, n) for f, n in _frames(exc) if not is_library(f.f_code.co_filename)]
    if not mine:
        return ""
    frame, number = mine[-1]
    filename = frame.f_code.co_filename
    where = place if filename.startswith("<") or "ipykernel" in filename else filename
    code = linecache.getline(filename, number).strip()
    return f"line {number} of {where}: {code}" if code else f"line {number} of {where}"


def _items(value: Any) -> list[Any]:
    """A box's contents, one level down (a generator is never run: it would call)."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple, set, ValuesView)):
        return list(value)
    return []


def close_unstarted(exc: BaseException) -> None:
    """Close the coroutines a slip left unstarted inside asyncio's frames of ``exc``, so
    that Python does not warn, later and elsewhere, that they "were never awaited"."""
    for frame, _ in _frames(exc):
        if not is_library(frame.f_code.co_filename) or frame.f_code.co_name == "<module>":
            continue  # the learner's own objects are theirs
        for value in list(frame.f_locals.values()):
            for item in [value, *_items(value)]:
                if inspect.iscoroutine(item) and inspect.getcoroutinestate(item) == "CORO_CREATED":
                    item.close()


def gather_handed(exc: BaseException) -> tuple[bool, str, bool | None]:
    """Whether ``exc`` came out of asyncio.gather; if so, the box its calls came in
    (``""``: none) and whether it got calls (``None``: not known)."""
    for frame, _ in _frames(exc):
        if frame.f_code.co_name == "gather" and "asyncio" in frame.f_code.co_filename:
            handed = list(frame.f_locals.get("coros_or_futures", ()))
            box = type(handed[0]).__name__ if len(handed) == 1 and _items(handed[0]) else ""
            items = _items(handed[0]) if box else handed
            if any(inspect.iscoroutine(i) for i in items):
                return True, box, True
            if items and all(callable(i) for i in items):
                return True, "", False
            return True, box, None
    return False, "", None


def _own_frame(exc: BaseException, subject: str) -> FrameType | None:
    """``subject``'s own frame in ``exc``'s traceback (``None``: it raised elsewhere)."""
    for frame, _ in _frames(exc):
        if frame.f_code.co_name == subject and "sources" in frame.f_code.co_varnames:
            return frame
    return None


def _driving_slip(exc: BaseException, fn: Any, subject: str, error: str) -> Diagnosis | None:
    """Slips only a drive without sources shows: no default, None unhandled, a plain def."""
    if "missing 1 required positional argument: 'sources'" in error:
        return Diagnosis(
            "no_default",
            f"your {subject} has no default for sources: the test drive calls it with no sources "
            "at all, and then it should fetch from sprint.default_sources()",
            error,
            "keep the stub's first line, with sources=None, and the two lines under it that "
            "fall back on the default sources",
        )
    frame = _own_frame(exc, subject)
    if frame is None and any(text in error for text in _ASYNCIO_RUN):
        return Diagnosis(
            "asyncio_run_in_cell",
            "you called asyncio.run() in a notebook cell: Jupyter already runs an event loop, "
            "and asyncio.run wants to start one of its own",
            error,
            f"await {subject}() at the top level of the cell instead (notebook 02 shows why)",
        )
    if "NoneType" in error and frame is not None and frame.f_locals.get("sources", 0) is None:
        return Diagnosis(
            "sources_none",
            f"your {subject} used sources while it was still None: called with no sources, "
            "it must first fall back on sprint.default_sources()",
            error,
            "put back the stub's two lines that replace a None sources with "
            "sprint.default_sources()",
            where=where_raised(exc),
        )
    if _CANT_AWAIT in error and callable(fn) and not inspect.iscoroutinefunction(fn):
        return Diagnosis(
            "plain_def",
            f"your {subject} is a plain def: calling it runs it at once and hands back a "
            f"{awaited_type(error)}, which cannot be awaited",
            error,
            "write it as async def, as the stub does, and await the calls inside it",
        )
    return None


def from_error(exc: BaseException, fn: Any) -> Diagnosis | None:
    """The slip behind what the test drive raised, or ``None``: not a common slip (then
    the full traceback is the learner's best guide)."""
    subject = getattr(fn, "__name__", "your function")
    error = describe_error(exc)
    found = _driving_slip(exc, fn, subject, error)
    if found is not None:
        return found
    where = where_raised(exc)
    in_gather, box, called = gather_handed(exc)
    facts = _Facts(
        subject, error, where,
        None if called is None else int(called), 0 if called else None,
        in_gather or _in_gather(where), box,
    )  # fmt: skip
    for slip in _ERROR_SLIPS:
        found = slip(facts)
        if found is not None:
            return replace(found, checks=(), where=where)
    return None


def from_result(result: Any, names: Sequence[str], subject: str) -> Diagnosis | None:
    """The slip behind what the test drive returned, or ``None``: it looks right."""
    if inspect.iscoroutine(result):
        return Diagnosis(
            "drive_not_awaited",
            f"the cell called {subject} without await: calling an async def hands you a "
            "coroutine, and only await runs it",
            "",
            f"write await in front of {subject}() in the cell",
        )
    for found in (
        _pending(result, names, subject),
        _not_a_dict(result, type(result).__name__, subject),
        _missing_keys(result, names),
        _misnamed(result, names),
        _latency_slip(result),
    ):
        if found is not None:
            return replace(found, checks=())
    return None
