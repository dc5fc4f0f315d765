"""What is await? A heartbeat that keeps beating, or falls silent when the loop is held.

The event loop is the city's one traffic controller. A *heartbeat* is a tiny task
on that loop that beats every quarter of a city second (the one
:class:`~citylib._core.watch.Heartbeat`). While a coroutine awaits, the loop is free
and the heart keeps beating; while one calls ``time.sleep()``, the loop is stuck and
the heart stops, with everything else on the loop.

:func:`with_heartbeat` runs coroutines together beside a heartbeat and returns a
:class:`Pulse`; :func:`weather_check` is the lesson's run: three neighbours ask the
``/weather`` route, once politely (``await``), once rudely (``time.sleep()`` inside
``async def``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from citylib._core import clock, services
from citylib._core.timeline import Timeline, Trip
from citylib._core.watch import Heartbeat, held_threshold, silences

__all__ = [
    "BEAT",
    "Pulse",
    "freezes",
    "weather_check",
    "with_heartbeat",
]

#: City seconds between two heartbeats.
BEAT = 0.25


def freezes(
    beats: Sequence[float], beat: float = BEAT, speed: float | None = None
) -> list[tuple[float, float]]:
    """``(start, length)`` of each silence between two beats long enough to be a freeze.

    A gap counts when it is longer than two beats and than the course's one rule for a
    held loop (:func:`~citylib._core.watch.held_threshold`: real seconds, here in city
    seconds at ``speed``, default the clock's). The chart, the summary and the live strip all
    ask this one function, so they never disagree about whether the heart froze.
    """
    speed = clock.speed() if speed is None else speed
    city_threshold = held_threshold(speed) * speed
    return silences(beats, beat, at_least=city_threshold)


@dataclass
class Pulse:
    """A heartbeat's record beside the tasks that ran with it.

    Attributes:
        title: What ran, such as ``"await"`` or ``"time.sleep()"``.
        timeline: One trip per task, in city seconds.
        beats: City seconds at which the heart beat.
        beat: City seconds between beats when the loop is free.
        speed: The city clock's speed during the run.
    """

    title: str
    timeline: Timeline
    beats: list[float] = field(default_factory=list)
    beat: float = BEAT
    speed: float = field(default_factory=clock.speed)

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """``(start, length)`` of each stretch the heart skipped beats (the loop was blocked)."""
        return freezes(self.beats, self.beat, self.speed)

    @property
    def longest_freeze(self) -> float:
        """The longest stretch without a heartbeat, in city seconds (0 if it never froze)."""
        return max((length for _, length in self.gaps), default=0.0)

    @property
    def span(self) -> float:
        """City seconds from the tasks' start until the last one finished."""
        trips = self.timeline.trips
        if not trips:
            return 0.0
        return max(t.end for t in trips) - min(t.queued for t in trips)

    def summary(self) -> str:
        """One line a learner (or a screen reader) can read instead of the chart."""
        n = len(self.timeline.trips)
        line = f"{self.title}: {n} {'task' if n == 1 else 'tasks'} done in {self.span:.1f} s"
        if self.longest_freeze:
            return line + (
                f"; the heartbeat froze for {self.longest_freeze:.1f} s "
                "(the event loop was blocked) 💔"
            )
        return line + "; the heartbeat never skipped a beat 💓"


async def with_heartbeat(
    *tasks: Coroutine[Any, Any, Any],
    names: Sequence[str] | None = None,
    title: str = "",
    lead: float = 1.0,
    beat: float = BEAT,
    on_beat: Callable[[list[float]], None] | None = None,
) -> Pulse:
    """Run coroutines together (``asyncio.gather``) while a heartbeat ticks on the same loop.

    The heart beats alone for ``lead`` city seconds, the tasks start together, and
    it beats on for ``lead`` more after they finish: a frozen stretch stands out.

    Args:
        tasks: The coroutines, such as ``polite(), polite(), polite()``.
        names: One per task (default: each coroutine's name, numbered).
        title: What the run is called in the summary.
        lead: City seconds of heartbeat before and after.
        beat: City seconds between beats.
        on_beat: Called with the beat times (so far) at every beat: a live display.

    Returns:
        The :class:`Pulse`: beats and one trip per task.
    """
    if not tasks:
        raise ValueError("with_heartbeat() needs at least one coroutine, such as polite()")
    labels = list(names) if names is not None else _default_names(tasks)
    if len(labels) != len(tasks):
        for task in tasks:
            task.close()
        raise ValueError(f"got {len(tasks)} tasks but {len(labels)} names")
    tl = Timeline(name=title)
    heartbeat = Heartbeat(
        beat, now=tl.elapsed, sleep=clock.sleep, real_per_unit=clock.to_real(1), on_beat=on_beat
    )

    async def timed(name: str, task: Coroutine[Any, Any, Any], queued: float) -> Any:
        # Recorded here, not by services.call: a learner's coroutine records nothing.
        start = tl.elapsed()
        status = "error"
        try:
            result = await task
            status = "ok"
            return result
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            tl.record(Trip(name, "task", "event loop", queued, start, tl.elapsed(), status))

    heartbeat.start()
    runs: list[asyncio.Future[Any]] = []
    try:
        await clock.sleep(lead)
        queued = tl.elapsed()
        runs = [
            asyncio.ensure_future(timed(n, t, queued)) for n, t in zip(labels, tasks, strict=True)
        ]
        await asyncio.gather(*runs)
        await clock.sleep(lead)
    finally:
        # One task failed, or the run was called off: the others stop too.
        still = [r for r in runs if not r.done()]
        for r in still:
            r.cancel()
        if still:
            await asyncio.wait(still)
        for task in tasks:
            if inspect.getcoroutinestate(task) == inspect.CORO_CREATED:
                task.close()  # called off before it started: spare a "never awaited" warning
        await heartbeat.stop()
    return Pulse(title, tl, heartbeat.beats, beat, clock.speed())


def _default_names(tasks: Sequence[Coroutine[Any, Any, Any]]) -> list[str]:
    return [f"{getattr(t, '__name__', 'task')} #{i}" for i, t in enumerate(tasks, 1)]


# The widget's two ways of answering the seed's /weather route.


async def get_weather() -> dict[str, Any]:
    """The seed's route, politely: ``await ask_weather_service()``."""
    return await services.ask_weather_service()


async def get_weather_blocking() -> dict[str, Any]:
    """The same route written rudely: a blocking call inside ``async def``."""
    return services.fetch_weather_blocking()  # time.sleep inside: the whole loop stops


async def weather_check(
    mode: str = "await",
    neighbours: int = 3,
    on_beat: Callable[[list[float]], None] | None = None,
) -> Pulse:
    """Three neighbours ask ``/weather`` at once while the heart beats.

    Args:
        mode: ``"await"`` (the seed's route) or ``"blocking"`` (``time.sleep`` inside).
        neighbours: How many ask at once (1 to 10).
        on_beat: Called at every beat, for a live display.
    """
    if mode not in ("await", "blocking"):
        raise ValueError(f"mode is 'await' or 'blocking', not {mode!r}")
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or not 1 <= neighbours <= 10:
        raise ValueError(f"neighbours is a whole number from 1 to 10, not {neighbours!r}")
    handler = get_weather if mode == "await" else get_weather_blocking
    return await with_heartbeat(
        *(handler() for _ in range(neighbours)),
        names=[f"neighbour {i}" for i in range(1, neighbours + 1)],
        title="await ask_weather_service()" if mode == "await" else "time.sleep() inside async def",
        on_beat=on_beat,
    )
