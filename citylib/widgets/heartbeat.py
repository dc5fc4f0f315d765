"""What is await? A heartbeat that keeps beating, or freezes when the loop is blocked.

The event loop is the city's one traffic controller. A *heartbeat* is a tiny task
on that loop that beats every quarter of a city second. While a coroutine awaits,
the loop is free and the heart keeps beating; while one calls ``time.sleep()``, the
loop is stuck and the heart stops, with everything else on the loop.

:func:`with_heartbeat` runs coroutines together beside a heartbeat and returns a
:class:`Pulse` (chart and summary); :class:`AwaitToggle` is the widget: three
neighbours ask the ``/weather`` route, once politely (``await``), once rudely
(``time.sleep()`` inside ``async def``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from citylib import clock, services
from citylib.timeline import Timeline, Trip
from citylib.widgets._live import ToggleWidget, paint, picture, toggle_buttons

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BEAT",
    "AwaitToggle",
    "Pulse",
    "freezes",
    "heart_html",
    "weather_check",
    "with_heartbeat",
]

#: City seconds between two heartbeats.
BEAT = 0.25

#: A gap this many beats long means the loop was blocked: the heart froze.
FROZEN_AFTER = 2.0

#: Real seconds of silence a busy computer may cause on its own (another program, a
#: garbage collection). A fast city clock magnifies them (at speed 20, 50 ms is a
#: city second), so a gap must also be longer than this to count as a freeze.
HICCUP = 0.1

#: How the chart tells a task's time apart: suspended at ``await`` (the loop is free
#: for others) or running while the heart froze (it held the whole loop).
AWAITING = ("awaiting (suspended; the loop is free)", "#0072B2")
BLOCKING = ("running (the loop is blocked)", "#D55E00")
WAITING = ("waiting for the loop", "#D9D9D9")

#: The toggle's two positions: (label, mode).
POSITIONS = (("⏳ await (polite)", "await"), ("🧱 time.sleep() (blocking)", "blocking"))


def freezes(
    beats: Sequence[float], beat: float = BEAT, speed: float | None = None
) -> list[tuple[float, float]]:
    """``(start, length)`` of each silence between two beats long enough to be a freeze.

    A gap counts when it is longer than :data:`FROZEN_AFTER` beats and than a busy
    computer's :data:`HICCUP` (measured in city seconds at ``speed``, default the
    clock's). The chart, the summary and the live strip all ask this one function,
    so they never disagree about whether the heart froze.
    """
    city_hiccup = HICCUP * (clock.speed() if speed is None else speed)
    longest_beat = max(FROZEN_AFTER * beat, city_hiccup)
    return [(a, b - a) for a, b in itertools.pairwise(beats) if b - a > longest_beat]


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

    def chart(self) -> Figure:
        """The heartbeat row above the tasks' lanes, frozen stretches shaded red."""
        return pulse_chart(self)


def blocked_parts(trip: Trip, gaps: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``(start, length)`` of the parts of a task's drive during which the heart froze.

    While the heart beats on, a task that is not finished is suspended at an
    ``await``: the loop is free. While it is frozen, the task that holds the loop is
    running (``time.sleep()``, a long calculation) and nobody else moves.
    """
    parts = []
    for start, length in gaps:
        a, b = max(trip.start, start), min(trip.end, start + length)
        if b > a:
            parts.append((a, b - a))
    return parts


def pulse_chart(
    pulse: Pulse, *, names: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Draw a :class:`Pulse`: beats as ticks, each task as a bar, freezes in red.

    A task's bar is blue while it awaits (suspended, the loop free: the heart beats
    on) and vermillion where it ran while the heart was frozen (it held the loop);
    grey stripes are time it waited for the loop to get to it.

    Args:
        pulse: The run.
        names: The task rows to show (default: the tasks that ran); a run about to
            start shows its empty rows.
        title: Heading (default: what ran, how long, and whether the heart froze).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    trips = sorted(pulse.timeline.trips, key=lambda t: (t.queued, t.request))
    rows = ["heartbeat", *(names if names is not None else (t.request for t in trips))]
    index = {name: y for y, name in enumerate(rows)}
    fig = Figure(figsize=(8, 1.3 + 0.42 * len(rows)), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.vlines(pulse.beats, -0.3, 0.3, color="#C0392B", linewidth=2)
    gaps = pulse.gaps
    for start, length in gaps:
        ax.barh(0, length, left=start, height=0.7, color="#C0392B", alpha=0.18)
        ax.text(
            start + length / 2,
            0,
            f"frozen {length:.1f} s",
            ha="center",
            va="center",
            fontsize=8,
            color="#8B1A1A",
        )
    shown: set[tuple[str, str]] = set()
    for t in trips:
        y = index[t.request]
        if t.wait > 0:
            if t.wait > 0.02:  # a task's first step a few milliseconds late is no queue
                shown.add(WAITING)
            ax.barh(
                y,
                t.wait,
                left=t.queued,
                height=0.6,
                color=WAITING[1],
                hatch="///",
                edgecolor="#9A9A9A",
                linewidth=0,
            )
        blocked = blocked_parts(t, gaps)
        if sum(length for _, length in blocked) < t.drive - 0.02:
            shown.add(AWAITING)
        ax.barh(y, t.drive, left=t.start, height=0.6, color=AWAITING[1])
        for start, length in blocked:
            shown.add(BLOCKING)
            ax.barh(y, length, left=start, height=0.6, color=BLOCKING[1])
    end = max([*pulse.beats, *(t.end for t in trips), 1.0])
    ax.set_xlim(0, end * 1.05)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlabel("city seconds")
    heart = (
        f"the heartbeat froze for {pulse.longest_freeze:.1f} s"
        if pulse.longest_freeze
        else "the heartbeat never skipped a beat"
    )
    if title is None:
        title = f"{pulse.title}: {len(trips)} tasks in {pulse.span:.1f} s\n{heart}"
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    # Only what the chart shows, so a polite run never claims a blocked loop.
    parts = [p for p in (WAITING, AWAITING, BLOCKING) if p in shown] or [AWAITING, BLOCKING]
    handles = [Patch(color="#C0392B", label="heartbeat")]
    for label, colour in parts:
        hatch = "///" if (label, colour) == WAITING else None
        handles.append(Patch(facecolor=colour, hatch=hatch, edgecolor="#9A9A9A", label=label))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        fontsize=8,
        frameon=False,
    )
    return fig


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
    beats: list[float] = []

    async def heart() -> None:
        # Beats keep to fixed deadlines, first + k * beat: waiting a whole beat after
        # each one would add every late wake-up to all later beats, and the strip
        # would show drift as missed beats. After a freeze the missed deadlines are
        # skipped, not made up in a burst.
        first = tl.elapsed()
        k = 0
        while True:
            beats.append(tl.elapsed())
            if on_beat is not None:
                on_beat(beats)
            k = max(k + 1, math.floor((tl.elapsed() - first) / beat) + 1)
            await clock.sleep(first + k * beat - tl.elapsed())

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

    heartbeat = asyncio.ensure_future(heart())
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
        heartbeat.cancel()
        await asyncio.wait({heartbeat})
    return Pulse(title, tl, beats, beat, clock.speed())


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


#: Characters the live strip shows: the last dozen city seconds or so.
STRIP = 48


def heart_html(beats: Sequence[float], beat: float = BEAT, speed: float | None = None) -> str:
    """The live heart: a big heart that swells on every beat, over an ECG-like strip.

    The strip shows ``♥`` for every beat and, inside each freeze (a gap that
    :func:`freezes` counts, as the chart and the summary do), a red ``─`` (a flat
    line) for every beat that never came. A beat that is merely a little late
    leaves no dash.

    Args:
        beats: City seconds at which the heart beat.
        beat: City seconds between beats when the loop is free.
        speed: The city clock's speed during the run (default: the clock's now).
    """
    count = len(beats)
    heart, size = ("💓", 46) if count % 2 else ("❤️", 36)
    frozen = {start: length for start, length in freezes(beats, beat, speed)}
    cells: list[str] = []
    for b in beats:
        cells.append("♥")
        if b in frozen:
            missed = max(1, round(frozen[b] / beat) - 1)
            cells.extend(['<span style="color:#C0392B">─</span>'] * missed)
    strip = "".join(cells[-STRIP:])
    return (
        '<div style="display:flex; align-items:center; gap:14px; min-height:64px">'
        f'<span style="font-size:{size}px; width:60px; text-align:center">{heart}</span>'
        f'<span><b>{count}</b> beats<br><span style="font-family:monospace; font-size:16px; '
        f'color:#C0392B; letter-spacing:1px">{strip}</span></span></div>'
    )


class AwaitToggle(ToggleWidget):
    """Toggle between awaiting politely and blocking, and watch the event loop's heart.

    Each flip runs :func:`weather_check`: three neighbours ask ``/weather`` at once.
    With ``await`` the heart keeps beating and all three are served together; with
    ``time.sleep()`` inside ``async def`` the heart freezes (the whole loop, this
    widget's updates included, is stuck) and they are served one after another.
    Flipping again calls the run in flight off.

    Args:
        neighbours: How many neighbours ask at once (1 to 10).

    Attributes:
        toggle: The toggle (``None`` until the first flip); setting ``value`` flips it.
        heart: The live heartbeat (HTML).
        picture: The last run's chart (empty rows while a run is on: watch the heart).
        pulse: The last finished :class:`Pulse`, or ``None``.
    """

    plain_text = "flip between ⏳ await and 🧱 time.sleep() and watch the heartbeat (live)"

    def __init__(self, neighbours: int = 3) -> None:
        self.toggle = toggle_buttons(
            POSITIONS, ["await: the loop keeps working", "time.sleep(): the whole loop stops"]
        )
        self.heart = widgets.HTML(heart_html([]))
        self.picture = picture()
        super().__init__([self.toggle, self.heart, self.picture])
        self.neighbours = neighbours
        self.pulse: Pulse | None = None
        if (
            isinstance(neighbours, bool)
            or not isinstance(neighbours, int)
            or not 1 <= neighbours <= 10
        ):
            self.toggle.disabled = True
            self.say(
                f"⚠️ neighbours is a whole number from 1 to 10, not {neighbours!r}", warning=True
            )
            return
        self.picture.value = _png(
            Pulse("", Timeline()), self._names, "Flip the toggle: the heart beats on this row\n "
        )
        self.say(f"👆 Pick one: {neighbours} neighbours will ask the /weather route at once.")
        self._listen()

    @property
    def _names(self) -> list[str]:
        return [f"neighbour {i}" for i in range(1, self.neighbours + 1)]

    def _run(self, mode: str) -> Coroutine[Any, Any, None]:
        return self._check(mode)

    async def _check(self, mode: str) -> None:
        waiting = (
            "await ask_weather_service()" if mode == "await" else "time.sleep() inside async def"
        )
        self.picture.value = await paint(
            _png, Pulse("", Timeline()), self._names, f"{waiting}: running…\nwatch the heart above"
        )
        if mode == "await":
            self.say(
                "⏳ await: while each neighbour waits for the weather, the loop keeps working…"
            )
        else:
            self.say("🧱 time.sleep() inside async def: the whole loop stops. Watch the heart…")

        def beat(beats: list[float]) -> None:
            self.heart.value = heart_html(beats)

        self.pulse = pulse = await weather_check(mode, self.neighbours, on_beat=beat)
        self.heart.value = heart_html(pulse.beats)
        self.picture.value = await paint(_png, pulse)
        if pulse.longest_freeze:
            self.say(
                f"💔 The heart froze for {pulse.longest_freeze:.1f} s: time.sleep() held the "
                f"whole loop, so the {self.neighbours} neighbours went one after another "
                f"({pulse.span:.1f} s)."
            )
        else:
            self.say(
                f"💓 The heart never skipped a beat, and all {self.neighbours} neighbours got "
                f"their weather together in {pulse.span:.1f} s."
            )


def _png(pulse: Pulse, names: Sequence[str] | None = None, title: str | None = None) -> bytes:
    from citylib.charts import to_png

    return to_png(pulse_chart(pulse, names=names, title=title))
