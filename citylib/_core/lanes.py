"""Your own lanes: record any asyncio code as lanes, with the line that held the loop.

``with record() as rec:`` (inside running async code) records every task started
inside the block, and the block's own code, as a :class:`Lane` each: when it ran
(held the loop) and when it awaited (suspended, the loop free for others), with the
learner's line it was suspended at. ``run(main())`` does the same for a script. The
one loop watcher (:class:`~citylib._core.watch.Watch`) runs alongside and reports
each :class:`~citylib._core.watch.Stall`: the loop held past the threshold, named by
the learner's line that held it.

How: a task factory, installed on the running loop for the block and chained to the
loop's previous one (which is back in place afterwards), wraps each new task's
coroutine in a thin :class:`collections.abc.Coroutine` that notes the clock on every
``send`` and ``throw`` (asyncio's C tasks accept it on 3.11 to 3.13). Results,
exceptions, cancellation and context variables pass through untouched. A step's
record is five values in one flat list (the task, two clock readings, and the code
and instruction offset it stopped at); lines, spans and names are worked out when
the recording is read. That path is tuned (see :class:`_TracedSteps`); what it
still costs is in the benchmarks (``make bench``, the lanes figure).

The block's own lane: on Python 3.12+ ``sys.monitoring`` reports each time the
block's code object yields or resumes, so its spans are exact; on 3.11 a thread
looks every 2 ms whether the block's frame is on the loop's stack (running) or not
(awaiting), so its spans are right to a few milliseconds.

All recorded times are **real** seconds from the block's start (the clock's one seam,
so tests may run it on virtual time): the fields keep that meaning. What a learner
*reads* is city seconds, like every other chart: :meth:`Recording.summary` and the
chart multiply by :attr:`Recording.speed` (the city clock's speed while recording),
so an 8-city-second Image Gen call reads 8 s at any ``CITYLIB_SPEED``
(:meth:`Recording.city` converts). A stall stays real time, and says so: it is the
one thing real time is the point of (``time.sleep(0.3)`` holds the loop 0.3 real
seconds at any speed).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, CoroutineType, FrameType
from typing import Any, Generic, TypeVar

from citylib._core import clock
from citylib._core.trace import MICROS, meta_event
from citylib._core.watch import (
    STALL_THRESHOLD,
    Stall,
    Watch,
    code_place,
    held_threshold,
    is_cell,
    is_user_code,
)

__all__ = [
    "KINDS",
    "LANE_STATUSES",
    "Lane",
    "Recorder",
    "Recording",
    "Span",
    "Stall",
    "record",
    "run",
]

#: What a lane can be doing: holding the loop, or suspended at an ``await``.
KINDS = ("running", "awaiting")

#: How a lane can end: ``"pending"`` when the recording closed before it did.
LANE_STATUSES = ("done", "error", "cancelled", "pending")

T = TypeVar("T")


# asyncio names a task "Task-N" unless it is given a name; with a task factory,
# Python 3.13.0's create_task renames an unnamed task "None".
_DEFAULT_TASK_NAME = re.compile(r"Task-\d+|None")


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one lane: ``kind`` is ``"running"`` or ``"awaiting"``.

    Attributes:
        kind: ``"running"`` (holding the loop) or ``"awaiting"`` (suspended).
        start: Seconds from the recording's start.
        end: Seconds from the recording's start.
        where: For an awaiting span, the learner's line it was suspended at
            (``"file.py:LINE"`` or ``"cell In[N], line LINE"``); empty for running.
    """

    kind: str
    start: float
    end: float
    where: str = ""

    @property
    def duration(self) -> float:
        """Seconds the span lasted."""
        return self.end - self.start


@dataclass(frozen=True)
class Lane:
    """One task's lane.

    Attributes:
        name: The task's name when it was given one, else its coroutine's
            ``__qualname__``.
        start: When the task was started (seconds from the recording's start).
        end: When it finished (or the recording's end, while pending).
        status: ``"done"``, ``"error"``, ``"cancelled"`` or ``"pending"``.
        spans: Running and awaiting stretches, in order.
    """

    name: str
    start: float
    end: float
    status: str
    spans: tuple[Span, ...] = ()

    def time(self, kind: str) -> float:
        """Seconds the lane spent ``"running"`` or ``"awaiting"``."""
        return sum(s.duration for s in self.spans if s.kind == kind)


# -- the hot path: one traced coroutine per task -----------------------------------------


# Whether a file holds the learner's code (see watch.is_user_code), by file name: a
# dict lookup on the hot path (a str's hash is kept; a code object's is not), the
# check itself once per file. is_user_code's own lru_cache costs more per call:
# 1.2 % more instructions for the whole recording benchmark.
_USER_FILES: dict[str, bool] = {}


def _learner_file(filename: str) -> bool:
    mine = _USER_FILES[filename] = is_user_code(filename)
    return mine


class _Thrown:
    """What :meth:`_TracedSteps.throw` hands :meth:`~_TracedSteps.send`: the exception to
    throw in, so that one method times every step and finds where it stopped."""

    __slots__ = ("args",)

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, StopIteration):
        return "done"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


class _Log:
    """One recording's raw steps, in the order they ran: flat, cheap to append to.

    A step is five values, ``task, start, end, code, line`` for a step that ended
    suspended (at ``code``'s ``line``), or ``task, start, end, outcome, name`` for a
    task's last step, laid end to end in one list: no object per step for the
    garbage collector to count or walk (10,000 tasks' tuples made it collect often
    enough to double a recording's cost).
    """

    __slots__ = ("add", "entries", "finished", "read")

    def __init__(self, read: Callable[[], float]) -> None:
        self.entries: list[Any] = []
        self.add: Callable[[tuple[Any, ...]], None] = self.entries.extend
        self.read = read
        self.finished = 0  # tasks whose last step is in

    def close(self) -> Iterator[tuple[Any, ...]]:
        """Stop taking steps (tasks may run on after the block); the steps so far."""
        self.add = _ignore
        values = iter(self.entries)  # no more are added: add is _ignore now
        return zip(values, values, values, values, values, strict=True)


def _ignore(step: tuple[Any, ...]) -> None:
    """A closed log's ``add``."""


class _TracedSteps(Coroutine[Any, Any, Any]):
    """A native coroutine of a task, noting the clock around every step (see the module doc).

    :meth:`send` runs once per step of every recorded task (a ``throw`` goes through
    it too), so it is written for speed: no calls but the clock's and the coroutine's.
    Where a suspended task stopped is the deepest of the learner's coroutines down
    the chain its own coroutine awaits (else its own frame), as the frame's code and
    ``f_lasti`` (:func:`_line` makes it a line later: ``f_lineno`` scans the line
    table). ``cr_code`` is read before ``cr_frame``: a frame object is made only for
    the coroutine that names the place, not for asyncio's ``sleep`` below it.

    No ``__getattr__``: a type with one makes every attribute read on it slow,
    asyncio's ``send`` included. What asyncio and debuggers read off a coroutine
    is passed through one by one (:data:`_PASSED_THROUGH`, and the name slots of
    :class:`_Traced`).
    """

    __slots__ = ("_coro", "_log", "_read", "_task")  # one per task: keep it small

    def __init__(self, coro: Coroutine[Any, Any, Any], task: int, log: _Log) -> None:
        self._coro = coro
        self._task = task
        self._log = log
        self._read = log.read
        self.__qualname__ = getattr(coro, "__qualname__", "")
        self.__name__ = getattr(coro, "__name__", "")

    def send(self, value: Any) -> Any:
        read = self._read
        start = read()
        coro = self._coro
        try:
            if value is None:  # what a task sends on every step but a throw
                step = coro.send(None)
            else:
                step = coro.throw(*value.args) if type(value) is _Thrown else coro.send(value)
        except BaseException as exc:
            self._finished(start, exc)
            raise
        at = coro
        below = coro.cr_await  # type: ignore[attr-defined]
        while below is not None:
            code = getattr(below, "cr_code", None)  # a future, a generator: not a coroutine
            if code is None:
                break
            mine = _USER_FILES.get(code.co_filename)
            if not (mine if mine is not None else _learner_file(code.co_filename)):
                break
            at, below = below, below.cr_await
        frame = at.cr_frame  # type: ignore[attr-defined]
        self._log.add((self._task, start, read(), frame.f_code, frame.f_lasti))
        return step

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        # The one-argument form, unless given more: the three are deprecated since 3.12.
        return self.send(_Thrown((typ,) if val is None and tb is None else (typ, val, tb)))

    def _finished(self, start: float, exc: BaseException) -> None:
        """The task's last step: its outcome, and its name now that it has its last one."""
        log = self._log
        outcome = "done" if type(exc) is StopIteration else _outcome(exc)
        task = asyncio.current_task()
        log.add((self._task, start, log.read(), outcome, task.get_name() if task else ""))
        log.finished += 1

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def __repr__(self) -> str:
        return repr(self._coro)


#: A coroutine's attributes that asyncio (a task's repr, ``get_stack``) and debuggers read.
_PASSED_THROUGH = ("cr_await", "cr_code", "cr_frame", "cr_origin", "cr_running", "cr_suspended")


def _passed_through(name: str) -> property:
    return property(lambda self: getattr(self._coro, name), doc=f"The coroutine's ``{name}``.")


for _name in _PASSED_THROUGH:
    setattr(_TracedSteps, _name, _passed_through(_name))

# A class statement cannot give its instances a __qualname__ of their own (the name
# is the class's); slots made by type() can, and asyncio's repr of a task reads it.
_Traced = type("_Traced", (_TracedSteps,), {
    "__slots__": ("__qualname__", "__name__"),
    "__module__": __name__,
    "__doc__": _TracedSteps.__doc__,
})


class _TracedOther(_Traced):  # type: ignore[misc,valid-type]
    """Any other :class:`~collections.abc.Coroutine` a task runs: timed the same, but
    without a chain of ``cr_await`` to trust, its own frame (if any) names the place."""

    __slots__ = ()

    def send(self, value: Any) -> Any:
        start = self._read()
        try:
            coro = self._coro
            step = coro.throw(*value.args) if type(value) is _Thrown else coro.send(value)
        except BaseException as exc:
            self._finished(start, exc)
            raise
        frame = getattr(self._coro, "cr_frame", None)
        code, offset = (frame.f_code, frame.f_lasti) if frame is not None else (None, 0)
        self._log.add((self._task, start, self._read(), code, offset))
        return step

    def __getattr__(self, name: str) -> Any:
        # Whatever this coroutine type offers comes from the coroutine itself.
        return getattr(self._coro, name)


if (3, 13) <= sys.version_info < (3, 13, 3):

    class _Task(asyncio.Task):  # type: ignore[type-arg]
        """A plain task that keeps its default name.

        With a task factory, Python 3.13.0 to 3.13.2's ``create_task`` calls
        ``set_name(None)``, which would rename an unnamed task ``"None"`` instead of
        ``"Task-N"`` (CPython gh-130033; 3.13.3 hands the name to the factory). A
        subclass costs every task a little, so only those releases get it.
        """

        __slots__ = ()

        def set_name(self, value: object) -> None:
            if value is not None:
                super().set_name(value)

    _Task.__name__ = _Task.__qualname__ = "Task"  # a task's repr reads "<Task ...>" as ever

else:
    _Task = asyncio.Task  # type: ignore[misc,assignment]


# -- the recording --------------------------------------------------------------------


@dataclass
class Recording(Generic[T]):
    """What a recording saw: the lanes, the stalls, and (for :func:`run`) the result.

    Attributes:
        stalls: Every time the loop was held at least ``threshold`` real seconds.
        threshold: Real seconds of holding that count as a stall.
        duration: Real seconds from the block's start to its end.
        result: What ``main()`` returned (:func:`run` only).
        speed: The city clock's speed while recording (``CITYLIB_SPEED``): city
            seconds per real second, for what a learner reads (:meth:`city`).
        origin: The clock's reading (real seconds, ``time.perf_counter`` unless the
            clock's seam is swapped) that the recorded times count from.
    """

    stalls: list[Stall] = field(default_factory=list)
    threshold: float = STALL_THRESHOLD
    duration: float = 0.0
    result: T | None = None
    speed: float = 1.0
    origin: float = 0.0
    # The lanes are built from the raw steps the first time anyone reads them, off
    # the recorded code's path (10,000 tasks' lanes take about as long as their run).
    _lanes: list[Lane] | None = field(default=None, repr=False)
    _build: Callable[[], list[Lane]] | None = field(default=None, repr=False)

    @property
    def lanes(self) -> list[Lane]:
        """One :class:`Lane` per task, in start order; the block's own code first."""
        if self._lanes is None:
            self._lanes = self._build() if self._build is not None else []
            self._build = None
        return self._lanes

    @property
    def makespan(self) -> float:
        """Real seconds from the block's start to the last lane's end (0 with no lanes)."""
        return max((lane.end for lane in self.lanes), default=0.0)

    def city(self, real_seconds: float) -> float:
        """``real_seconds`` of this recording as the city seconds a learner reads."""
        return real_seconds * self.speed

    def most_at_once(self) -> int:
        """The most lanes on the road at the same moment."""
        events = sorted(
            [(lane.start, 1) for lane in self.lanes] + [(lane.end, -1) for lane in self.lanes]
        )
        most = level = 0
        for _, step in events:
            level += step
            most = max(most, level)
        return most

    def summary(self) -> str:
        """One line a beginner reads instead of the chart."""
        n = len(self.lanes)
        line = (
            f"{n} {'lane' if n == 1 else 'lanes'} done in {self.city(self.makespan):.2f} s, "
            f"at most {self.most_at_once()} on the road at once"
        )
        troubled = [lane for lane in self.lanes if lane.status != "done"]
        if troubled:
            line += "; " + ", ".join(f"{lane.name} {lane.status}" for lane in troubled)
        if not self.stalls:
            return (
                line + f"; the event loop was never held ({self.threshold:g} s of real time "
                "or more). ✅"
            )
        worst = max(self.stalls, key=lambda s: s.duration)
        held = "once" if len(self.stalls) == 1 else f"{len(self.stalls)} times"
        code = f" ({worst.code})" if worst.code else ""
        return (
            line + f"; the event loop was held {held}, longest {worst.duration:.2f} s of real "
            f"time at {worst.where}{code}. 🚧"
        )

    def to_trace(self) -> dict[str, Any]:
        """The recording as Chrome / Perfetto trace JSON (see :mod:`citylib._core.trace`).

        One process, one thread per lane, a complete event per span, and the stalls
        on a thread of their own, each named by its line. Times are microseconds.
        """
        events: list[dict[str, Any]] = [meta_event("process_name", 1, None, {"name": "lanes"})]
        for tid, lane in enumerate(self.lanes, 1):
            events.append(meta_event("thread_name", 1, tid, {"name": lane.name}))
            events.append(meta_event("thread_sort_index", 1, tid, {"sort_index": tid}))
            for span in lane.spans:
                events.append(_complete(span.kind, span.kind, tid, span.start, span.end,
                                        {"where": span.where, "status": lane.status}))
        stall_tid = len(self.lanes) + 1
        if self.stalls:
            events.append(meta_event("thread_name", 1, stall_tid, {"name": "stalls"}))
            events.append(meta_event("thread_sort_index", 1, stall_tid, {"sort_index": stall_tid}))
        for stall in self.stalls:
            events.append(_complete(f"stall at {stall.where}", "stall", stall_tid, stall.start,
                                    stall.start + stall.duration, {"code": stall.code}))
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {"generator": "citylib.lanes", "clock": "real seconds"},
        }


def _complete(
    name: str, cat: str, tid: int, start: float, end: float, args: dict[str, Any]
) -> dict[str, Any]:
    ts = round(start * MICROS)
    return {"name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid, "ts": ts,
            "dur": max(0, round(end * MICROS) - ts), "args": args}


_active: contextvars.ContextVar[Recorder[Any] | None] = contextvars.ContextVar(
    "citylib_lanes", default=None
)

# sys.monitoring tool ids citylib may take (3 and 4 have no assigned role).
_TOOL_IDS = (4, 3)


class Recorder(Generic[T]):
    """Records the lanes of a block; use :func:`record` or :func:`run`.

    Args:
        threshold: Real seconds of holding that count as a stall (default: the
            course's rule, :func:`~citylib._core.watch.held_threshold`).
        recording: The recording to fill (a subclass adds drawing).
        block_name: The block's own lane's name (default: its function's name,
            ``"this cell"`` in a notebook).
    """

    def __init__(
        self,
        threshold: float | None = None,
        *,
        recording: Recording[T] | None = None,
        block_name: str | None = None,
        frame: FrameType | None = None,
    ) -> None:
        self.recording: Recording[T] = recording if recording is not None else Recording()
        threshold = held_threshold() if threshold is None else threshold
        self.recording.threshold = threshold
        self.recording.speed = clock.speed()
        self._watch = Watch(threshold, announce=False)
        self._block_name = block_name
        self._frame = frame
        self._read = clock.reading()
        self._origin = 0.0
        self._log = _Log(self._read)
        # (created, coroutine's __qualname__) of each task, by task number.
        self._born: list[tuple[float, str]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None
        self._token: contextvars.Token[Recorder[Any] | None] | None = None
        # ("resume" | "yield", when, where) of the block's own code, on 3.12+.
        self._block: list[tuple[str, float, str]] = []
        self._block_where: list[str] = []
        self._first_task = True
        self._tool: int | None = None
        self._sampler: _BlockSampler | None = None

    # -- the task factory ------------------------------------------------------------

    def _factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        # Once per task: kept lean, like _Traced.send.
        if _active.get() is self and (type(coro) is CoroutineType or asyncio.iscoroutine(coro)):
            born = self._born
            wrap = _Traced if type(coro) is CoroutineType else _TracedOther
            coro = wrap(coro, len(born), self._log)
            born.append((self._read(), coro.__qualname__ or _qualname(coro._coro)))
            if self._first_task:
                self._first_task = False
                self._note_block_where()
        previous = self._previous
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return _Task(coro, loop=loop, **kwargs)

    def _note_block_where(self) -> None:
        """The block is creating its first task: the line it is about to await it on."""
        if self._frame is not None:
            self._block_where.append(code_place(self._frame.f_code.co_filename,
                                                self._frame.f_lineno))

    # -- entering and leaving --------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start recording on ``loop`` (the block's code runs on it)."""
        self._loop = loop
        self._origin = self._read()
        self._watch._origin = _perf_origin(self._read, self._origin)
        self._previous = loop.get_task_factory()
        loop.set_task_factory(self._factory)
        self._token = _active.set(self)
        self._watch.__enter__()
        self._monitor_block()

    def stop(self) -> Recording[T]:
        """Stop recording, put the previous task factory back, and build the lanes."""
        end = self._read() - self._origin
        self._unmonitor_block()
        self._watch.__exit__(None, None, None)
        if self._token is not None:
            _active.reset(self._token)
        if self._loop is not None:
            self._loop.set_task_factory(self._previous)
        rec = self.recording
        rec.duration, rec.origin = end, self._origin
        rec.stalls = list(self._watch.roadblocks)
        # What the tasks had done when the block ended (they may run on after it),
        # and the names of those still running.
        log = self._log
        steps = log.close()
        running = log.finished < len(self._born)
        names = _pending_names(self._loop, log) if running and self._loop is not None else {}
        rec._lanes, rec._build = None, lambda: self._lanes(end, steps, names)
        return rec

    def _lanes(
        self, end: float, steps: Iterator[tuple[Any, ...]], names: dict[int, str]
    ) -> list[Lane]:
        origin = self._origin
        spans: list[list[Span]] = [[] for _ in self._born]
        ends: dict[int, tuple[float, str, str]] = {}
        waiting: dict[int, tuple[float, str]] = {}  # a task's open awaiting span
        places: dict[tuple[CodeType, int], str] = {}
        for task, start, stop, what, detail in steps:
            start, stop = start - origin, stop - origin
            lane = spans[task]
            opened = waiting.pop(task, None)
            if opened is not None:
                lane.append(Span("awaiting", opened[0], start, opened[1]))
            lane.append(Span("running", start, stop))
            if isinstance(what, str):  # the last step: (outcome, name)
                ends[task] = (stop, what, detail)
            else:
                waiting[task] = (stop, _where(what, detail, places))
        for task, (since, where) in waiting.items():
            spans[task].append(Span("awaiting", since, end, where))
        lanes = []
        for task, (created, qualname) in enumerate(self._born):
            finished, outcome, name = ends.get(task, (end, "pending", names.get(task, "")))
            lanes.append(Lane(
                name=name if name and not _DEFAULT_TASK_NAME.fullmatch(name) else qualname,
                start=created - origin,
                end=finished,
                status=outcome,
                spans=tuple(spans[task]),
            ))
        self._born = []
        return [self._block_lane(lanes, end), *lanes] if self._frame is not None else lanes

    def _block_lane(self, tasks: list[Lane], end: float) -> Lane:
        frame = self._frame
        assert frame is not None
        where = code_place(frame.f_code.co_filename, frame.f_lineno)
        name = self._block_name or _frame_name(frame)
        if self._block:
            return Lane(name, 0.0, end, "done", _monitored_spans(self._block, end, where))
        # Nothing seen (3.11 on a virtual clock, where the sampler does not run): running
        # until the first task's first step, awaiting until the last task's last
        # step before the block ended, running again to the end.
        steps = [s for lane in tasks for s in lane.spans if s.kind == "running"]
        if not steps:
            return Lane(name, 0.0, end, "done", (Span("running", 0.0, end),))
        first = min(s.start for s in steps)
        last = max(s.end for s in steps)
        waited = self._block_where[0] if self._block_where else where
        spans = (
            Span("running", 0.0, first),
            Span("awaiting", first, last, waited),
            Span("running", last, end),
        )
        return Lane(name, 0.0, end, "done", spans)

    # -- the block's own lane on 3.12+ ---------------------------------------------------

    def _monitor_block(self) -> None:
        frame = self._frame
        if frame is None:
            return
        if not frame.f_code.co_flags & inspect.CO_COROUTINE:  # plain code cannot await
            return
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is None:
            if self._read is time.perf_counter:  # sampling needs real time to pass
                self._sampler = _BlockSampler(frame, self._read, self._origin, self._block)
                self._sampler.start()
            return
        for tool in _TOOL_IDS:
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, "citylib-lanes")
                self._tool = tool
                break
        else:
            return
        code, events = frame.f_code, monitoring.events
        origin, read, block = self._origin, self._read, self._block
        home = frame

        def on_resume(code: CodeType, offset: int) -> None:
            if sys._getframe(1) is home:
                block.append(("resume", read() - origin, ""))

        def on_yield(code: CodeType, offset: int, value: object) -> None:
            caller = sys._getframe(1)
            if caller is home:
                block.append(("yield", read() - origin,
                              code_place(code.co_filename, caller.f_lineno)))

        monitoring.register_callback(self._tool, events.PY_RESUME, on_resume)
        monitoring.register_callback(self._tool, events.PY_YIELD, on_yield)
        monitoring.set_local_events(self._tool, code, events.PY_RESUME | events.PY_YIELD)

    def _unmonitor_block(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        if self._tool is None:
            return
        monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        assert self._frame is not None
        monitoring.set_local_events(self._tool, self._frame.f_code, 0)
        monitoring.register_callback(self._tool, monitoring.events.PY_RESUME, None)
        monitoring.register_callback(self._tool, monitoring.events.PY_YIELD, None)
        monitoring.free_tool_id(self._tool)
        self._tool = None


class _BlockSampler:
    """Python 3.11's view of the block's own lane: is its frame on the loop's stack?

    A thread looks every :data:`SAMPLE_EVERY` seconds (``sys._current_frames()``):
    the block is running while its frame is on the loop thread's stack, awaiting
    while it is not, suspended at the frame's current line. Changes are filed as
    the same ``("resume" | "yield", when, where)`` events ``sys.monitoring`` gives.
    """

    SAMPLE_EVERY = 0.002

    def __init__(
        self,
        frame: FrameType,
        read: Callable[[], float],
        origin: float,
        events: list[tuple[str, float, str]],
    ) -> None:
        self._frame = frame
        self._read = read
        self._origin = origin
        self._events = events
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="citylib-lanes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        block, running = self._frame, True
        while not self._stop.wait(self.SAMPLE_EVERY):
            frame = sys._current_frames().get(self._loop_thread)
            on_stack = False
            while frame is not None:
                if frame is block:
                    on_stack = True
                    break
                frame = frame.f_back
            del frame
            if on_stack != running:
                when = self._read() - self._origin
                if on_stack:
                    self._events.append(("resume", when, ""))
                else:
                    place = code_place(block.f_code.co_filename, block.f_lineno)
                    self._events.append(("yield", when, place))
                running = on_stack


def _perf_origin(read: Callable[[], float], origin: float) -> float:
    """The watcher's origin on ``time.perf_counter``, matching ``origin`` on ``read``."""
    return time.perf_counter() - (read() - origin)


def _monitored_spans(
    events: list[tuple[str, float, str]], end: float, where: str
) -> tuple[Span, ...]:
    spans: list[Span] = []
    running_since: float | None = 0.0
    waiting: tuple[float, str] | None = None
    for kind, when, place in events:
        if kind == "yield" and running_since is not None:
            spans.append(Span("running", running_since, when))
            running_since, waiting = None, (when, place)
        elif kind == "resume" and waiting is not None:
            spans.append(Span("awaiting", waiting[0], when, waiting[1]))
            running_since, waiting = when, None
    if running_since is not None:
        spans.append(Span("running", running_since, end))
    elif waiting is not None:
        spans.append(Span("awaiting", waiting[0], end, waiting[1] or where))
    return tuple(spans)


def _where(code: CodeType | None, offset: int, places: dict[tuple[CodeType, int], str]) -> str:
    """A suspension point as the learner reads it (``"file.py:LINE"``), each worked out once."""
    if code is None:
        return ""
    place = places.get((code, offset))
    if place is None:
        place = places[(code, offset)] = code_place(code.co_filename, _line(code, offset))
    return place


def _line(code: CodeType, offset: int) -> int:
    """The line of the instruction at ``offset`` (a frame's ``f_lasti``), as ``f_lineno`` says."""
    for start, end, line in code.co_lines():
        if start <= offset < end and line is not None:
            return line
    return code.co_firstlineno


def _pending_names(loop: asyncio.AbstractEventLoop, log: _Log) -> dict[int, str]:
    """The names of the recorded tasks still running, by task number."""
    names = {}
    for task in asyncio.all_tasks(loop):
        coro = task.get_coro()
        if isinstance(coro, _TracedSteps) and coro._log is log:
            names[coro._task] = task.get_name()
    return names


def _qualname(coro: Any) -> str:
    return str(getattr(coro, "__qualname__", None) or getattr(coro, "__name__", "task"))


def _frame_name(frame: FrameType) -> str:
    """The block's lane: ``"this cell"`` in a notebook, else its function's name."""
    code = frame.f_code
    if code.co_name == "<module>":
        return "this cell" if is_cell(code.co_filename) else "main"
    return code.co_qualname


_CITYLIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _block_frame() -> FrameType:
    """The frame of the code that entered the recording: the first outside citylib
    and contextlib (which ``with`` goes through)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_CITYLIB)
        or os.path.basename(frame.f_code.co_filename) == "contextlib.py"
    ):
        frame = frame.f_back
    return frame


# -- the two ways in -----------------------------------------------------------------


@contextmanager
def record(
    threshold: float | None = None, *, recording: Recording[Any] | None = None
) -> Iterator[Recording[Any]]:
    """Record every task started inside the block, and the block's own code, as lanes.

    Use it inside running async code (a notebook cell, an ``async def``)::

        with lanes.record() as rec:
            await asyncio.gather(fetch_weather(), generate_image())
        print(rec.summary())

    The recording is filled in when the block ends, also when it ends in an error.

    Args:
        threshold: Real seconds of holding that count as a stall (default: the
            course's rule, :func:`~citylib._core.watch.held_threshold`).
        recording: The recording to fill (default: a new :class:`Recording`).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "lanes.record() records a running event loop: use it inside async code or a "
            "notebook cell; in a script, use lanes.run(main())"
        ) from None
    recorder: Recorder[Any] = Recorder(threshold, recording=recording, frame=_block_frame())
    recorder.start(loop)
    try:
        yield recorder.recording
    finally:
        recorder.stop()


def run(
    main: Coroutine[Any, Any, T],
    *,
    threshold: float | None = None,
    recording: Recording[T] | None = None,
) -> Recording[T]:
    """Like ``asyncio.run(main())``, recording every task as a lane; ``main`` is the first.

    ``rec.result`` is what ``main()`` returned. An exception from ``main()`` propagates
    after the recording is closed (then the recording is lost with the frame that
    raised; record inside ``main`` to keep it).

    Args:
        main: The coroutine, such as ``main()``.
        threshold: Real seconds of holding that count as a stall (default: the
            course's rule, :func:`~citylib._core.watch.held_threshold`).
        recording: The recording to fill (default: a new :class:`Recording`).
    """
    if not asyncio.iscoroutine(main):
        raise TypeError(
            f"lanes.run() needs a coroutine such as lanes.run(main()), not "
            f"{type(main).__name__}; did you forget the parentheses?"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        main.close()
        raise RuntimeError(
            "lanes.run() starts its own event loop, and one is running here: in a notebook "
            "cell use `with lanes.record() as rec:` or %%lanes"
        )
    recorder: Recorder[T] = Recorder(threshold, recording=recording)
    box: dict[str, Any] = {}

    async def recorded() -> None:
        recorder.start(asyncio.get_running_loop())
        try:
            box["result"] = await asyncio.get_running_loop().create_task(main)
        finally:
            recorder.stop()

    with asyncio.Runner() as runner:
        runner.run(recorded())
    rec = recorder.recording
    rec.result = box.get("result")
    return rec

