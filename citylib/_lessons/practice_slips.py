"""The practice exercises' common slips: one mistake, one message, the cause first.

The Sprint names its slips from its drives (:mod:`citylib._lessons.slips`); the
exercises of the other notebooks meet the same beginner's mistakes with other
functions: a coroutine made and never awaited, a function handed over instead of a
call, a call handed over where a function was wanted (``to_thread(wrap(parcel))``),
a plain ``for`` over a stream, ``asyncio.run`` inside ``async def``, gather's future
used without ``await``. Each is a :class:`Slip`: the cause, what was seen, the
learner's line, the shape of the fix, and a first hint that answers it.

:func:`unawaited` catches the coroutines an answer made and never awaited, each by
the learner's line that made it, so that Python's ``RuntimeWarning: coroutine ...
was never awaited`` (which would point into citylib) never reaches the learner: the
slip says it in words instead.
"""

from __future__ import annotations

import gc
import inspect
import linecache
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, NamedTuple

from citylib._lessons import slips

__all__ = [
    "NeverAwaited",
    "Slip",
    "Unawaited",
    "from_error",
    "line_of",
    "not_awaited",
    "unawaited",
    "watching",
]


@dataclass(frozen=True)
class Slip:
    """One mistake, named once from what was measured, as the Sprint's slips are.

    A verdict with a slip prints it instead of the ❌ lines it explains: the cause
    first, what was seen, the learner's line, then the shape of the fix; and
    ``ex.hint()`` answers it first.

    Attributes:
        id: Short key, such as ``"not_awaited"``.
        cause: Why, in words a beginner reads.
        fix: The shape of the fix (never a line of the solution).
        hint: The first hint level for this mistake: the idea behind it, in more words.
        seen: What was measured that shows it (an error, a number).
        where: The learner's line it showed at (``""``: not known).
    """

    id: str
    cause: str
    fix: str
    hint: str
    seen: str = ""
    where: str = ""

    def lines(self) -> list[str]:
        """The slip as the notebook prints it (the Sprint's layout)."""
        return slips.Diagnosis(self.id, self.cause, self.seen, self.fix, (), self.where).lines()


# ------------------------------------------------------------- the learner's line


def _place(filename: str, lineno: int) -> str:
    """``line 3 of your cell: code``, for a learner's file or cell."""
    where = "your cell" if filename.startswith("<") or "ipykernel" in filename else filename
    code = linecache.getline(filename, lineno).strip()
    return f"line {lineno} of {where}: {code}" if code else f"line {lineno} of {where}"


def line_of(func: Any, *needles: str) -> str:
    """The first line of the learner's ``func`` holding one of ``needles`` (``""``: none).

    Only for showing the learner where a measured mistake sits: nothing a verdict
    decides is read from the source.
    """
    if isinstance(func, CodeType):
        code: CodeType | None = func
    else:
        func = inspect.unwrap(func) if callable(func) else func
        code = getattr(func, "__code__", None)
    if code is None or slips.is_library(code.co_filename):
        return ""
    try:
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError):
        return ""
    for offset, text in enumerate(lines):
        if any(n in text for n in needles):
            return _place(code.co_filename, first + offset)
    return ""


# ------------------------------------------------------------- coroutines never awaited


class NeverAwaited(NamedTuple):
    """A coroutine the learner's code made and nobody awaited."""

    name: str  # what was called: ``call``, ``sleep``, ``fetch_weather``
    where: str  # the learner's line that made it


@dataclass
class Unawaited:
    """What :func:`unawaited` found: the learner's coroutines that were never awaited."""

    found: list[NeverAwaited] = field(default_factory=list)
    _caught: list[warnings.WarningMessage] = field(default_factory=list)
    _others: list[warnings.WarningMessage] = field(default_factory=list)

    def note(self, value: Any, depth: int = 1) -> None:
        """Close and note the unstarted coroutines in ``value`` (``depth`` levels down)."""
        items = [value]
        for _ in range(depth):
            items += [inner for item in items for inner in _items(item)]
        for item in items:
            if inspect.iscoroutine(item) and inspect.getcoroutinestate(item) == "CORO_CREATED":
                origin = getattr(item, "cr_origin", None)
                item.close()  # closed unstarted: no warning later
                self._add(item.__qualname__, origin)

    def note_frames(self, exc: BaseException) -> None:
        """Close and note the unstarted coroutines an error left in its frames' locals."""
        tb = exc.__traceback__
        while tb is not None:
            frame: FrameType = tb.tb_frame
            for value in list(frame.f_locals.values()):
                self.note(value, depth=2)  # gather's arguments: a tuple of the learner's list
            tb = tb.tb_next

    def flush(self) -> list[NeverAwaited]:
        """Collect garbage, so that dropped coroutines are found now; return all found."""
        gc.collect()
        caught, self._caught[:] = list(self._caught), []
        for w in caught:
            if "was never awaited" in str(w.message):
                coro = getattr(w, "source", None)
                name = getattr(coro, "__qualname__", "") or _name_in(str(w.message))
                self._add(name, getattr(coro, "cr_origin", None))
            else:  # not ours to judge: shown as Python would have, once the block ends
                self._others.append(w)
        return self.found

    def _add(self, name: str, origin: Any) -> None:
        mine = [
            (f, n) for f, n, _ in origin or () if not slips.is_library(f)
        ]  # innermost first: the learner's line that made it
        if origin is not None and not mine:
            return  # made by a library and dropped there: not the learner's mistake
        where = _place(*mine[0]) if mine else ""
        self.found.append(NeverAwaited(name.rsplit(".", 1)[-1], where))


def _items(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list | tuple | set):
        return list(value)
    return []


def _name_in(message: str) -> str:
    """``call`` in ``coroutine 'call' was never awaited``."""
    parts = message.split("'")
    return parts[1] if len(parts) > 2 else "a call"


_WATCHING: list[Unawaited] = []


def watching() -> Unawaited | None:
    """The innermost :func:`unawaited` block's record (``None``: outside one)."""
    return _WATCHING[-1] if _WATCHING else None


#: How many frames of a coroutine's origin Python keeps while an answer is judged.
_ORIGIN_DEPTH = 16


@contextmanager
def unawaited() -> Iterator[Unawaited]:
    """Catch, by the learner's line, the coroutines made and never awaited in the block.

    Python warns about such a coroutine when it is thrown away, at a place in citylib
    that means nothing to a learner. Inside the block the warning is caught (with
    where the coroutine was made: ``sys.set_coroutine_origin_tracking_depth``) and
    noted; every other warning is shown as Python would have.
    """
    seen = Unawaited()
    depth = sys.get_coroutine_origin_tracking_depth()
    sys.set_coroutine_origin_tracking_depth(max(depth, _ORIGIN_DEPTH))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            seen._caught = caught
            _WATCHING.append(seen)
            try:
                yield seen
            finally:
                _WATCHING.remove(seen)
                seen.flush()
    finally:
        sys.set_coroutine_origin_tracking_depth(depth)
    for w in seen._others:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def not_awaited(found: list[NeverAwaited]) -> Slip:
    """The slip for coroutines made and never awaited."""
    names = sorted({f"{n}(...)" for n, _ in found})
    first = found[0]
    return Slip(
        "not_awaited",
        f"you called {_words(names)} but never awaited {'it' if len(found) == 1 else 'them'}: "
        "calling an async def only makes a coroutine, a trip that has not started, and "
        "only await drives it and brings its answer back",
        "put await in front of each call (or hand the calls to asyncio.gather and await that once)",
        "A call of an async def does not run it. It hands you a coroutine: the trip, "
        "planned but not started. Only `await` (or something you await, such as gather) "
        "sends it off and waits for its answer; a coroutine nobody awaits is thrown "
        "away without ever driving.",
        f"{len(found)} coroutine{'s' if len(found) > 1 else ''} never awaited",
        first.where,
    )


def _words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ------------------------------------------------------------- slips known by their error


_NOT_AWAITABLE = "An asyncio.Future, a coroutine or an awaitable is required"
_CANT_AWAIT = "can't be used in 'await' expression"
_FUNCTION_TYPES = ("function", "method", "builtin_function_or_method", "functools.partial")


def from_error(exc: BaseException, subject: str) -> Slip | None:
    """The slip behind what ``subject`` (the learner's answer) raised, or ``None``."""
    error = slips.describe_error(exc)
    where = slips.where_raised(exc)
    code = where.split(": ", 1)[1] if ": " in where else ""
    for make in (
        _extra_parentheses, _uncalled, _not_unpacked, _plain_for, _awaited_stream,
        _asyncio_run, _gather_not_awaited,
    ):  # fmt: skip
        slip = make(exc, error, code)
        if slip is not None:
            return Slip(slip.id, slip.cause, slip.fix, slip.hint, error, where)
    return None


_ASYNCIO_RUN = (
    "asyncio.run() cannot be called from a running event loop",
    "This event loop is already running",
    "Cannot run the event loop while another loop is running",
)


def _asyncio_run(exc: BaseException, error: str, code: str) -> Slip | None:
    if not any(text in error for text in _ASYNCIO_RUN):
        return None
    return Slip(
        "asyncio_run",
        "you called asyncio.run() inside an async def: asyncio.run starts an event loop of "
        "its own, and your function already runs inside one (Jupyter's, or the check's)",
        "inside an async def there is no loop to start: await the call right where you are",
        "Inside an async def you are already on a running event loop (Jupyter's, or the "
        "check's). asyncio.run() is for a plain script's first line: it starts a loop, and "
        "there can be only one at a time.",
    )


def _gather_not_awaited(exc: BaseException, error: str, code: str) -> Slip | None:
    if "await wasn't used with future" not in error and "_GatheringFuture" not in error:
        return None
    return Slip(
        "gather_not_awaited",
        "you used what gather gave back without awaiting it: gather hands back a future, a "
        "promise of the answers, and only await turns it into the answers",
        "put await in front of the gather, then use the list it gives you",
        "asyncio.gather sends every call off at once and hands you a future: a promise of "
        "the answers, not the answers. Only await waits for the promise and gives you the "
        "list.",
    )


def _extra_parentheses(exc: BaseException, error: str, code: str) -> Slip | None:
    """``to_thread(wrap(parcel))``: the function was called here, its answer handed on."""
    if not isinstance(exc, TypeError) or "object is not callable" not in error:
        return None
    for taker in ("to_thread(", "run_in_executor(", "create_task(", "call_soon("):
        if taker in code:
            name = taker.rstrip("(")
            got = error.split("'")[1] if error.count("'") >= 2 else "value"
            return Slip(
                "extra_parentheses",
                f"you called the function yourself and handed {name} what it returned (a "
                f"{got}): {name} wants the function itself, so that it can call it for you",
                f"hand {name} the function without parentheses, and its arguments after it, "
                "separated by commas",
                f"`{name}(f(x))` runs f(x) right here, on the event loop (holding it, if f "
                f"blocks), and gives {name} only the answer, which cannot be called. "
                f"`{name}(f, x)` gives it the function and its argument; {name} makes the "
                "call itself, in its own thread.",
            )
    return None


def _uncalled(exc: BaseException, error: str, code: str) -> Slip | None:
    """A function handed over (or awaited) where a call of it was wanted."""
    in_gather, _, called = slips.gather_handed(exc)
    awaited_function = _CANT_AWAIT in error and slips.awaited_type(error) in _FUNCTION_TYPES
    async_for_function = "'async for' requires an object with __aiter__ method, got function" in (
        error
    )
    if not ((in_gather and called is False) or awaited_function or async_for_function):
        return None
    what = "gather" if in_gather else ("async for" if async_for_function else "await")
    return Slip(
        "uncalled",
        f"you handed {what} a function, not a call of it: {what} needs what a call gives "
        "back (a coroutine, a stream), and a function gives nothing until you call it",
        "put () after the function's name, with its arguments inside, where you hand it over",
        "A function's name alone is the recipe, not the dish: `f` is the function, `f(...)` "
        "a call of it, which hands you what await, gather or async for can use (a "
        "coroutine, a stream).",
    )


def _not_unpacked(exc: BaseException, error: str, code: str) -> Slip | None:
    """``gather([call(a), call(b)])``: one list of calls, where gather wants each one."""
    in_gather, box, called = slips.gather_handed(exc)
    if not (in_gather and box and called):
        return None
    return Slip(
        "not_unpacked",
        f"you handed gather one {box} of calls, not the calls themselves: gather takes each "
        f"call as an argument of its own, and a {box} is not something it can await",
        f"put * in front of the {box} as you hand it to gather, so that each call is one argument",
        "gather(a, b, c) gets three calls; gather([a, b, c]) gets one thing, a list. A * "
        "in front of a list in a call spreads it out: gather(*calls) is gather(a, b, c).",
    )


def _plain_for(exc: BaseException, error: str, code: str) -> Slip | None:
    if "'async_generator' object is not iterable" not in error:
        return None
    return Slip(
        "plain_for",
        "you read a stream with a plain for: a stream's items arrive over time, and only "
        "async for waits for each one",
        "write async for where you loop over the stream (inside an async def)",
        "A plain `for` asks for the next item at once and cannot wait. An async generator "
        "(a stream) hands out each item when it has arrived, so it must be read with "
        "`async for`, which awaits every item.",
    )


def _awaited_stream(exc: BaseException, error: str, code: str) -> Slip | None:
    if _CANT_AWAIT not in error or slips.awaited_type(error) != "async_generator":
        return None
    return Slip(
        "awaited_stream",
        "you awaited a stream: await waits for one answer, and a stream gives many, one at a time",
        "loop over the stream with async for instead of awaiting it",
        "An async generator is read item by item with `async for`; await is for a call "
        "that ends with one answer.",
    )
