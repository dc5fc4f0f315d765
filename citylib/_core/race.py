"""The Concurrency Race: the same requests through three routing systems.

* ``sync`` — one lane. Requests are served one after another with blocking
  calls; the slow image truck holds up everyone behind it.
* ``threads`` — a pool of *k* lanes (worker threads), each still blocking.
* ``async`` — the Async Highway: every request gets its own lane on one event
  loop, ``asyncio.gather`` sends them all at once.

All requests arrive together at city time 0. The blocking systems run in worker
threads so that the caller's event loop (a notebook's) stays free to draw them live.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import math
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from citylib._core import services, timeline
from citylib._core.runner import run
from citylib._core.services import Service

__all__ = [
    "MODES",
    "MODE_TITLES",
    "RaceResult",
    "Request",
    "check_mode",
    "city_requests",
    "one_lane_horizon",
    "predict_makespan",
    "race_blocking",
    "race_modes",
    "run_race",
    "slowest",
    "speedup",
    "system_title",
]

MODES = ("sync", "threads", "async")

MODE_TITLES = {
    "sync": "Traffic jam (one lane)",
    "threads": "Thread pool",
    "async": "Async Highway",
}


@dataclass(frozen=True)
class Request:
    """One car entering the city: a name and the service it needs."""

    name: str
    service: Service


def city_requests(names: Iterable[str] | None = None) -> list[Request]:
    """The race's requests, one per service (default: all six, image generation first)."""
    chosen = list(services.SERVICES) if names is None else list(names)
    if not chosen:
        raise ValueError("a race needs at least one request")
    return [
        Request(f"#{i} {services.get_service(n).title}", services.get_service(n))
        for i, n in enumerate(chosen, 1)
    ]


def system_title(mode: str, lanes: int) -> str:
    """A routing system's name for headings, such as ``"Thread pool, 2 lanes"``."""
    return MODE_TITLES[mode] + (f", {lanes} lanes" if mode == "threads" else "")


def one_lane_horizon(requests: Sequence[Request]) -> float:
    """The one-lane makespan: charts of a race share this x axis, so lanes compare by eye."""
    return predict_makespan("sync", [r.service.latency for r in requests])


def slowest(requests: Sequence[Request]) -> Request:
    """The race's slow truck: the request whose service takes longest."""
    return max(requests, key=lambda r: r.service.latency)


def speedup(slow: float | RaceResult, fast: float | RaceResult) -> float:
    """How many times sooner ``fast`` finished than ``slow`` (makespans or city seconds)."""
    a = slow.makespan if isinstance(slow, RaceResult) else slow
    b = fast.makespan if isinstance(fast, RaceResult) else fast
    return a / b if b > 0 else math.inf


def check_mode(mode: str, lanes: int) -> None:
    """Raise a clear ``ValueError`` for an unknown mode or a lane count below 1."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be a whole number of at least 1, not {lanes!r}")


def predict_makespan(mode: str, latencies: Sequence[float], lanes: int = 2) -> float:
    """The makespan a perfect run would have, in city seconds.

    ``sync`` adds every latency; ``async`` takes the longest; ``threads`` hands each
    request, in order, to the first lane to come free.
    """
    check_mode(mode, lanes)
    if not latencies:
        return 0.0
    if mode == "sync":
        return float(sum(latencies))
    if mode == "async":
        return float(max(latencies))
    free_at = [0.0] * min(lanes, len(latencies))
    for latency in latencies:
        heapq.heappush(free_at, heapq.heappop(free_at) + latency)
    return max(free_at)


@dataclass
class RaceResult:
    """What happened in one race.

    Attributes:
        mode: ``"sync"``, ``"threads"`` or ``"async"``.
        lanes: Lanes the system had (1 for sync, one per request for async).
        requests: The requests, in arrival order.
        timeline: Every trip, in city seconds.
        predicted: The makespan :func:`predict_makespan` expects.
    """

    mode: str
    lanes: int
    requests: list[Request]
    timeline: timeline.Timeline = field(repr=False)
    predicted: float = 0.0

    @property
    def makespan(self) -> float:
        """City seconds until the last request was served."""
        return self.timeline.makespan

    @property
    def waits(self) -> dict[str, float]:
        """City seconds each request stood in line before a lane took it."""
        return {t.request: t.wait for t in self.timeline}

    @property
    def title(self) -> str:
        """The routing system's name, for headings."""
        return system_title(self.mode, self.lanes)

    def summary(self) -> str:
        """One line a learner (or a screen reader) can read instead of the chart."""
        waits = self.waits
        worst = max(waits, key=waits.__getitem__) if waits else None
        failed = sum(1 for t in self.timeline if t.status != "ok")
        line = f"{self.title}: {len(self.requests)} requests done in {self.makespan:.1f} s"
        if worst is None or waits[worst] < 0.05:
            line += "; nobody waited in line"
        else:
            line += f"; {worst} waited longest ({waits[worst]:.1f} s)"
        if failed:
            line += f"; {failed} did not finish"
        return line + "."


async def run_race(
    mode: str = "async",
    requests: Sequence[Request] | None = None,
    *,
    lanes: int = 2,
    record_into: timeline.Timeline | None = None,
) -> RaceResult:
    """Send every request into the city at once through one routing system.

    Args:
        mode: One of :data:`MODES`.
        requests: Defaults to :func:`city_requests`.
        lanes: Worker threads for ``threads`` mode (ignored otherwise).
        record_into: A timeline to fill (a live chart can watch it fill in).

    Returns:
        The :class:`RaceResult`. Cancelling the awaiting task calls the race off:
        worker threads stop at once and unfinished trips end ``cancelled``.
    """
    reqs = list(city_requests() if requests is None else requests)
    check_mode(mode, lanes)
    used_lanes = {"sync": 1, "threads": lanes, "async": len(reqs)}[mode]
    tl = record_into if record_into is not None else timeline.Timeline(name=mode)
    with timeline.recording(tl):
        if mode == "async":
            await _async_highway(reqs)
        else:
            await _blocking_lanes(reqs, used_lanes)
    return RaceResult(
        mode,
        used_lanes,
        reqs,
        tl,
        predict_makespan(mode, [r.service.latency for r in reqs], used_lanes),
    )


async def _async_highway(reqs: Sequence[Request]) -> None:
    await asyncio.gather(
        *(
            services.call(r.service, request=r.name, lane=f"lane {i}", queued=0.0)
            for i, r in enumerate(reqs, 1)
        )
    )


async def _blocking_lanes(reqs: Sequence[Request], lanes: int) -> None:
    """Serve ``reqs`` with ``lanes`` worker threads making blocking calls."""
    loop = asyncio.get_running_loop()
    called_off = threading.Event()
    pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="citylib-lane")
    lane_names: dict[str, str] = {}
    lock = threading.Lock()

    def serve(r: Request) -> None:
        with lock:  # name lanes 1..k in the order threads first take a request
            me = threading.current_thread().name
            lane = lane_names.setdefault(me, f"lane {len(lane_names) + 1}")
        if called_off.is_set():
            return
        services.call_blocking(r.service, request=r.name, lane=lane, queued=0.0, cancel=called_off)

    # Each job needs its own copy of the context: one Context cannot be entered
    # by two threads at once, and the copy carries the current timeline.
    jobs = [loop.run_in_executor(pool, contextvars.copy_context().run, serve, r) for r in reqs]
    try:
        await asyncio.gather(*jobs)
    finally:
        called_off.set()
        pool.shutdown(wait=False, cancel_futures=True)


def race_blocking(
    mode: str = "async", requests: Sequence[Request] | None = None, *, lanes: int = 2
) -> RaceResult:
    """:func:`run_race` for code without an event loop (scripts, the CLI)."""
    return run(run_race(mode, requests, lanes=lanes))


async def race_modes(
    modes: Iterable[str] = MODES,
    requests: Sequence[Request] | None = None,
    *,
    lanes: int = 2,
) -> list[RaceResult]:
    """Run the same race through several systems, one after another."""
    return [await run_race(m, requests, lanes=lanes) for m in modes]
