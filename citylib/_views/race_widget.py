"""The Concurrency Race: six requests through three routing systems, side by side.

:class:`RaceWidget` starts the same six requests through one lane (``sync``), a
thread pool (``threads``) and the Async Highway (``async``) at the same moment, draws
the three lane charts filling in side by side, and ends with the speed-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import ipywidgets as widgets

from citylib._core.race import (
    MODES,
    RaceResult,
    check_mode,
    one_lane_horizon,
    run_race,
    speedup,
    system_title,
)
from citylib._core.timeline import Timeline, Trip
from citylib._views import race_charts as charts
from citylib._views.live import LiveWidget, follow, paint, picture, requests_from
from citylib._views.style import to_png

__all__ = ["RaceWidget", "race_status"]


def race_status(results: Sequence[RaceResult]) -> str:
    """The finish line: each system's time, fastest first, and the highway's speed-up."""
    by_mode = {r.mode: r for r in results}
    ranked = sorted(results, key=lambda r: r.makespan)
    times = " · ".join(f"{r.title} {r.makespan:.1f} s" for r in ranked)
    line = f"🏆 {times}."
    jam, highway = by_mode.get("sync"), by_mode.get("async")
    if jam is not None and highway is not None and highway.makespan > 0:
        line += (
            f" The Async Highway finished {speedup(jam, highway):.1f}× faster "
            "than one lane, on one thread."
        )
    return line


class RaceWidget(LiveWidget):
    """Race the requests through one lane, a thread pool and the Async Highway at once.

    Press "🏁 Start the race!" to send the same requests into all three systems at
    the same moment; the lane charts fill in side by side. Pressing it again mid-race
    calls the race off and starts a new one. The slider sets the thread pool's lanes.

    Args:
        requests: Service names, one car each (default: all six, image first).
        lanes: The thread pool's worker threads (1 to 6).

    Attributes:
        lanes: The slider for the thread pool's lanes.
        go: The start button.
        picture: The three live lane charts.
        results: The last finished race, one result per system, or ``[]``.
    """

    plain_text = "race 6 requests through one lane, a thread pool and the Async Highway (live)"

    def __init__(self, requests: Sequence[str] | str | None = None, *, lanes: int = 2) -> None:
        self.lanes = widgets.IntSlider(
            value=2,
            min=1,
            max=6,
            description="🧵 thread lanes",
            continuous_update=False,
            style={"description_width": "initial"},
        )
        self.go = widgets.Button(description="🏁 Start the race!", button_style="success")
        self.go.add_class("citylib-run")  # the browser tests find the start button by it
        self.picture = picture()
        super().__init__([widgets.HBox([self.go, self.lanes]), self.picture])
        self.results: list[RaceResult] = []
        try:
            check_mode("threads", lanes)
            if lanes > self.lanes.max:
                raise ValueError(f"lanes goes up to {self.lanes.max} here, not {lanes!r}")
            self.requests = requests_from(requests)
        except ValueError as exc:
            self.requests = []
            self.go.disabled = self.lanes.disabled = True
            self.say(f"⚠️ {exc}", warning=True)
            return
        self.lanes.value = lanes
        self.picture.value = self._board(lanes).render()
        self.say(f"🚦 {len(self.requests)} cars at the starting line of three cities. Press 🏁!")
        self.go.on_click(lambda _: self.play())

    def _board(self, lanes: int) -> charts.LaneBoard:
        horizon = one_lane_horizon(self.requests)
        return charts.LaneBoard([(system_title(m, lanes), self.requests) for m in MODES], horizon)

    def play(self) -> None:
        """Start the race (calling off one in flight) with the slider's lanes."""
        if self.requests:
            self.start(self._race(self.lanes.value))

    async def _race(self, lanes: int) -> None:
        board = self._board(lanes)
        self.picture.value = board.render()  # three empty roads, before the cars pull out
        self.say("🏎️ Racing… 0.0 s on the clock. Who finishes first?")
        timelines = [Timeline(name=m) for m in MODES]
        runs = [
            asyncio.ensure_future(run_race(m, self.requests, lanes=lanes, record_into=tl))
            for m, tl in zip(MODES, timelines, strict=True)
        ]

        def draw(moments: list[tuple[list[Trip], float, bool]]) -> bytes:
            for i, moment in enumerate(moments):
                board.update(i, *moment)
            return board.render()

        async def frame(finished: bool) -> None:
            moments = [
                (tl.snapshot(), tl.elapsed(), finished or run.done())
                for tl, run in zip(timelines, runs, strict=True)
            ]
            self.say(self._progress(runs, timelines, finished))
            self.picture.value = await paint(draw, moments)

        self.results = await follow(asyncio.gather(*runs), frame)
        # The last picture is the full comparison, speed-ups in the titles.
        self.picture.value = await paint(lambda: to_png(charts.compare(self.results)))
        self.say(race_status(self.results))

    def _progress(
        self,
        runs: Sequence[asyncio.Future[RaceResult]],
        timelines: Sequence[Timeline],
        finished: bool,
    ) -> str:
        done = [r.result() for r in runs if r.done() and not r.cancelled() and not r.exception()]
        if finished or not done:
            clock = max(tl.elapsed() for tl in timelines)
            return f"🏎️ Racing… {clock:.1f} s on the clock. Who finishes first?"
        names = ", ".join(f"{r.title} in {r.makespan:.1f} s" for r in done)
        return f"🏎️ Finished: {names}. The others are still driving…"
