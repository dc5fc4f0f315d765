"""The loop watcher: was the event loop held, for how long, and by which line?

"Was the event loop blocked?" is the course's central question, and this module is
the one place that answers it, with one threshold policy (:func:`held_threshold`,
real seconds). Two instruments, one policy:

* :class:`Heartbeat`, a task that beats on the loop on fixed deadlines: its silences
  are stalls. The heart in notebook 02, the CPU lessons in 06 and the Sprint judge's
  "never blocks the event loop" check all listen to it.
* :class:`Watch`, the roadblock detector below: a watchdog thread that also names
  the line that held the loop.

The roadblock detector: which line of your code stopped the event loop, and how long.

A blocking call in async code (``time.sleep``, a CPU-heavy loop, a synchronous HTTP
client) stops the whole highway, and nothing says so. :func:`watch` says so::

    with roadblock.watch():
        await asyncio.gather(polite(), rude())

prints ``🚧 1 roadblock: the event loop was stuck for 0.30 s of real time at this
cell, line 3 in rude(): time.sleep(0.3)``.

How it works: a watchdog thread pings the event loop (``call_soon_threadsafe``)
every few milliseconds. A healthy loop answers at once; when an answer is later
than ``threshold``, the loop is stuck, and the watchdog samples the loop thread's
stack (``sys._current_frames()``) until the answer comes, keeping the innermost
frame that belongs to *your* code rather than to asyncio, the standard library,
installed packages or citylib. A tick the loop itself runs every few milliseconds
dates the start of the standstill, so its length is right to a few ms. A loop that
answers late while it sits idle in its selector is not stuck (the machine was
busy elsewhere) and is not reported. Unlike asyncio's debug mode (which reports slow
callbacks after the fact, naming the task, not the line), it names the line while
it blocks and needs no debug mode.

Stalls are measured in real seconds: ``time.sleep(0.3)`` blocks for 0.3 s of
wall-clock time whatever the city clock's speed. In a notebook, places read
"this cell, line 3" or "cell In[4], line 2", never a file path.
"""

from __future__ import annotations

import asyncio
import linecache
import math
import os
import re
import sys
import sysconfig
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from types import FrameType, TracebackType
from typing import NamedTuple

__all__ = [
    "STALL_THRESHOLD",
    "Heartbeat",
    "Spot",
    "Stall",
    "Watch",
    "code_place",
    "describe_place",
    "held_threshold",
    "is_cell",
    "is_user_code",
    "silences",
    "watch",
]

#: Real seconds the loop may stand still before it counts as held: a stall (asyncio's
#: debug mode uses the same 0.1 s for a slow callback). A busy computer's own hiccups
#: (another program, a garbage collection) stay below it.
STALL_THRESHOLD = 0.1

#: City seconds of holding that always count, however fast the city clock runs: at
#: speed 20 a blocking city second (``call_blocking``, ``time.sleep(SECOND)``) lasts
#: only 0.05 real seconds, and it holds every lane all the same.
HELD_CITY_SECONDS = 0.5

#: Real seconds under which no standstill counts: a loaded computer's own hiccups.
MIN_STALL = 0.05


def held_threshold(speed: float | None = None) -> float:
    """Real seconds the loop must stand still to count as held: the course's one rule.

    :data:`STALL_THRESHOLD` (0.1 s), or half a city second when a fast city clock
    makes that shorter, never under :data:`MIN_STALL`. The practice checks, the
    Sprint's judge and self-check, the lanes charts and the roadblock detector all
    ask it; the glossary states it (``citylib.widgets.glossary``).

    Args:
        speed: The city clock's speed (default: the clock's now).
    """
    if speed is None:
        from citylib._core import clock  # the clock module imports nothing of this one

        speed = clock.speed()
    return max(MIN_STALL, min(STALL_THRESHOLD, HELD_CITY_SECONDS / speed))


# Taken at import, before any learner code runs: a submission that rebinds these
# names does not change what the watcher measures.
_perf_counter = time.perf_counter
_sleep = asyncio.sleep

# ipykernel compiles each cell to a file such as /tmp/ipykernel_4242/1234567.py;
# plain IPython names it <ipython-input-4-0123abcd>.
_KERNEL_CELL = re.compile(r"ipykernel_\d+[/\\]\d+\.py$")
_IPYTHON_INPUT = re.compile(r"<ipython-input-(\d+)-")

# Where an idle event loop waits for I/O: the selector (Unix), the proactor (Windows).
_IDLE_FILES = frozenset({"selectors.py", "windows_events.py"})


class Spot(NamedTuple):
    """A place in the code: file, line and function."""

    filename: str
    lineno: int
    function: str


@dataclass(frozen=True)
class Stall:
    """One stretch of time the event loop was held: nothing else on it could run.

    Attributes:
        start: Real seconds from the start of the watch (or recording) to the stall.
        duration: Real seconds the loop was held (at least this long).
        where: The learner's line that held it: ``"file.py:LINE"`` or
            ``"cell In[N], line LINE"``.
        code: The source line, stripped (empty when unknown).
        function: The function it was in (``"<module>"`` for a cell's top level).
        lineno: The line number.
        place: The same place in words, for the roadblock sign: ``"this cell, line
            3"`` for the cell that started watching.
        filename: The raw file name; kept out of ``repr`` so a notebook never
            prints a machine path.
    """

    start: float
    duration: float
    where: str
    code: str
    function: str = ""
    lineno: int = 0
    place: str = ""
    filename: str = field(default="", repr=False, compare=False)

    @property
    def seconds(self) -> float:
        """How long the loop was held (the roadblock detector's word for it)."""
        return self.duration

    @property
    def line(self) -> str:
        """The source line (the roadblock detector's word for it)."""
        return self.code

    def __str__(self) -> str:
        inside = "" if self.function == "<module>" else f" in {self.function}()"
        code = f": {self.code}" if self.code else ""
        # Real time, and said so: the one figure a learner reads that is not city seconds.
        return (
            f"stuck for {self.duration:.2f} s of real time at "
            f"{self.place or self.where}{inside}{code}"
        )


class Watch:
    """Watch the running event loop while a block of code runs (see :func:`watch`).

    Use it as a context manager, from code the loop runs (a coroutine, a notebook
    cell). Callbacks run on the watchdog thread: keep them short.

    Args:
        threshold: Real seconds of standstill that count as a roadblock (default
            :func:`held_threshold`).
        announce: Print :meth:`summary` when the block ends.
        on_block: Called with the first :class:`Spot` seen once the loop is stuck
            (while it still is), for live displays.
        on_roadblock: Called with each :class:`Stall` once the loop moves again.
        origin: The ``time.perf_counter()`` reading stalls' ``start`` counts from
            (default: when the watch begins).

    Attributes:
        roadblocks: Every roadblock seen, in order.
    """

    def __init__(
        self,
        threshold: float | None = None,
        *,
        announce: bool = True,
        on_block: Callable[[Spot], object] | None = None,
        on_roadblock: Callable[[Stall], object] | None = None,
        origin: float | None = None,
    ) -> None:
        if threshold is None:
            threshold = held_threshold()
        if not threshold > 0:
            raise ValueError(f"threshold is a positive number of seconds, not {threshold!r}")
        self.threshold = float(threshold)
        self.announce = announce
        self.on_block = on_block
        self.on_roadblock = on_roadblock
        self.roadblocks: list[Stall] = []
        # Stalls' start times count from here (real seconds); a recording passes its own.
        self._origin = origin
        # Ping (and tick) often enough that a roadblock is measured to within a few
        # ms, and sample a stuck loop often enough to find the line it is stuck on.
        self._interval = min(self.threshold / 10, 0.005)
        self._sample_every = min(self.threshold / 4, 0.01)
        self._stop = threading.Event()
        self._pong: threading.Event | None = None
        self._stopped_at: float | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._home = ""
        # The last moment the loop itself was seen running, by a tick it runs every
        # few ms: a stuck loop's roadblock began then. (The watchdog's own ping may
        # go out late when the stuck loop hogs the GIL.)
        self._alive = 0.0
        self._ticker: asyncio.Handle | None = None

    def __enter__(self) -> Watch:
        if self._thread is not None:
            raise RuntimeError("a Watch watches one block; make a new one for the next")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "roadblock.watch() watches a running event loop: use it inside async "
                "code or a notebook cell"
            ) from None
        self._loop_thread = threading.get_ident()
        # The user code that started watching is "this cell" in reports, even when
        # a helper (the road sign widget) entered the watch on its behalf.
        home = _user_spot(sys._getframe(1))
        self._home = home.filename if home is not None else ""
        self._alive = time.perf_counter()
        if self._origin is None:
            self._origin = self._alive
        self._ticker = self._loop.call_soon(self._tick)
        self._thread = threading.Thread(
            target=self._watchdog, name="citylib-roadblock-watchdog", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped_at = time.perf_counter()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()  # __exit__ runs on the loop's thread, like the ticker
        pong = self._pong  # read after setting _stop; see _watchdog
        if pong is not None:
            pong.set()  # wake the watchdog if it is waiting on an answer
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.announce:
            print(self.summary())

    @property
    def home(self) -> str:
        """The file of the code that started watching (reports call it "this cell")."""
        return self._home

    @property
    def longest(self) -> Stall | None:
        """The longest roadblock, or ``None``."""
        return max(self.roadblocks, key=lambda r: r.seconds, default=None)

    def summary(self) -> str:
        """What the watch saw, in a line or two."""
        found = list(self.roadblocks)
        if not found:
            return (
                "✅ No roadblocks: the event loop never stood still for "
                f"{self.threshold:g} s of real time or more."
            )
        if len(found) == 1:
            return f"🚧 1 roadblock: the event loop was {found[0]}"
        lines = [f"🚧 {len(found)} roadblocks; the event loop was"]
        lines += [f"  • {r}" for r in found]
        return "\n".join(lines)

    def _tick(self) -> None:
        """Runs on the event loop every few ms: the loop is moving right now."""
        self._alive = time.perf_counter()
        if not self._stop.is_set() and self._loop is not None:
            self._ticker = self._loop.call_later(self._interval, self._tick)

    def _answer(self, answered: list[tuple[float, float]], pong: threading.Event) -> None:
        """Runs on the event loop when it reaches a ping: now, and when it last ticked.

        A ping that waited out a roadblock is answered before the ticker's next
        turn, so the tick it reads is the last one before the loop got stuck.
        """
        answered.append((time.perf_counter(), self._alive))
        pong.set()

    # -- the watchdog thread ----------------------------------------------------------

    def _watchdog(self) -> None:
        loop, stop = self._loop, self._stop
        assert loop is not None
        while not stop.is_set():
            pong = threading.Event()
            answered: list[tuple[float, float]] = []
            self._pong = pong
            # __exit__ sets _stop and then wakes self._pong: checking _stop only after
            # publishing the new pong means one of us always sees the other.
            if stop.is_set():
                return
            sent = time.perf_counter()
            try:
                loop.call_soon_threadsafe(self._answer, answered, pong)
            except RuntimeError:  # the loop was closed under us
                return
            if pong.wait(self.threshold):
                stop.wait(self._interval)
                continue
            samples = self._sample_until(pong)
            if answered:
                end, alive = answered[0]
            else:  # the watch ended while the loop was stuck (the block itself blocked)
                end, alive = self._stopped_at or time.perf_counter(), self._alive
            began = min(alive, sent)
            if samples and end - began >= self.threshold:  # no samples: never really stuck
                self._report(began, end - began, samples)

    def _sample_until(self, pong: threading.Event) -> Counter[Spot]:
        """Sample the stuck loop's stack until it answers (or the watch ends)."""
        samples: Counter[Spot] = Counter()
        while True:
            spot = self._sample()
            if spot is not None:
                if not samples and self.on_block is not None:
                    self.on_block(spot)
                samples[spot] += 1
            if pong.wait(self._sample_every):
                return samples

    def _sample(self) -> Spot | None:
        frame = sys._current_frames().get(self._loop_thread)
        try:
            if frame is None or _is_idle(frame):
                # The loop sits waiting for work: a late answer means the machine was
                # busy elsewhere (or the loop thread waits for the GIL), not a roadblock.
                return None
            spot = _user_spot(frame)
            if spot is not None and _in_asyncio(spot.filename):
                # Only the loop's own machinery on the stack (reading its wake-up pipe,
                # say): it is waiting for a CPU or the GIL, held by nobody's code.
                return None
            return spot
        finally:
            del frame  # frames hold their locals alive

    def _report(self, began: float, seconds: float, samples: Counter[Spot]) -> None:
        spot = samples.most_common(1)[0][0]
        found = Stall(
            start=began - (self._origin or began),
            duration=seconds,
            where=code_place(spot.filename, spot.lineno),
            code=linecache.getline(spot.filename, spot.lineno).strip(),
            function=spot.function,
            lineno=spot.lineno,
            place=describe_place(spot.filename, spot.lineno, home=self._home),
            filename=spot.filename,
        )
        self.roadblocks.append(found)
        if self.on_roadblock is not None:
            self.on_roadblock(found)


def watch(
    threshold: float | None = None,
    *,
    announce: bool = True,
    on_block: Callable[[Spot], object] | None = None,
    on_roadblock: Callable[[Stall], object] | None = None,
) -> Watch:
    """Watch the event loop while a block runs and report what blocked it.

    Example (in a notebook cell or a coroutine)::

        with roadblock.watch() as w:
            await asyncio.gather(polite(), rude())
        w.longest.line  # 'time.sleep(0.3)'

    Args:
        threshold: Real seconds of standstill that count as a roadblock (default
            :func:`held_threshold`).
        announce: Print the summary when the block ends.
        on_block: Called (on the watchdog thread) when the loop gets stuck.
        on_roadblock: Called (on the watchdog thread) with each roadblock.
    """
    return Watch(threshold, announce=announce, on_block=on_block, on_roadblock=on_roadblock)


# -- the heartbeat ---------------------------------------------------------------------


class _RunQueueWait:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat).

    A busy machine can keep a healthy loop off the CPU for a while; that time is
    subtracted from a heartbeat's silence, so only time the loop spent *stopped*
    (in ``time.sleep``, a blocking call, a busy loop) counts as held. Where the
    file is missing, nothing is subtracted.
    """

    def __init__(self) -> None:
        try:  # opened on the loop's thread: the descriptor stays bound to it
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def silences(
    beats: Sequence[float], interval: float, *, at_least: float = 0.0
) -> list[tuple[float, float]]:
    """``(start, length)`` of each gap between two beats longer than two beats and ``at_least``.

    The one rule every heartbeat reading uses (its chart, its summary, its live
    strip), so they never disagree about whether the loop was held.
    """
    longest_beat = max(2 * interval, at_least)
    return [(a, b - a) for a, b in pairwise(beats) if b - a > longest_beat]


class Heartbeat:
    """A task that beats on the running loop; while the loop is held, the heart is silent.

    Beats keep to fixed deadlines, ``first + k * interval``: waiting a whole beat
    after each one would add every late wake-up to all later beats, and the strip
    would show drift as missed beats. After a silence the missed deadlines are
    skipped, not made up in a burst.

    Args:
        interval: Time between beats, in the units of ``now``.
        now: The clock beats are read on (default real seconds; a timeline's
            ``elapsed`` gives city seconds).
        sleep: Waits that long in the same units (default ``asyncio.sleep``).
        real_per_unit: Real seconds in one unit of ``now`` (``1 / speed`` for city
            seconds), to subtract the time the loop spent waiting for a CPU.
        on_beat: Called with the beats so far at every beat (a live display).

    Attributes:
        beats: When the heart beat, in the units of ``now``.
    """

    def __init__(
        self,
        interval: float,
        *,
        now: Callable[[], float] = _perf_counter,
        sleep: Callable[[float], Awaitable[object]] = _sleep,
        real_per_unit: float = 1.0,
        on_beat: Callable[[list[float]], object] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval is a positive number, not {interval!r}")
        self.interval = interval
        self.beats: list[float] = []
        self._now = now
        self._sleep = sleep
        self._real_per_unit = real_per_unit
        self._on_beat = on_beat
        self._queued: list[float] = []  # the loop thread's CPU-queue wait at each beat
        self._task: asyncio.Task[None] | None = None
        self._waited: _RunQueueWait | None = None

    async def _beat(self) -> None:
        first, k = self._now(), 0
        waited = self._waited
        while True:
            self.beats.append(self._now())
            self._queued.append(waited() if waited is not None else 0.0)
            if self._on_beat is not None:
                self._on_beat(self.beats)
            k = max(k + 1, math.floor((self._now() - first) / self.interval) + 1)
            await self._sleep(first + k * self.interval - self._now())

    def start(self) -> Heartbeat:
        """Start beating on the running loop (the first beat comes at its next turn)."""
        if self._task is not None:
            raise RuntimeError("a Heartbeat beats once; make a new one for the next run")
        self._waited = _RunQueueWait()
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    async def stop(self) -> None:
        """Stop beating and wait until the beating task is gone."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        self._close()

    def _close(self) -> None:
        if self._waited is not None:
            self._waited.close()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # For code that cannot await on the way out; the task ends at the loop's next turn.
        if self._task is not None:
            self._task.cancel()
        self._close()

    def silences(self, at_least: float = 0.0) -> list[tuple[float, float]]:
        """The gaps that count as the loop held (see :func:`silences`)."""
        return silences(self.beats, self.interval, at_least=at_least)

    def longest_hold(self) -> float:
        """The longest silence beyond one beat, less the time the loop waited for a CPU.

        In the units of ``now``; 0 when the heart never stopped.
        """
        held = 0.0
        queued = self._queued
        for i, (a, b) in enumerate(pairwise(self.beats)):
            off_cpu = (queued[i + 1] - queued[i]) / self._real_per_unit
            held = max(held, b - a - self.interval - off_cpu)
        return held


# -- whose code is it? ----------------------------------------------------------------


@lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is not the learner's: the standard library, installed
    packages and citylib itself."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    folders.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # all of citylib
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders)


@lru_cache(maxsize=512)
def is_user_code(filename: str) -> bool:
    """Whether ``filename`` holds the learner's code (a notebook cell, their own module)."""
    if filename.startswith("<"):  # <frozen ...>, <string>: nobody's file
        return bool(_IPYTHON_INPUT.match(filename))
    return not os.path.realpath(filename).startswith(_library_dirs())


def _user_spot(frame: FrameType | None) -> Spot | None:
    """The innermost frame of user code on a stack, as a :class:`Spot`."""
    innermost: Spot | None = None
    while frame is not None:
        code = frame.f_code
        spot = Spot(code.co_filename, frame.f_lineno, code.co_name)
        if is_user_code(code.co_filename):
            return spot
        innermost = innermost or spot
        frame = frame.f_back
    return innermost  # no user code on the stack: name the library line instead


_ASYNCIO_DIR = os.path.join(os.path.dirname(os.path.realpath(asyncio.__file__)), "")


def _in_asyncio(filename: str) -> bool:
    """Whether ``filename`` is the asyncio package's own code."""
    return os.path.realpath(filename).startswith(_ASYNCIO_DIR)


def _is_idle(frame: FrameType) -> bool:
    """Whether the loop thread is in the event loop's own wait for I/O (so it is free).

    A selector called by the loop's ``_run_once``, not one a learner calls directly.
    """
    caller = frame.f_back
    return (
        os.path.basename(frame.f_code.co_filename) in _IDLE_FILES
        and caller is not None
        and caller.f_code.co_name == "_run_once"
    )


def is_cell(filename: str) -> bool:
    """Whether ``filename`` is a notebook cell's (ipykernel's or plain IPython's)."""
    return bool(_KERNEL_CELL.search(filename) or _IPYTHON_INPUT.match(filename))


def _cell_name(filename: str) -> str | None:
    """``"cell In[4]"`` for a notebook cell's file, from IPython when it knows."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    namer = getattr(getattr(shell, "compile", None), "format_code_name", None)
    if namer is not None:
        named = namer(filename)  # ("Cell", "In[4]") for a cell, None otherwise
        if named:
            return f"cell {named[1]}"
    match = _IPYTHON_INPUT.match(filename)
    if match:
        return f"cell In[{match[1]}]"
    return "a notebook cell" if is_cell(filename) else None


def code_place(filename: str, lineno: int) -> str:
    """A place as code names it: ``"cell In[4], line 2"`` for a cell, ``"app.py:12"``."""
    cell = _cell_name(filename)
    if cell is not None:
        return f"{cell}, line {lineno}"
    return f"{os.path.basename(filename)}:{lineno}"


def describe_place(filename: str, lineno: int, *, home: str = "") -> str:
    """A place in words, without a machine path.

    ``"this cell, line 3"`` when ``filename`` is ``home`` (the cell that started
    watching) and a notebook cell, ``"cell In[4], line 2"`` for another cell,
    ``"script.py, line 12"`` for a file.
    """
    if filename == home and is_cell(filename):
        return f"this cell, line {lineno}"
    place = _cell_name(filename) or os.path.basename(filename)
    return f"{place}, line {lineno}"
