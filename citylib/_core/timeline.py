"""Trip recording: who drove where, when, and how it ended.

A :class:`Timeline` collects :class:`Trip` records. Code that calls a service does
not need a timeline passed in: it records onto whichever timeline is *current* (a
context variable), so coroutines, ``asyncio.to_thread`` and the race's worker
threads all find it. With no current timeline, recording costs one lookup.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from citylib._core import clock

__all__ = [
    "DRIVING",
    "TRIP_STATUSES",
    "Timeline",
    "Trip",
    "current",
    "deadline",
    "recording",
    "trip",
]

#: How a trip can end. ``"destroyed"``: its task was garbage-collected while pending
#: (Python closed the coroutine; nobody cancelled it).
TRIP_STATUSES = ("ok", "error", "cancelled", "timeout", "destroyed")

#: The status of a trip still under way in :meth:`Timeline.snapshot`.
DRIVING = "driving"


@dataclass(frozen=True, slots=True)
class Trip:
    """One request's journey, in city seconds since its timeline began.

    Attributes:
        request: The request's name, such as ``"req 1"``.
        service: The service it asked, such as ``"image"``.
        lane: The lane that served it (``"lane 1"``, a thread, or a task).
        queued: When it arrived and joined the line.
        start: When a lane began serving it.
        end: When it finished (or failed, or was cancelled).
        status: One of :data:`TRIP_STATUSES`.
    """

    request: str
    service: str
    lane: str
    queued: float
    start: float
    end: float
    status: str = "ok"

    @property
    def wait(self) -> float:
        """City seconds spent waiting in line before a lane was free."""
        return self.start - self.queued

    @property
    def duration(self) -> float:
        """City seconds spent being served."""
        return self.end - self.start


class Timeline:
    """An append-only list of trips sharing one time origin.

    Safe to record into from several threads: a :class:`trip` only appends itself
    to a list (atomic), and turning raw trips into records happens under a lock. A
    request name is expected to be unique on a timeline.

    :class:`trip` sits on the hot path of every request (10,000 in a surge), so it
    only files two raw clock readings; they become :class:`Trip` records, in city
    seconds, the first time anyone reads :attr:`trips` (about 0.7 µs a trip).

    Args:
        name: What the timeline shows, such as the routing system.
        trips: Finished trips to start with.
    """

    def __init__(self, name: str = "", trips: Iterable[Trip] = ()) -> None:
        self.name = name
        self._trips: list[Trip] = list(trips)
        # Raw trips, not yet turned into Trip records: every one entered since the
        # last settling, and those of them that have ended, in the order they ended.
        self._entered: list[trip] = []
        self._exited: list[trip] = []
        self._settling = threading.Lock()
        self._read = clock.reading()  # real seconds, or a virtual loop's in tests
        self._origin = self._read()
        self._speed = clock.speed()

    def __repr__(self) -> str:
        return f"Timeline(name={self.name!r}, trips={len(self)})"

    def elapsed(self) -> float:
        """City seconds since this timeline began."""
        return (self._read() - self._origin) * self._speed

    def _city(self, reading: float) -> float:
        return (reading - self._origin) * self._speed

    @property
    def trips(self) -> list[Trip]:
        """Finished trips, in the order they finished."""
        if self._exited:
            self._settle()
        return self._trips

    def _settle(self) -> None:
        """Turn the raw trips that have ended into :class:`Trip` records."""
        with self._settling:
            exited = self._exited
            batch = exited[: len(exited)]
            del exited[: len(batch)]  # threads may append meanwhile: keep what came after
            entered = self._entered
            count = len(entered)
            entered[:count] = [t for t in entered[:count] if t._status is DRIVING]
            city = self._city
            for t in batch:
                start = city(t._start)
                queued = start if t._queued is None else t._queued
                self._trips.append(
                    Trip(t.request, t.service, t.lane, queued, start, city(t._end), t._status)
                )

    @property
    def driving(self) -> dict[str, tuple[str, str, float, float]]:
        """Trips under way, by request: ``(service, lane, queued, start)``."""
        live = {}
        for t in list(self._entered):
            if t._status is DRIVING:
                start = self._city(t._start)
                queued = start if t._queued is None else t._queued
                live[t.request] = (t.service, t.lane, queued, start)
        return live

    def record(self, item: Trip) -> None:
        """Add a finished trip."""
        self.trips.append(item)

    def snapshot(self) -> list[Trip]:
        """Finished trips plus those under way, which end *now* with status ``"driving"``."""
        now = self.elapsed()
        live = [
            Trip(request, service, lane, queued, start, now, DRIVING)
            for request, (service, lane, queued, start) in self.driving.items()
        ]
        return [*self.trips, *live]

    @property
    def makespan(self) -> float:
        """City seconds from the first arrival to the last finish (0 when empty)."""
        trips = self.trips
        if not trips:
            return 0.0
        return max(t.end for t in trips) - min(t.queued for t in trips)

    def lanes(self) -> list[str]:
        """The distinct lanes used, in order of first use."""
        return list(dict.fromkeys(t.lane for t in sorted(self.trips, key=_by_start)))

    def __len__(self) -> int:
        return len(self.trips)

    def __iter__(self) -> Iterator[Trip]:
        return iter(self.trips)


def _by_start(item: Trip) -> tuple[float, str]:
    return (item.start, item.request)


_current: ContextVar[Timeline | None] = ContextVar("citylib_timeline", default=None)


def current() -> Timeline | None:
    """The timeline trips are recorded onto here, or ``None``."""
    return _current.get()


@contextmanager
def recording(timeline: Timeline | None = None) -> Iterator[Timeline]:
    """Make ``timeline`` (or a new one) current for the block and yield it.

    Example:
        >>> with recording() as tl:
        ...     pass
        >>> len(tl)
        0
    """
    tl = timeline if timeline is not None else Timeline()
    token = _current.set(tl)
    try:
        yield tl
    finally:
        _current.reset(token)


#: Deadlines (``asyncio.Timeout``) around the running code; see :func:`deadline`.
_deadlines: ContextVar[tuple[asyncio.Timeout, ...]] = ContextVar("citylib_deadlines", default=())


@contextmanager
def deadline(timeout: asyncio.Timeout) -> Iterator[asyncio.Timeout]:
    """Trips that ``timeout`` cuts off inside the block end ``"timeout"``, not ``"cancelled"``.

    ``asyncio.timeout`` stops a slow call by *cancelling* it, so the trip alone sees a
    plain ``CancelledError``. Entered just inside ``async with asyncio.timeout(...)``,
    this lets the trip tell "cut off by the deadline" from any other cancellation.
    Tasks started inside the block inherit it, so siblings a deadline takes down
    with it (through a TaskGroup, say) are marked ``"timeout"`` too.

    Example:
        >>> async def ask_chat():
        ...     async with asyncio.timeout(2) as cm:
        ...         with deadline(cm):
        ...             ...
    """
    token = _deadlines.set((*_deadlines.get(), timeout))
    try:
        yield timeout
    finally:
        _deadlines.reset(token)


class trip:  # noqa: N801 - used like a function: ``with trip(...):``
    """Record the enclosed block as one trip on the current timeline.

    The status follows how the block ends: ``ok``, ``cancelled`` (task cancelled),
    ``timeout`` (``TimeoutError``, or cancelled by an expired :func:`deadline`) or
    ``error`` (any other exception, re-raised).
    Nothing is recorded when no timeline is current.

    It is entered once per request, 10,000 times in a surge, so it is a plain class
    (a generator context manager costs about three times as much) that only takes
    two clock readings and files itself onto the timeline; the timeline makes the
    :class:`Trip` record later, when someone reads it.

    Attributes:
        lane: May be changed inside the block once the lane is known.
    """

    __slots__ = (
        "_end",
        "_queued",
        "_start",
        "_status",
        "_timeline",
        "lane",
        "request",
        "service",
    )

    def __init__(self, request: str, service: str, lane: str, queued: float | None = None) -> None:
        self.request = request
        self.service = service
        self.lane = lane
        self._queued = queued
        self._timeline = _current.get()

    def __enter__(self) -> trip:
        tl = self._timeline
        if tl is not None:
            self._status = DRIVING
            self._start = tl._read()
            tl._entered.append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        tl = self._timeline
        if tl is not None:
            self._end = tl._read()
            self._status = "ok" if exc is None else _status_of(exc)
            tl._exited.append(self)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "timeout" if any(d.expired() for d in _deadlines.get()) else "cancelled"
    if isinstance(exc, clock.CalledOffError):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"
