"""Trip recording: who drove where, when, and how it ended.

A :class:`Timeline` collects :class:`Trip` records. Code that calls a service does
not need a timeline passed in: it records onto whichever timeline is *current* (a
context variable), so coroutines, ``asyncio.to_thread`` and the race's worker
threads all find it. With no current timeline, recording costs one lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from citylib import clock

__all__ = [
    "DRIVING",
    "STATUSES",
    "Timeline",
    "Trip",
    "current",
    "recording",
    "trip",
]

#: How a trip can end.
STATUSES = ("ok", "error", "cancelled", "timeout")

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
        status: One of :data:`STATUSES`.
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
    def drive(self) -> float:
        """City seconds spent being served."""
        return self.end - self.start


@dataclass
class Timeline:
    """An append-only list of trips sharing one time origin.

    Safe to record into from several threads: ``list.append`` and single dict
    operations are atomic. A request name is expected to be unique on a timeline.
    """

    name: str = ""
    trips: list[Trip] = field(default_factory=list)
    #: Trips under way, by request: ``(service, lane, queued, start)``.
    driving: dict[str, tuple[str, str, float, float]] = field(default_factory=dict)
    _origin: float = field(default_factory=time.perf_counter, repr=False)
    _speed: float = field(default_factory=clock.speed, repr=False)

    def elapsed(self) -> float:
        """City seconds since this timeline began."""
        return (time.perf_counter() - self._origin) * self._speed

    def record(self, item: Trip) -> None:
        """Add a finished trip."""
        self.trips.append(item)

    def snapshot(self) -> list[Trip]:
        """Finished trips plus those under way, which end *now* with status ``"driving"``."""
        now = self.elapsed()
        live = [
            Trip(request, service, lane, queued, start, now, DRIVING)
            for request, (service, lane, queued, start) in list(self.driving.items())
        ]
        return [*self.trips, *live]

    @property
    def makespan(self) -> float:
        """City seconds from the first arrival to the last finish (0 when empty)."""
        if not self.trips:
            return 0.0
        return max(t.end for t in self.trips) - min(t.queued for t in self.trips)

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


class trip:  # noqa: N801 - used like a function: ``with trip(...):``
    """Record the enclosed block as one trip on the current timeline.

    The status follows how the block ends: ``ok``, ``cancelled`` (task cancelled),
    ``timeout`` (``TimeoutError``) or ``error`` (any other exception, re-raised).
    Nothing is recorded when no timeline is current. A plain class rather than a
    generator context manager: it is entered once per request, 10,000 times in a
    surge, and this is about three times cheaper.

    Attributes:
        lane: May be changed inside the block once the lane is known.
    """

    __slots__ = ("_queued", "_start", "_timeline", "lane", "request", "service")

    def __init__(self, request: str, service: str, lane: str, queued: float | None = None) -> None:
        self.request = request
        self.service = service
        self.lane = lane
        self._queued = queued
        self._timeline = _current.get()
        self._start = 0.0

    def __enter__(self) -> trip:
        tl = self._timeline
        if tl is not None:
            self._start = start = tl.elapsed()
            queued = start if self._queued is None else self._queued
            tl.driving[self.request] = (self.service, self.lane, queued, start)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        tl = self._timeline
        if tl is None:
            return
        tl.driving.pop(self.request, None)
        status = "ok" if exc is None else _status_of(exc)
        queued = self._start if self._queued is None else self._queued
        tl.record(
            Trip(self.request, self.service, self.lane, queued, self._start, tl.elapsed(), status)
        )


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.CancelledError, clock.CalledOffError)):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"
