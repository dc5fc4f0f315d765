"""Inside the loop: run asyncio code one turn of the event loop at a time, and film it.

``run(main())`` runs ``main()`` to its end on a fresh event loop of asyncio's own
kind (a ``SelectorEventLoop``), driven from outside one **turn** at a time (the
loop's ``_run_once``: take every handle in the **ready queue** and run it once). Each
turn is filmed as a :class:`Turn`: the ready queue at its start, each step a task
took (:class:`Step`: where it stopped, how, how long it held the loop), who waits on
what afterwards (:class:`Wait`), the **timers** set (:class:`Timer`), and what was
printed.

Time is virtual: the film's clock is the loop's ``time()``, and when nothing is ready
it jumps to the next timer, so ``await asyncio.sleep(1)`` takes no real time. While
code runs the clock stands still, unless the code holds the loop for a stall
(:data:`~citylib._core.watch.STALL_THRESHOLD` real seconds or more, such as
``time.sleep(0.3)``): then the clock runs on with real time, as it would under
``asyncio.run``, and the step names the line that held it (sampled the way the loop
watcher samples it, so it names the line ``citylib.lanes`` names for a stall).
Inside the film a city second is one second of the film's clock (speed 1, whatever
``CITYLIB_SPEED`` says): virtual seconds cost nothing. While a thread works for the
loop (``to_thread``, ``run_in_executor``) or a socket of the program's is open, the
loop waits for real and the clock follows real time, so that no timer jumps ahead of
real work.

Faithful: the loop, its tasks and their order are asyncio's own; results,
exceptions, cancellation and context variables pass untouched; printed text still
goes where it went (and is noted too). The end is ``asyncio.run``'s: tasks left over
are cancelled (filmed), then async generators and the default executor are shut down.

Private details of asyncio this relies on, each pinned by a test in
``tests/test_stepper.py`` (``test_private_asyncio_details_*``): the loop's
``_run_once``, ``_ready`` (a deque it pops from the left) and ``_scheduled`` (the
timers' heap); ``_thread_id``, ``_asyncgen_firstiter_hook`` and
``_asyncgen_finalizer_hook`` (what ``run_forever`` sets up); ``Handle._callback``
and ``Handle._args``; a task's step or wake-up callback having the task as its
``__self__``; ``Task._fut_waiter``; ``asyncio.events._get_running_loop`` and
``_set_running_loop``; and on 3.14+ ``asyncio.tasks._swap_current_task``
(Python 3.14 keeps one current task per thread, so the cell's own task is swapped
out while the film runs; not tested here, as no 3.14 is installed: its pin runs on
3.12+, where the function exists with the same contract).
"""

from __future__ import annotations

import asyncio
import collections
import io
import selectors
import sys
import threading
import time
from asyncio import events as _events
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType, TracebackType
from typing import Any, Generic, Literal, TypeVar

from citylib._core import clock
from citylib._core.lanes import lane_name
from citylib._core.watch import STALL_THRESHOLD, Spot, code_place, is_user_code, user_spot

__all__ = [
    "MAX_TURNS",
    "OUTCOMES",
    "Film",
    "Outcome",
    "Step",
    "StepLimitError",
    "Timer",
    "Turn",
    "Wait",
    "run",
]

T = TypeVar("T")

#: How a step of a task ended: suspended at an ``await``, or the task's end.
Outcome = Literal["awaiting", "done", "error", "cancelled"]
OUTCOMES: tuple[Outcome, ...] = ("awaiting", "done", "error", "cancelled")

#: Turns a film may take before the program counts as a runaway.
MAX_TURNS = 100_000

#: Real seconds the loop may wait for a thread or for I/O, with no timer set, before
#: the program counts as stuck (waiting for something that never comes).
WAIT_LIMIT = 30.0

# How often the hold sampler looks whether a step is still running, and from when on
# it samples the stack of a step that runs long (real seconds).
_SAMPLE_EVERY = 0.005
_SAMPLE_AFTER = 0.02

_perf = time.perf_counter


# -- what a film holds ---------------------------------------------------------------


# Step and Wait are made once per step (tens of thousands a film): plain slotted
# dataclasses, read-only by convention; frozen ones cost four times as much to make.
@dataclass(slots=True)
class Step:
    """One step of a task in a turn: it ran from where it was to where it stopped.

    Attributes:
        task: The task's name, as ``citylib.lanes`` names its lane.
        line: The learner's line where it stopped (``"file.py:12"`` or ``"cell
            In[4], line 2"``, as ``citylib.lanes`` writes places): the ``await`` it
            is suspended at, or the line it returned or raised from.
        outcome: ``"awaiting"``, ``"done"``, ``"error"`` or ``"cancelled"``.
        held: Real seconds the step held the loop (nobody else could run).
        held_at: For a step that held the loop for a stall (at least the
            threshold), the learner's line that held it (as ``citylib.lanes``
            names a stall's line); else empty.
    """

    task: str
    line: str
    outcome: Outcome
    held: float
    held_at: str = field(default="", compare=False)
    # (file, line) of ``line`` and of ``held_at``, for views that show the code.
    spot: tuple[str, int] = field(default=("", 0), compare=False, repr=False)
    held_spot: tuple[str, int] = field(default=("", 0), compare=False, repr=False)
    # Which task, by the order tasks first ran in the film (names may repeat).
    number: int = field(default=0, compare=False, repr=False)


@dataclass(slots=True)
class Wait:
    """A suspended task after a turn.

    Attributes:
        task: The task's name.
        line: The learner's line it waits at.
        on: What it waits for, in words: ``"sleep until 1.0 s"``, ``"task worker"``,
            ``"Queue.get"``, ``"Queue.put"``, ``"gather"``, ``"a future"``...
    """

    task: str
    line: str
    on: str
    spot: tuple[str, int] = field(default=("", 0), compare=False, repr=False)
    number: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer set on the loop after a turn: at ``when`` (the film's clock) it fires.

    Attributes:
        when: The clock reading it is due at.
        what: What firing it does, in words (``"wake courier (sleep)"``).
    """

    when: float
    what: str


@dataclass(slots=True)
class Turn:
    """One turn of the event loop: run everything that was ready, once.

    Attributes:
        number: 1 for the first turn.
        clock: The loop's time (virtual seconds) when the turn began.
        ready: The ready queue at its start, in order: a task by its name, any
            other handle by a short description.
        ran: Each step a task took in this turn, in order.
        waiting: Each suspended task after the turn, and what it waits for.
        timers: The timers set after the turn, soonest first.
        printed: What was printed during the turn.
    """

    number: int
    clock: float
    ready: list[str]
    ran: list[Step]
    waiting: list[Wait]
    printed: str
    timers: list[Timer] = field(default_factory=list)


class StepLimitError(RuntimeError):
    """The program was still running after the film's turn limit, or it waited for
    something that never came. ``film`` holds the turns filmed until then."""

    def __init__(self, message: str, film: Film[Any]) -> None:
        super().__init__(message)
        self.film = film


@dataclass
class Film(Generic[T]):
    """A program's run, turn by turn (see the module doc).

    Attributes:
        result: What ``main()`` returned (None when it raised).
        error: The exception ``main()`` raised (None when it returned).
        turns: The turns, in order.
        threshold: Real seconds of holding that count as a stall.
        code: The learner's source the film ran through: ``(file, first line,
            lines)`` for each function, in the order the film met them.
    """

    result: T | None = None
    error: BaseException | None = None
    turns: list[Turn] = field(default_factory=list)
    threshold: float = STALL_THRESHOLD
    code: list[tuple[str, int, list[str]]] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        """Every task's name, in the order each first ran (a name once per task)."""
        seen: dict[int, str] = {}
        for turn in self.turns:
            for step in turn.ran:
                seen.setdefault(step.number, step.task)
        return list(seen.values())

    @property
    def holds(self) -> list[tuple[Turn, Step]]:
        """Every step that held the loop for a stall, with its turn."""
        return [(t, s) for t in self.turns for s in t.ran if s.held >= self.threshold]

    def summary(self) -> str:
        """One line a beginner reads instead of the film."""
        n, tasks = len(self.turns), len(self.tasks)
        end = self.turns[-1].clock if self.turns else 0.0
        clock_words = (
            f"the clock went from 0 to {fmt_seconds(end)} s" if end > 0
            else "the clock stayed at 0 (nobody slept)"
        )
        line = (
            f"{n} {'turn' if n == 1 else 'turns'} of the event loop, "
            f"{tasks} {'task' if tasks == 1 else 'tasks'}, {clock_words}"
        )
        if self.error is not None:
            main = self.tasks[0] if self.tasks else "main"
            line += f"; {main}() raised {type(self.error).__name__}"
        holds = self.holds
        if not holds:
            return line + "; no step held the loop. ✅"
        turn, worst = max(holds, key=lambda pair: pair[1].held)
        times = "once" if len(holds) == 1 else f"{len(holds)} times"
        where = f" at {worst.held_at}" if worst.held_at else ""
        return (
            line + f"; a step held the loop {times}, longest {worst.held:.2f} s "
            f"({worst.task} in turn {turn.number}{where}). 🚧"
        )


def fmt_seconds(seconds: float) -> str:
    """A clock reading as a learner reads it: ``1.0``, ``0.25``, ``2.5``."""
    text = f"{round(seconds, 3):.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


# -- the film's clock, selector and ready queue ----------------------------------------


class _Clock:
    """The film's clock: virtual seconds, which jump when the loop would wait.

    While a step runs the clock stands still, unless the step has held the loop for
    a stall: then it runs on with real time (see the module doc).
    """

    __slots__ = ("now", "step_started", "threshold")

    def __init__(self, threshold: float) -> None:
        self.now = 0.0
        self.step_started = 0.0  # perf_counter reading; 0 while no step runs
        self.threshold = threshold

    def time(self) -> float:
        started = self.step_started
        if started:
            ran = _perf() - started
            if ran >= self.threshold:
                return self.now + ran
        return self.now


class _StuckError(Exception):
    """The loop waited for a thread or I/O for longer than the film allows."""


class _FilmSelector(selectors.DefaultSelector):
    """The loop's selector: instead of sleeping until the next timer, the clock jumps.

    The loop asks ``select(timeout)`` with the time left to its next timer. Real I/O
    that is already there is answered at once; otherwise the clock moves on by
    ``timeout`` (to the timer itself, exactly) and no real time passes. While a thread
    works for the loop (``run_in_executor``, ``to_thread``) or a socket of the
    program's is open, jumping would let a timer beat work that takes real time: then
    the loop waits for real, up to the timer, and the clock follows real time. With
    no timer (``None``), the loop waits for real too, up to the wait limit.
    """

    def __init__(self, film_clock: _Clock, wait_limit: float) -> None:
        super().__init__()
        self.clock = film_clock
        self.wait_limit = wait_limit
        self.timers: list[asyncio.TimerHandle] = []  # the loop's heap, set once it exists
        self.idle_threads = 0  # threads alive when the film began
        self.own_fds = 1  # the loop's own wake-up pipe
        self.in_threads = 0  # calls running in the loop's executor

    def select(self, timeout: float | None = None) -> list[Any]:
        events: list[Any] = super().select(0)
        if events or (timeout is not None and timeout <= 0):
            return events
        if timeout is not None and not self.busy():
            self._jump(timeout)
            return events
        return self._wait_for_real(timeout)

    def busy(self) -> bool:
        """Whether real work is under way that the clock must not jump past."""
        return self.in_threads > 0 or len(self.get_map()) > self.own_fds

    def _jump(self, timeout: float) -> None:
        film_clock = self.clock
        target = film_clock.now + timeout
        heap = self.timers
        if heap and heap[0].when() <= target + 1e-9:
            target = max(film_clock.now, heap[0].when())  # no rounding drift: 1.0, not 0.9999…
        film_clock.now = target

    def _wait_for_real(self, timeout: float | None) -> list[Any]:
        began = _perf()
        # Nothing can wake the loop when no other thread is alive and nothing but the
        # loop's own wake-up pipe is registered: waiting would be forever.
        hopeless = not self.busy() and threading.active_count() <= self.idle_threads
        limit = min(self.wait_limit, 0.5) if hopeless else self.wait_limit
        while True:
            left = 0.05 if timeout is None else min(0.05, timeout - (_perf() - began))
            events: list[Any] = super().select(max(left, 0))
            waited = _perf() - began
            if events:
                self.clock.now += waited
                return events
            if timeout is not None and waited >= timeout:
                self._jump(timeout)  # the timer's own time, exactly
                return events
            if waited >= limit:
                raise _StuckError(waited)


class _Ready(collections.deque):  # type: ignore[type-arg]
    """The loop's ready queue, watched: each handle the loop takes is a step's start.

    ``_run_once`` moves the due timers into the queue, then pops exactly as many
    handles as it holds, running each: the first pop of a turn sees the whole queue
    the turn runs, and each pop ends the previous handle's run.
    """

    __slots__ = ("film",)

    def __init__(self, film: _Filming[Any]) -> None:
        super().__init__()
        self.film = film

    def popleft(self) -> Any:
        film = self.film
        if film.running is not None:
            film.end_step()
        elif film.turn_start is None:
            film.begin_turn(self)
        handle = super().popleft()
        film.begin_step(handle)
        return handle


# -- the hold sampler ------------------------------------------------------------------


class _HoldSampler:
    """Which line holds the loop? A thread samples the loop thread's stack while a
    step runs long, the way the loop watcher samples a stuck loop."""

    def __init__(self, film_clock: _Clock) -> None:
        self._clock = film_clock
        self._thread_id = threading.get_ident()
        self._stop = threading.Event()
        self.serial = 0  # the running step's number, set by the film
        self.samples: dict[int, Counter[Spot]] = {}
        self._thread = threading.Thread(target=self._run, name="citylib-stepper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def take(self, serial: int) -> Counter[Spot] | None:
        return self.samples.pop(serial, None)

    def _run(self) -> None:
        film_clock, samples = self._clock, self.samples
        while not self._stop.wait(_SAMPLE_EVERY):
            started, serial = film_clock.step_started, self.serial
            if not started or _perf() - started < _SAMPLE_AFTER:
                continue
            frame = sys._current_frames().get(self._thread_id)
            spot = user_spot(frame)
            del frame
            if spot is not None and serial == self.serial and film_clock.step_started:
                samples.setdefault(serial, Counter())[spot] += 1


# -- filming ---------------------------------------------------------------------------


class _Tee(io.TextIOBase):
    """``sys.stdout`` during the film: text goes where it went (unless ``echo`` is off),
    and is noted too."""

    def __init__(self, target: Any, echo: bool = True) -> None:
        self.target = target
        self.echo = echo
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        if not self.echo:
            return len(text)
        return int(self.target.write(text) or len(text))

    def flush(self) -> None:
        if self.echo:
            self.target.flush()

    def taken(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


#: What a wait says once its future is done: the task is back in the ready queue.
_WOKEN = "woken, ready for the next turn"
#: ... and once its future was cancelled: the task is called off at that await.
_CALLED_OFF = "cancelled: CancelledError at this await next turn"

# What a callback that is not a task's step does, in words (by its __qualname__).
_CALLBACKS = {
    "_set_result_unless_cancelled": "wake-up",
    "BaseSelectorEventLoop._read_from_self": "a message from another thread",
    "Timeout._on_timeout": "⏰ the timeout's deadline",
    "_release_waiter": "⏰ the timeout's deadline",
    "gather.<locals>._done_callback": "gather's bookkeeping",
    "_GatheringFuture._done_callback": "gather's bookkeeping",
    "TaskGroup._on_task_done": "TaskGroup's bookkeeping",
}

# What a task waits for, by the library coroutine it is suspended in (its __qualname__).
_WAITS = {
    "Queue.get": "Queue.get",
    "Queue.put": "Queue.put",
    "Queue.join": "Queue.join",
    "Event.wait": "Event.wait",
    "Lock.acquire": "Lock.acquire",
    "Semaphore.acquire": "Semaphore.acquire",
    "BoundedSemaphore.acquire": "Semaphore.acquire",
    "Condition.wait": "Condition.wait",
    "Barrier.wait": "Barrier.wait",
    "TaskGroup.__aexit__": "its TaskGroup's tasks",
    "TaskGroup._aexit": "its TaskGroup's tasks",
    "wait_for": "wait_for",
    "wait": "asyncio.wait",
    "to_thread": "a thread (to_thread)",
    "Timeout.__aexit__": "its timeout",
}


class _Filming(Generic[T]):
    """One film being made: the loop, its clock, and the turn being filmed."""

    def __init__(self, film: Film[T], max_turns: int, wait_limit: float) -> None:
        self.film = film
        self.max_turns = max_turns
        self.clock = _Clock(film.threshold)
        self.selector = _FilmSelector(self.clock, wait_limit)
        self.loop = asyncio.SelectorEventLoop(self.selector)
        self.loop.time = self.clock.time  # type: ignore[method-assign]
        self.selector.timers = self.loop._scheduled  # type: ignore[attr-defined]
        self.selector.own_fds = len(self.selector.get_map())
        self.loop.run_in_executor = self.counted(self.loop.run_in_executor)  # type: ignore[method-assign,assignment]
        self.ready = _Ready(self)
        self.loop._ready = self.ready  # type: ignore[attr-defined]
        self.sampler = _HoldSampler(self.clock)
        self.tee: _Tee | None = None
        self.recording = True
        self.turn_count = 0
        # The turn being filmed.
        self.turn_start: float | None = None
        self.turn_ready: list[str] = []
        self.steps: list[Step] = []
        # The handle running now: (task, its top coroutine's frame, serial), or None.
        self.running: tuple[asyncio.Task[Any] | None, FrameType | None, int] | None = None
        self.serial = 0
        # Each suspended task's wait, and the future it waits on (done: it is woken).
        self.waits: dict[asyncio.Task[Any], tuple[Wait, Any]] = {}
        # By id: the object is kept beside its entry, so a reused id is never mistaken.
        self.waiter_of: dict[int, tuple[Any, str]] = {}  # future -> the task waiting on it
        self.timer_what: dict[int, tuple[Any, Timer]] = {}  # TimerHandle -> Timer
        self.places: dict[tuple[str, int], str] = {}
        self.names: dict[asyncio.Task[Any], tuple[str, str]] = {}  # task -> (its name, lane's)
        self.numbers: dict[asyncio.Task[Any], int] = {}
        self.codes: dict[CodeType, None] = {}

    def counted(self, run_in_executor: Callable[..., Any]) -> Callable[..., Any]:
        """The loop's ``run_in_executor``, counting the calls in flight (``to_thread``
        goes through it): while one runs, the clock must not jump (see the selector)."""
        selector = self.selector

        def finished(_: object) -> None:
            selector.in_threads -= 1

        def run(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            future = run_in_executor(executor, func, *args)
            selector.in_threads += 1
            future.add_done_callback(finished)
            return future

        return run

    # -- a turn ------------------------------------------------------------------

    def turn(self) -> None:
        """Run one turn of the loop, filming it when anything ran."""
        self.turn_count += 1
        self.turn_start = None
        self.loop._run_once()  # type: ignore[attr-defined]
        if self.running is not None:
            self.end_step()
        if self.turn_start is None:
            return  # nothing was ready: the loop only waited (or jumped)
        printed = self.tee.taken() if self.tee is not None else ""
        if not self.recording:
            return
        film = self.film
        film.turns.append(Turn(
            number=len(film.turns) + 1,
            clock=self.turn_start,
            ready=self.turn_ready,
            ran=self.steps,
            waiting=self.waiting(),
            printed=printed,
            timers=self.timers(),
        ))
        self.steps = []

    def begin_turn(self, ready: collections.deque[Any]) -> None:
        self.turn_start = self.clock.now
        if self.recording:
            self.turn_ready = [self.describe(h) for h in ready if not h._cancelled]

    def begin_step(self, handle: Any) -> None:
        callback = handle._callback
        task = getattr(callback, "__self__", None)
        if not isinstance(task, asyncio.Task) or handle._cancelled:
            task, frame = None, None
        else:
            frame = getattr(task.get_coro(), "cr_frame", None)
        self.serial += 1
        self.sampler.serial = self.serial
        self.running = (task, frame, self.serial)
        self.clock.step_started = _perf()

    def end_step(self) -> None:
        held = _perf() - self.clock.step_started
        film_clock = self.clock
        film_clock.step_started = 0.0
        if held >= film_clock.threshold:
            film_clock.now += held  # the loop was held: its clock ran on meanwhile
        running = self.running
        assert running is not None
        self.running = None
        task, frame, serial = running
        samples = self.sampler.take(serial)
        if task is None or not self.recording:
            return
        name = self.name_of(task)
        held_at, held_spot = "", ("", 0)
        if held >= film_clock.threshold and samples:
            top = samples.most_common(1)[0][0]
            held_spot = (top.filename, top.lineno)
            held_at = self.place(held_spot)
        if task.done():
            self.waits.pop(task, None)
            outcome: Outcome = (
                "cancelled" if task.cancelled() else "error" if task.exception() else "done"
            )
            spot = _end_spot(task, frame)
            self.steps.append(Step(name, self.place(spot), outcome, held, held_at, spot,
                                   held_spot, self.number_of(task)))
            return
        spot, library = self.suspended_at(task)
        line = self.place(spot)
        number = self.number_of(task)
        self.steps.append(Step(name, line, "awaiting", held, held_at, spot, held_spot, number))
        future = task._fut_waiter  # type: ignore[attr-defined]
        if future is None:  # a bare yield (sleep(0)): straight back to the ready queue
            self.waits.pop(task, None)
            return
        self.waiter_of[id(future)] = (future, name)
        self.waits.pop(task, None)  # re-inserted: the waiting list keeps the order of waits
        wait = Wait(name, line, self.waits_on(future, library), spot, number)
        self.waits[task] = (wait, future)

    def waiting(self) -> list[Wait]:
        """The waits after a turn; one whose future is done is woken: ready next turn."""
        found = []
        for wait, future in self.waits.values():
            if future.done():
                news = _CALLED_OFF if future.cancelled() else _WOKEN
                wait = Wait(wait.task, wait.line, f"{wait.on} → {news}", wait.spot, wait.number)
            found.append(wait)
        return found

    # -- where and what ------------------------------------------------------------

    def number_of(self, task: asyncio.Task[Any]) -> int:
        """The task's number in the film: 1 for the first task that ran, and so on."""
        number = self.numbers.get(task)
        if number is None:
            number = self.numbers[task] = len(self.numbers) + 1
        return number

    def name_of(self, task: asyncio.Task[Any]) -> str:
        """The task's name as ``citylib.lanes`` names its lane (worked out once a name)."""
        given = task.get_name()
        known = self.names.get(task)
        if known is not None and known[0] == given:
            return known[1]
        name = lane_name(given, _qualname(task.get_coro()))
        self.names[task] = (given, name)
        return name

    def suspended_at(self, task: asyncio.Task[Any]) -> tuple[tuple[str, int], str]:
        """Where ``task`` is suspended, as ``citylib.lanes`` finds it (the deepest of the
        learner's coroutines down its chain of awaits), and the library coroutine
        below that, if any (by ``__qualname__``)."""
        at = task.get_coro()
        below = getattr(at, "cr_await", None)
        library = ""
        while below is not None:
            code = getattr(below, "cr_code", None)
            if code is None:
                break
            if not is_user_code(code.co_filename):
                library = code.co_qualname
                break
            at, below = below, below.cr_await
        frame = getattr(at, "cr_frame", None)
        if frame is None:
            return ("", 0), library
        self.codes.setdefault(frame.f_code, None)
        return (frame.f_code.co_filename, frame.f_lineno), library

    def place(self, spot: tuple[str, int]) -> str:
        if not spot[0]:
            return ""
        place = self.places.get(spot)
        if place is None:
            place = self.places[spot] = code_place(*spot)
        return place

    def waits_on(self, future: Any, library: str) -> str:
        timer = self.sleep_timer(future)
        if timer is not None:
            return f"sleep until {fmt_seconds(timer)} s"
        if isinstance(future, asyncio.Task):
            return f"task {self.name_of(future)}"
        if library in _WAITS:
            return _WAITS[library]
        if type(future).__name__ == "_GatheringFuture":
            return "gather"
        return library or "a future"

    def sleep_timer(self, future: Any) -> float | None:
        """When the timer that resolves ``future`` (an ``asyncio.sleep``'s) is due."""
        for handle in reversed(self.loop._scheduled):  # type: ignore[attr-defined]
            args = handle._args
            if args and args[0] is future and not handle._cancelled:
                return float(handle.when())
        return None

    def describe(self, handle: Any) -> str:
        """A ready handle in a few words: a task by its name, anything else by its job."""
        callback = handle._callback
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            return self.name_of(owner)
        what = _CALLBACKS.get(getattr(callback, "__qualname__", ""), "")
        if what == "wake-up":
            future = handle._args[0] if handle._args else None
            known = self.waiter_of.get(id(future))
            return f"⏰ wake {known[1]}" if known and known[0] is future else "⏰ wake-up"
        if what:
            return what
        return f"callback {getattr(callback, '__qualname__', type(callback).__name__)}"

    def timers(self) -> list[Timer]:
        found = []
        for handle in self.loop._scheduled:  # type: ignore[attr-defined]
            if handle._cancelled:
                continue
            known = self.timer_what.get(id(handle))
            timer = known[1] if known is not None and known[0] is handle else None
            if timer is None:
                what = self.describe(handle)
                if what.startswith("⏰ wake "):
                    what = f"wake {what.removeprefix('⏰ wake ')} (sleep)"
                elif what == "⏰ wake-up":
                    what = "wake-up (sleep)"
                what = what.removeprefix("⏰ ")
                timer = Timer(float(handle.when()), what)
                self.timer_what[id(handle)] = (handle, timer)
            found.append(timer)
        found.sort(key=lambda t: t.when)
        return found

    # -- the whole run ---------------------------------------------------------------

    def drive(self, future: asyncio.Future[Any], limit: int) -> None:
        """Turn the loop until ``future`` is done, at most ``limit`` more turns."""
        stop = self.turn_count + limit
        while not future.done():
            if self.turn_count >= stop:
                raise _RunawayError
            self.turn()

    def source(self) -> list[tuple[str, int, list[str]]]:
        import inspect

        found = []
        for code in self.codes:
            try:
                lines, first = inspect.getsourcelines(code)
            except (OSError, TypeError):
                continue
            found.append((code.co_filename, first, [line.rstrip("\n") for line in lines]))
        return found


class _RunawayError(Exception):
    """The turn limit was reached."""


def _qualname(coro: Any) -> str:
    return str(getattr(coro, "__qualname__", None) or getattr(coro, "__name__", "task"))


def _end_spot(task: asyncio.Task[Any], frame: FrameType | None) -> tuple[str, int]:
    """Where a finished task stopped: the learner's line it raised at, else its last line."""
    if not task.cancelled():
        error = task.exception()
        if error is not None:
            tb: TracebackType | None = error.__traceback__
            found = ("", 0)
            while tb is not None:
                if is_user_code(tb.tb_frame.f_code.co_filename):
                    found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
                tb = tb.tb_next
            if found[0]:
                return found
    if frame is None:
        return ("", 0)
    return (frame.f_code.co_filename, frame.f_lineno)


@contextmanager
def _loop_in_charge(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Make ``loop`` this thread's running loop for the block, as ``run_forever`` does,
    and put back whatever was running (a notebook's loop, its cell's task) after."""
    previous = _events._get_running_loop()
    # 3.14 keeps one current task per thread (the cell's, in a notebook): swap it out.
    # Before, each loop has its own, and 3.12.1's swap to None of a loop without one
    # raises KeyError.
    swap = (
        asyncio.tasks._swap_current_task  # type: ignore[attr-defined]
        if sys.version_info >= (3, 14) else None
    )
    hooks = sys.get_asyncgen_hooks()
    _events._set_running_loop(loop)
    outer_task = swap(loop, None) if swap is not None else None
    loop._thread_id = threading.get_ident()  # type: ignore[attr-defined]
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
    )
    try:
        yield
    finally:
        sys.set_asyncgen_hooks(*hooks)
        loop._thread_id = None  # type: ignore[attr-defined]
        if swap is not None:
            swap(loop, outer_task)
        _events._set_running_loop(previous)


def run(
    main: Coroutine[Any, Any, T],
    *,
    threshold: float = STALL_THRESHOLD,
    max_turns: int = MAX_TURNS,
    wait_limit: float = WAIT_LIMIT,
    echo: bool = True,
    film: Film[T] | None = None,
) -> Film[T]:
    """Run ``main()`` to its end one turn of the event loop at a time, and film it.

    Works in a script and inside running async code (a notebook cell): the running
    loop is left as it was. ``film.result`` is what ``main()`` returned and
    ``film.error`` what it raised; the film is complete either way.

    Args:
        main: The coroutine, such as ``main()``.
        threshold: Real seconds a step must hold the loop to count as a stall.
        max_turns: Turns the program may take; past them it is cancelled and
            :class:`StepLimitError` raised (a loop that never ends).
        wait_limit: Real seconds the loop may wait for a thread or I/O with no
            timer set before :class:`StepLimitError` (waiting for nothing).
        echo: Whether printed text also goes to ``sys.stdout`` as it would
            (off for a judge that films a program of its own).
        film: The film to fill (a subclass adds views).

    Raises:
        StepLimitError: The program ran past ``max_turns`` or waited for nothing.
    """
    if not asyncio.iscoroutine(main):
        raise TypeError(
            f"stepper.run() needs a coroutine such as stepper.run(main()), not "
            f"{type(main).__name__}; did you forget the parentheses?"
        )
    if not max_turns > 0:
        main.close()
        raise ValueError(f"max_turns is a positive number of turns, not {max_turns!r}")
    film = film if film is not None else Film()
    film.threshold = threshold
    filming = _Filming(film, max_turns, wait_limit)
    loop = filming.loop
    try:
        _film(filming, main, echo)
    finally:
        film.code = filming.source()
        loop.close()
    return film


def _film(filming: _Filming[T], main: Coroutine[Any, Any, T], echo: bool) -> None:
    film, loop = filming.film, filming.loop
    filming.selector.idle_threads = threading.active_count() + 1  # + the hold sampler
    filming.sampler.start()
    tee = filming.tee = _Tee(sys.stdout, echo)
    problem = ""
    try:
        with _loop_in_charge(loop), clock.time_source(loop.time), clock.scaled(1), \
                _stdout(tee):
            task = loop.create_task(main)
            try:
                filming.drive(task, filming.max_turns)
            except _RunawayError:
                problem = (
                    f"main() was still running after {filming.max_turns:,} turns of the "
                    f"event loop (the clock at {fmt_seconds(filming.clock.now)} s): a loop "
                    "that never ends? stepper.run(main(), max_turns=...) films more turns"
                )
            except _StuckError as stuck:
                problem = (
                    f"main() waited {stuck.args[0]:.1f} s of real time for something that "
                    "never came: nothing was ready and no timer was set (a future, an "
                    "Event or a Queue nobody feeds?)"
                )
            _finish(filming, task)
            if not problem:
                try:
                    film.result = task.result()
                except (Exception, asyncio.CancelledError) as error:  # the very one raised
                    film.error = error
    finally:
        filming.sampler.stop()
    if problem:
        raise StepLimitError(problem, film)


def _finish(filming: _Filming[Any], main_task: asyncio.Task[Any]) -> None:
    """``asyncio.run``'s end: cancel what is left (filmed), then shut down async
    generators and the default executor (not filmed)."""
    loop = filming.loop
    left = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if left:
        for task in left:
            task.cancel()
        gathered = asyncio.gather(*left, return_exceptions=True)
        try:
            filming.drive(gathered, 1_000)
        except (_RunawayError, _StuckError):
            return  # tasks that refuse to end: the loop closes on them
        for task in left:
            if task is not main_task and not task.cancelled() and task.exception() is not None:
                loop.call_exception_handler({
                    "message": "unhandled exception during stepper.run() shutdown",
                    "exception": task.exception(),
                    "task": task,
                })
    filming.recording = False
    for ending in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
        try:
            filming.drive(loop.create_task(ending), 1_000)
        except (_RunawayError, _StuckError):
            return


@contextmanager
def _stdout(tee: _Tee) -> Iterator[None]:
    previous = sys.stdout
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = previous

