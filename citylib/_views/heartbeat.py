"""What is await? The heart's views: its chart, its live strip and the toggle.

The lesson (:mod:`citylib._lessons.heartbeat`) measures; this module draws a
:class:`~citylib._lessons.heartbeat.Pulse` (:func:`pulse_chart`), shows the live heart
(:func:`heart_html`) and connects them in :class:`AwaitToggle`.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from citylib._core.timeline import Timeline, Trip
from citylib._lessons.heartbeat import BEAT, Pulse, freezes, weather_check
from citylib._views.live import ToggleWidget, paint, picture, toggle_buttons

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AwaitToggle", "heart_html", "pulse_chart"]

#: How the chart tells a task's time apart: suspended at ``await`` (the loop is free
#: for others) or running while the heart froze (it held the whole loop).
AWAITING = ("awaiting (suspended; the loop is free)", "#0072B2")
BLOCKING = ("running (the loop is blocked)", "#D55E00")
WAITING = ("waiting for the loop", "#D9D9D9")

#: The toggle's two positions: (label, mode).
POSITIONS = (("⏳ await (polite)", "await"), ("🧱 time.sleep() (blocking)", "blocking"))


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
    pulse: Pulse,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    horizon: float | None = None,
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
        horizon: City seconds the time axis spans (default: this run's own length);
            give two runs the same one to compare them on one axis.
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
        if sum(length for _, length in blocked) < t.duration - 0.02:
            shown.add(AWAITING)
        ax.barh(y, t.duration, left=t.start, height=0.6, color=AWAITING[1])
        for start, length in blocked:
            shown.add(BLOCKING)
            ax.barh(y, length, left=start, height=0.6, color=BLOCKING[1])
    end = max([*pulse.beats, *(t.end for t in trips), 1.0, horizon or 0.0])
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
    from citylib._views.style import to_png

    return to_png(pulse_chart(pulse, names=names, title=title))
