"""When lanes crash: the runnable lessons of notebook 06.

Real async code fails in ways the happy path hides. Each lesson here is an
``async`` function that stages one of them (or its cure) in AI City, records every
trip on a timeline of its own and returns a :class:`Lesson`: the trips, what the
run proved (``facts``) and a one-line ``summary``. ``lesson.show()`` draws the lane
chart: a crashed lane is hatched ``xx``, a timed-out lane dotted, a cancelled lane
faded and dashed, a task the garbage collector destroyed faded with a dotted outline
(see :mod:`citylib._views.charts`); vertical marks show the moments that
matter (``gather`` raising, a deadline striking) and the CPU lessons add the event
loop's heartbeat as a row of ticks.

The lessons run on the city clock, so their figures in city seconds are the same at
every ``CITYLIB_SPEED``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import multiprocessing
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from citylib._core import clock, services, timeline
from citylib._core.race import predict_makespan
from citylib._core.timeline import Timeline, Trip
from citylib._core.watch import Heartbeat

__all__ = [
    "CURES",
    "FALLBACK_REPLY",
    "GRACE",
    "HEARTBEAT",
    "Lesson",
    "bad_day",
    "cpu_on_the_loop",
    "crunch",
    "fire_and_forget",
    "gather_one_failure",
    "most_lanes_in_use",
    "taskgroup_cancels_siblings",
    "timeout",
    "timeout_on_hung_service",
    "toll_booth",
]

#: Where the CPU-bound work runs in :func:`cpu_on_the_loop`, and how a summary says so.
CURES: dict[str, str] = {
    "none": "on the event loop",
    "thread": "in asyncio.to_thread",
    "process": "in a process pool",
}

#: What Popy says when the chat service is cut off by a timeout.
FALLBACK_REPLY = "Popy: the chat service is busy, here is a saved answer instead."

#: City seconds between heartbeats in the CPU lessons.
HEARTBEAT = 0.25

#: The four requests the gather and TaskGroup lessons send. AI Chat fails halfway, at
#: 1.5 s: Weather has arrived by then, Speech and Image Gen are still driving. The gaps
#: (0.5 s and 1 s) keep the story the same on a busy machine at a fast city clock.
FOUR = ("image", "chat", "weather", "speech")

#: City seconds of grace a request gets beyond its usual latency in :func:`bad_day`.
GRACE = 3.0


@dataclass
class Lesson:
    """What one lesson's run showed.

    Attributes:
        title: The lesson's heading.
        timeline: Every trip, in city seconds.
        summary: One line a learner (or a screen reader) reads instead of the chart.
        marks: Moments to mark on the chart, as ``(city second, label)``.
        heartbeat: City times the loop's heartbeat ticked (CPU lessons only).
        notes: Points on one request's row, as ``(request, city second, label)``.
        facts: What the run proved, for tests and curious learners.
    """

    title: str
    timeline: Timeline = field(repr=False)
    summary: str
    marks: list[tuple[float, str]] = field(default_factory=list)
    heartbeat: list[float] | None = field(default=None, repr=False)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[tuple[str, float, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.summary

    def trip(self, request: str) -> Trip:
        """The trip of ``request`` (raises ``KeyError`` if it never drove)."""
        for t in self.timeline:
            if t.request == request:
                return t
        raise KeyError(request)


def _title(name: str) -> str:
    return services.get_service(name).title


async def _drive(name: str, lane: int) -> dict[str, Any]:
    """One request to ``name`` on its own lane; every lesson's requests arrive at 0."""
    return await services.call(name, request=_title(name), lane=f"lane {lane}", queued=0.0)


@asynccontextmanager
async def timeout(city_seconds: float) -> AsyncIterator[asyncio.Timeout]:
    """``asyncio.timeout`` measured on the city clock, telling the chart what it cut off.

    In your own code write ``async with asyncio.timeout(2):``. AI City's clock runs
    ``CITYLIB_SPEED`` times fast, so here the limit is converted to real seconds, and
    trips the deadline cuts off are recorded as ``"timeout"`` rather than
    ``"cancelled"`` (see :func:`citylib._core.timeline.deadline`). Raises ``TimeoutError``
    when the limit passes, exactly like ``asyncio.timeout``.
    """
    async with asyncio.timeout(clock.to_real(city_seconds)) as deadline:
        with timeline.deadline(deadline):
            yield deadline


def most_lanes_in_use(trips: Iterable[Trip]) -> int:
    """The most trips that were on the road at the same moment."""
    edges = sorted(
        [(t.start, 1) for t in trips] + [(t.end, -1) for t in trips],
        key=lambda edge: (edge[0], edge[1]),  # at a tie, a trip leaves before one enters
    )
    busy = most = 0
    for _, step in edges:
        busy += step
        most = max(most, busy)
    return most


# -- Lesson 0: a bad day -------------------------------------------------------------


async def bad_day() -> Lesson:
    """Three ways a lane goes wrong, on one chart: an error, a hang and a slow tail.

    Speech breaks down halfway, AI Chat never answers and Maps runs 1.5× slower
    than usual. Each request gets a timeout of its usual latency plus :data:`GRACE`
    seconds, and ``gather(return_exceptions=True)`` collects whatever comes back.
    """

    async def guarded(name: str, lane: int) -> dict[str, Any]:
        async with timeout(services.get_service(name).latency + GRACE):
            return await _drive(name, lane)

    title = "A bad day in AI City"
    names = list(services.SERVICES)
    with (
        timeline.recording(Timeline(name=title)) as tl,
        services.conditions(fail={"speech"}, hang={"chat"}, slow={"maps": 1.5}),
    ):
        outcomes = await asyncio.gather(
            *(guarded(n, i) for i, n in enumerate(names, 1)), return_exceptions=True
        )
    arrived = [n for n, o in zip(names, outcomes, strict=True) if isinstance(o, dict)]
    trips = {t.service: t for t in tl}
    speech, chat, maps = trips["speech"], trips["chat"], trips["maps"]
    summary = (
        f"{title}: {len(arrived)} of {len(names)} requests arrived (Maps took "
        f"{maps.duration:.1f} s instead of {services.SERVICES['maps'].latency:g} s), "
        f"Speech crashed after {speech.duration:.1f} s, and AI Chat hung until its "
        f"timeout cut it off after {chat.duration:.1f} s."
    )
    return Lesson(
        title,
        tl,
        summary,
        facts={
            "outcomes": dict(zip(names, outcomes, strict=True)),
            "statuses": {t.service: t.status for t in tl},
        },
        notes=[("Maps", services.SERVICES["maps"].latency, "usual end")],
    )


# -- Lesson 1: gather with one failure ----------------------------------------------


async def gather_one_failure(*, return_exceptions: bool = False) -> Lesson:
    """``asyncio.gather`` when one of four requests (AI Chat) crashes.

    Without ``return_exceptions`` the ``await`` raises the first error at once, but
    gather cancels nobody: the other lanes keep driving, and their answers are lost
    to the caller. (The lesson waits for them anyway, so the chart shows them.) With
    ``return_exceptions=True`` gather waits for every lane and hands back answers
    and the exception together, in order.
    """
    title = f"gather(return_exceptions={return_exceptions})"
    marks: list[tuple[float, str]] = []
    facts: dict[str, Any] = {}
    with (
        timeline.recording(Timeline(name=title)) as tl,
        services.conditions(fail={"chat"}),
    ):
        # Tasks of our own, so that after gather raises we can still wait for the rest.
        tasks = [asyncio.create_task(_drive(n, i)) for i, n in enumerate(FOUR, 1)]
        try:
            results = await asyncio.gather(*tasks, return_exceptions=return_exceptions)
        except services.ServiceError as exc:
            raised_at = tl.elapsed()
            facts.update(
                raised=exc,
                raised_at=raised_at,
                still_driving=[n for n, t in zip(FOUR, tasks, strict=True) if not t.done()],
            )
            marks.append((raised_at, "gather raised"))
            await asyncio.wait(tasks)  # nobody cancelled them: they drive on
        else:
            facts["results"] = results
            marks.append((tl.elapsed(), "gather returned"))
    ok = [t for t in tl if t.status == "ok"]
    if return_exceptions:
        errors = [r for r in facts["results"] if isinstance(r, BaseException)]
        summary = (
            f"gather waited for every lane ({tl.makespan:.1f} s) and returned "
            f"{len(ok)} answers and {len(errors)} {type(errors[0]).__name__} in one "
            "list, in the order the requests were sent."
        )
    else:
        driving = facts["still_driving"]
        summary = (
            f"gather raised {type(facts['raised']).__name__} after "
            f"{facts['raised_at']:.1f} s, but cancelled nobody: the other "
            f"{len(driving)} lanes kept driving until {tl.makespan:.1f} s, and their "
            "answers never reached the caller."
        )
    return Lesson(title, tl, summary, marks, facts=facts)


# -- Lesson 2: a TaskGroup cancels the siblings --------------------------------------


async def taskgroup_cancels_siblings() -> Lesson:
    """``asyncio.TaskGroup`` when one of four requests (AI Chat) crashes.

    The group cancels every sibling still driving, waits for them to stop, then
    raises an ``ExceptionGroup`` holding the error: all or nothing.
    """
    title = "TaskGroup"
    errors: list[Exception] = []
    with (
        timeline.recording(Timeline(name=title)) as tl,
        services.conditions(fail={"chat"}),
    ):
        try:
            async with asyncio.TaskGroup() as group:
                for i, name in enumerate(FOUR, 1):
                    group.create_task(_drive(name, i))
        except* services.ServiceError as caught:
            errors.extend(caught.exceptions)
    chat = next(t for t in tl if t.service == "chat")
    status = {t.service: t.status for t in tl}
    # Named in the order they were sent: cancelled trips end in no particular order.
    cancelled = [_title(n) for n in FOUR if status[n] == "cancelled"]
    finished = [_title(n) for n in FOUR if status[n] == "ok"]
    summary = (
        f"AI Chat crashed after {chat.end:.1f} s, so the TaskGroup cancelled the "
        f"{len(cancelled)} siblings still driving ({', '.join(cancelled)}); "
        f"{', '.join(finished) or 'nobody'} had already arrived. It raised an "
        f"ExceptionGroup with {len(errors)} {type(errors[0]).__name__}."
    )
    return Lesson(
        title,
        tl,
        summary,
        [(chat.end, "TaskGroup cancels the rest")],
        facts={"errors": errors, "cancelled": cancelled, "finished": finished},
    )


# -- Lesson 3: a timeout on a hung service ------------------------------------------


async def timeout_on_hung_service(limit: float = 2.0) -> Lesson:
    """AI Chat hangs; a ``limit``-second timeout cuts it off and Popy answers anyway.

    Weather and Translate drive normally. Without a timeout the chat request would wait
    for as long as the hang lasts (an hour of city time).
    """

    async def chat_with_deadline() -> dict[str, Any]:
        try:
            async with timeout(limit):
                return await _drive("chat", 2)
        except TimeoutError:
            return {"service": "chat", "reply": FALLBACK_REPLY, "fallback": True}

    title = f"asyncio.timeout({limit:g}) on a hung service"
    with (
        timeline.recording(Timeline(name=title)) as tl,
        services.conditions(hang={"chat"}) as cond,
    ):
        weather, chat, translate = await asyncio.gather(
            _drive("weather", 1), chat_with_deadline(), _drive("translate", 3)
        )
    cut = next(t for t in tl if t.service == "chat")
    summary = (
        f"AI Chat hung, and the {limit:g} s timeout cut it off after {cut.duration:.1f} s; "
        f"Popy answered with a fallback, and all three requests were done in "
        f"{tl.makespan:.1f} s. Without a timeout they would have waited "
        f"{cond.hang_seconds:g} s."
    )
    return Lesson(
        title,
        tl,
        summary,
        [(limit, f"timeout {limit:g} s")],
        facts={"answers": {"weather": weather, "chat": chat, "translate": translate}},
    )


# -- Lesson 4: a Semaphore as a toll booth ------------------------------------------


async def toll_booth(limit: int = 2, names: Sequence[str] | None = None) -> Lesson:
    """Every request wants the highway at once; an ``asyncio.Semaphore`` lets ``limit`` on.

    A real upstream (a model API, a database) allows only so many connections; the
    semaphore is the toll booth that keeps the rest waiting in line politely.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a toll booth needs at least 1 lane, not {limit!r}")
    chosen = list(services.SERVICES if names is None else names)
    booth = asyncio.Semaphore(limit)
    free_lanes = [f"booth lane {i}" for i in range(limit, 0, -1)]  # popped from the end

    async def through_booth(name: str) -> dict[str, Any]:
        async with booth:
            lane = free_lanes.pop()
            try:
                return await services.call(name, request=_title(name), lane=lane, queued=0.0)
            finally:
                free_lanes.append(lane)

    title = f"Toll booth: Semaphore({limit})"
    with timeline.recording(Timeline(name=title)) as tl:
        await asyncio.gather(*(through_booth(n) for n in chosen))
    most = most_lanes_in_use(tl)
    predicted = predict_makespan(
        "threads", [services.get_service(n).latency for n in chosen], limit
    )
    longest = max(tl, key=lambda t: t.wait)
    summary = (
        f"Toll booth with {limit} lanes: {len(chosen)} requests done in "
        f"{tl.makespan:.1f} s (the lane arithmetic says {predicted:g} s); never more "
        f"than {most} on the road at once; {longest.request} waited longest "
        f"({longest.wait:.1f} s)."
    )
    return Lesson(title, tl, summary, facts={"most_in_use": most, "predicted": predicted})


# -- Lesson 5: CPU-bound work on the loop, and its cures ----------------------------


def crunch(real_seconds: float) -> int:
    """Busy CPU work (SHA-256 rounds in pure Python) for ``real_seconds``; returns the rounds.

    The work is time-boxed rather than a fixed number of rounds, so it lasts the same
    city time on a fast laptop and a slow CI runner. It really holds the CPU, and the
    GIL like any pure-Python loop (in a thread, it hands the GIL over only when the
    interpreter's 5 ms switch interval says so), as parsing a large JSON file would.
    """
    deadline = time.perf_counter() + real_seconds
    digest, rounds = b"citypopy", 0
    while time.perf_counter() < deadline:
        for _ in range(200):
            digest = hashlib.sha256(digest).digest()
        rounds += 200
    return rounds


async def cpu_on_the_loop(cure: str = "none", *, work: float = 3.0) -> Lesson:
    """``work`` city seconds of CPU crunching next to Weather and Maps, with a heartbeat.

    Args:
        cure: ``"none"`` crunches right in a coroutine, which blocks the event loop:
            the heartbeat stops and Weather cannot finish until the crunch does.
            ``"thread"`` moves it into ``asyncio.to_thread``: the loop gets its turns
            back, but the thread shares the GIL, which changes hands every 5 ms
            (``sys.getswitchinterval()``), so the heartbeat keeps ticking with small
            stutters, and the Python work itself gets no faster.
            ``"process"`` sends it to a ``ProcessPoolExecutor``: another process, a
            GIL and a CPU core of its own.
        work: City seconds of CPU work.
    """
    if cure not in CURES:
        raise ValueError(f"unknown cure {cure!r}; choose one of {', '.join(CURES)}")
    loop = asyncio.get_running_loop()
    real = clock.to_real(work)
    pool: ProcessPoolExecutor | None = None
    if cure == "process":
        # "spawn" works the same on every OS and from a notebook's threaded kernel.
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        # Start the worker before the clock runs: spawning takes real time that is
        # not part of the lesson and would look huge on a fast city clock.
        await loop.run_in_executor(pool, crunch, 0.0)

    async def cpu_job() -> int:
        with timeline.trip("CPU crunch", "CPU work", "lane 3", 0.0):
            if cure == "none":
                return crunch(real)  # the mistake on show: CPU work inside a coroutine
            if cure == "thread":
                return await asyncio.to_thread(crunch, real)
            return await loop.run_in_executor(pool, crunch, real)

    title = f"CPU work {CURES[cure]}"
    try:
        with timeline.recording(Timeline(name=title)) as tl:
            heart = Heartbeat(HEARTBEAT, now=tl.elapsed, sleep=clock.sleep).start()
            try:
                *_, rounds = await asyncio.gather(
                    _drive("weather", 1), _drive("maps", 2), cpu_job()
                )
            finally:
                await heart.stop()
    finally:
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)
    beats = heart.beats
    gap = max((b - a for a, b in pairwise(beats)), default=0.0)
    weather = next(t for t in tl if t.service == "weather")
    if cure == "none":
        summary = (
            f"CPU work on the event loop: the heartbeat stopped for {gap:.1f} s, and "
            f"Weather, a {services.SERVICES['weather'].latency:g} s trip, took "
            f"{weather.duration:.1f} s."
        )
    else:
        summary = (
            f"CPU work {CURES[cure]}: the heartbeat kept ticking (every {HEARTBEAT:g} s, "
            f"its longest gap {gap:.1f} s), and Weather took {weather.duration:.1f} s."
        )
    return Lesson(
        title,
        tl,
        summary,
        heartbeat=beats,
        facts={"longest_gap": gap, "weather": weather.duration, "rounds": rounds},
    )


# -- Lesson 6: fire-and-forget tasks -------------------------------------------------


async def _courier(
    signal: asyncio.Event, request: str, lane: str, tl: Timeline, collected: list[float]
) -> None:
    """Wait for ``signal``, recording the wait as a trip on ``tl``.

    A courier whose task is garbage-collected mid-trip never ends its wait: Python
    closes its coroutine (``GeneratorExit``), which is neither a crash nor a
    cancellation. Its trip is filed as ``"destroyed"`` at the city second
    ``gc.collect()`` was called (the last entry of ``collected``): the collection
    itself takes real milliseconds that a fast city clock would stretch into a bar
    running past the moment it vanished.
    """
    start = tl.elapsed()
    try:
        await signal.wait()
    except GeneratorExit:
        # File the trip by hand: a trip() block would call GeneratorExit a crash.
        end = collected[-1] if collected else tl.elapsed()
        tl.record(Trip(request, "courier", lane, 0.0, start, end, "destroyed"))
        raise
    tl.record(Trip(request, "courier", lane, 0.0, start, tl.elapsed()))


async def fire_and_forget() -> Lesson:
    """Tasks nobody keeps a reference to: an exception nobody sees, a task that vanishes.

    * A fire-and-forget AI Chat request crashes; nothing awaits it, so the error
      never reaches any caller. asyncio only reports "Task exception was never
      retrieved" to the loop's exception handler, when the task is destroyed.
    * The event loop holds tasks only by *weak* reference. A task waiting on
      something only it can see (here an ``asyncio.Event`` nobody else holds) is
      garbage-collected mid-trip: "Task was destroyed but it is pending!". It is
      not cancelled (no ``CancelledError``, no ``finally`` that awaits can finish
      its work): Python closes its coroutine, and its trip ends ``"destroyed"``. A task
      sleeping on a timer, such as a service call, is kept alive by the timer in
      CPython; don't rely on which kind you have.
    * The cure: keep each task in a set and let it remove itself when done,
      ``tasks.add(task); task.add_done_callback(tasks.discard)``.

    The lesson swaps in its own exception handler for the run, to collect what
    asyncio reports instead of letting it land in a log.
    """
    loop = asyncio.get_running_loop()
    reports: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(str(context["message"])))
    title = "Fire-and-forget tasks"
    background: set[asyncio.Task[Any]] = set()
    try:
        with timeline.recording(Timeline(name=title)) as tl:
            with services.conditions(fail={"chat"}):
                # The mistake on show: no reference kept, nobody will await it.
                asyncio.create_task(  # noqa: RUF006
                    services.call("chat", request="AI Chat (forgotten)", lane="lane 1", queued=0.0)
                )
            collected: list[float] = []  # when gc.collect() was called, once it is
            lost = weakref.ref(
                asyncio.create_task(
                    _courier(asyncio.Event(), "Courier (weak ref only)", "lane 2", tl, collected)
                )
            )
            signal = asyncio.Event()
            kept = asyncio.create_task(
                _courier(signal, "Courier (kept in a set)", "lane 3", tl, collected)
            )
            background.add(kept)
            kept.add_done_callback(background.discard)
            del kept  # from here on only the set holds it
            await clock.sleep(2.0)
            collected.append(tl.elapsed())
            gc.collect()
            vanished = lost() is None
            # Half a city second after the call, however long the collection took.
            await clock.sleep(collected[0] + 0.5 - tl.elapsed())
            signal.set()
            await asyncio.gather(*background)
    finally:
        loop.set_exception_handler(previous)
    seen = sorted(set(reports))
    summary = (
        "Nobody awaited AI Chat: it crashed after "
        f"{next(t.end for t in tl if t.service == 'chat'):.1f} s without a word to any "
        "caller. The courier held only by a weak reference was "
        f"{'destroyed' if vanished else 'spared'} by gc.collect() mid-trip; the one kept "
        f"in a set arrived and left it ({len(background)} "
        f"tasks left). asyncio's only reports: {' and '.join(map(repr, seen)) or 'none'}."
    )
    return Lesson(
        title,
        tl,
        summary,
        [(collected[0], "gc.collect()")],
        facts={"reports": seen, "vanished": vanished, "left_in_set": len(background)},
    )
