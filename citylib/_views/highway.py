"""The Async Highway opens: a toggle between the traffic jam and the highway.

:class:`HighwayToggle` sends the six AI requests through one lane (``sync``) or
the Async Highway (``async``) and draws the lanes filling in live, with a status
line that follows the run ("One request at a time. Still waiting on image gen… ⏳").
:func:`watch_race` draws one race live in an ordinary cell output and leaves the
last frame as a plain PNG plus a one-line summary, for readers without a kernel.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

import ipywidgets as widgets

from citylib._core.race import (
    MODE_TITLES,
    RaceResult,
    Request,
    check_mode,
    city_requests,
    one_lane_horizon,
    run_race,
    slowest,
)
from citylib._core.services import SERVICES
from citylib._core.timeline import DRIVING, Timeline, Trip
from citylib._views import race_charts as charts
from citylib._views.live import (
    ToggleWidget,
    follow,
    paint,
    picture,
    requests_from,
    toggle_buttons,
)

__all__ = ["HighwayToggle", "highway_status", "watch_race"]

#: The toggle's two positions: (label, race mode).
POSITIONS = (("🚨 Traffic jam (one lane)", "sync"), ("✨ Async Highway", "async"))

#: The seed's words for a one-lane city held up by the image truck.
STILL_WAITING_ON = "One request at a time. Still waiting on {truck}… ⏳"
STILL_WAITING = STILL_WAITING_ON.format(truck="image gen")


async def watch_race(
    mode: str = "sync", requests: Sequence[Request] | None = None, *, lanes: int = 2
) -> RaceResult:
    """Run one race and draw its lanes filling in live in the cell's output.

    The last frame stays in the notebook as an ordinary PNG, followed by the race's
    one-line summary.

    Args:
        mode: ``"sync"``, ``"threads"`` or ``"async"``.
        requests: Defaults to the six requests of :func:`citylib._core.race.city_requests`.
        lanes: Worker threads for ``threads`` mode.

    Returns:
        The finished :class:`~citylib._core.race.RaceResult`.
    """
    from IPython.display import Image, display

    reqs = city_requests() if requests is None else list(requests)
    check_mode(mode, lanes)
    chart = charts.LaneChart(reqs, one_lane_horizon(reqs), title=MODE_TITLES[mode])
    handle = display(Image(chart.frame([], 0.0)), display_id=True)
    tl = Timeline(name=mode)  # time 0 is now, when every car arrives

    async def frame(finished: bool) -> None:
        png = await paint(chart.frame, tl.snapshot(), tl.elapsed(), finished)
        if handle is not None:
            handle.update(Image(png))

    result = await follow(run_race(mode, reqs, lanes=lanes, record_into=tl), frame)
    print(result.summary())
    return result


def highway_status(
    mode: str, trips: Sequence[Trip], requests: Sequence[Request], finished: bool = False
) -> str:
    """The status line for a run at one moment: what a learner should notice now.

    Args:
        mode: ``"sync"`` or ``"async"``.
        trips: The timeline's snapshot (trips still under way have status ``driving``).
        requests: All the run's requests.
        finished: Whether the run is over.
    """
    by_request = {t.request: t for t in trips}
    driving = [t for t in trips if t.status == DRIVING]
    waiting = [r for r in requests if r.name not in by_request]
    if finished:
        return _finished_status(mode, trips, requests)
    if mode == "sync":
        if not driving:
            return "🚨 One request at a time. The first car is pulling out…"
        now = driving[0]
        truck = slowest(requests)
        if now.request == truck.name:
            stuck = len(waiting)
            still = STILL_WAITING_ON.format(truck=truck.service.title.lower())
            return f"🚨 {still} {stuck} {_cars(stuck)} stuck behind the truck."
        title = SERVICES[now.service].label if now.service in SERVICES else now.request
        return (
            f"🚨 One request at a time. Now serving {title}… ⏳ "
            f"{len(waiting)} still waiting in line."
        )
    home = sorted((t for t in trips if t.status != DRIVING), key=lambda t: t.end)
    if not home:
        return (
            f"✨ Every request has its own lane: {len(driving)} cars driving at once, "
            "nobody in line. 🛣️"
        )
    truck = slowest(requests)
    if len(driving) == 1 and driving[0].request == truck.name:
        return (
            f"✨ Everyone else is home; only the {truck.service.emoji} "
            f"{truck.service.name} truck is still on the road. 🛣️"
        )
    last = home[-1]
    return (
        f"✨ {_label(last, requests)} is home after {last.end:.1f} s, no waiting in line! ⚡ "
        f"{len(driving)} still driving in their own lanes. 🛣️"
    )


def _finished_status(mode: str, trips: Sequence[Trip], requests: Sequence[Request]) -> str:
    done = [t for t in trips if t.status != DRIVING]
    if not done:
        return "Nothing drove."
    makespan = max(t.end for t in done)
    if mode == "sync":
        worst = max(done, key=lambda t: t.wait)
        return (
            f"😤 Jam cleared after {makespan:.1f} s. {_label(worst, requests)} waited "
            f"{worst.wait:.1f} s in line for a {worst.duration:.1f} s trip."
        )
    quickest = min(done, key=lambda t: t.end)
    return (
        f"🎉 All {len(done)} requests done in {makespan:.1f} s: as long as the slowest truck, "
        f"not all the trips added up. {_label(quickest, requests)} was home after "
        f"{quickest.end:.1f} s."
    )


def _label(t: Trip, requests: Sequence[Request]) -> str:
    for r in requests:
        if r.name == t.request:
            return r.service.label
    return t.request


def _cars(n: int) -> str:
    return "car" if n == 1 else "cars"


class HighwayToggle(ToggleWidget):
    """Flip between the traffic jam (one lane) and the Async Highway, and watch.

    Each flip sends the requests into the city again, draws the lanes filling in
    live and keeps the status line up to date; flipping again mid-run calls the
    run off and starts the other. "🔁 Drive again" repeats the current mode.

    Args:
        requests: Service names, one car each (default: all six, image first).

    Attributes:
        toggle: The mode toggle (``None`` until the first flip, then ``"sync"`` or
            ``"async"``); setting its ``value`` from code flips it too.
        again: The "🔁 Drive again" button.
        picture: The live lane chart.
        result: The last finished run, or ``None``.
    """

    plain_text = "flip between 🚨 the traffic jam and ✨ the Async Highway (live in a notebook)"

    def __init__(self, requests: Sequence[str] | str | None = None) -> None:
        self.toggle = toggle_buttons(
            POSITIONS, ["One lane: every car waits its turn", "Every request gets its own lane"]
        )
        self.again = widgets.Button(description="🔁 Drive again", disabled=True)
        self.picture = picture()
        super().__init__([widgets.HBox([self.toggle, self.again]), self.picture])
        self.result: RaceResult | None = None
        self._charts: dict[str, charts.LaneChart] = {}
        try:
            self.requests = requests_from(requests)
        except ValueError as exc:
            self.requests = []
            self.toggle.disabled = True
            self.say(f"⚠️ {exc}", warning=True)
            return
        self.picture.value = self._chart("sync").frame([], 0.0)
        self.say(f"👆 Pick a road and watch {len(self.requests)} cars enter the city at once.")
        self.again.on_click(lambda _: self.play(self.toggle.value))
        self._listen()

    def _chart(self, mode: str) -> charts.LaneChart:
        if mode not in self._charts:  # drawn once per mode, then only the bars move
            self._charts[mode] = charts.LaneChart(
                self.requests, one_lane_horizon(self.requests), title=MODE_TITLES[mode]
            )
        return self._charts[mode]

    def _run(self, mode: str) -> Coroutine[Any, Any, None]:
        self.again.disabled = False
        return self._drive(mode)

    async def _drive(self, mode: str) -> None:
        chart = self._chart(mode)
        self.picture.value = chart.frame([], 0.0)  # the empty road, before the cars pull out
        self.say(highway_status(mode, [], self.requests))
        tl = Timeline(name=mode)

        async def frame(finished: bool) -> None:
            trips = tl.snapshot()
            self.say(highway_status(mode, trips, self.requests, finished))
            self.picture.value = await paint(chart.frame, trips, tl.elapsed(), finished)

        self.result = await follow(run_race(mode, self.requests, record_into=tl), frame)
