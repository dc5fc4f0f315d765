"""Live chart redraw against a full re-plot, one animation frame each.

The state drawn is the one-lane race (six requests one after another, 18 city
seconds) at successive moments: finished trips, the one driving, the rest waiting
in line. citylib's figure is :meth:`citylib._views.charts.LaneChart.frame` (move the bars,
blit them onto the cached background, encode a PNG); the baseline draws the same
state from scratch, ``charts.to_png(charts.gantt(...))``, as a naive animation
would every frame. Both produce PNG bytes a notebook can show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks._core import Figure, Sample, interleave
from citylib import charts
from citylib._core.race import RaceResult, city_requests
from citylib._core.timeline import DRIVING, Timeline, Trip

KEY = "chart"
GOAL_MS = 50.0


def one_lane(now: float) -> list[Trip]:
    """The one-lane race's trips as they stand at city time ``now``."""
    trips, clock = [], 0.0
    for r in city_requests():
        start, end = clock, clock + r.service.latency
        clock = end
        if start > now:
            break
        done = end <= now
        trips.append(
            Trip(
                r.name,
                r.service.name,
                "lane 1",
                0.0,
                start,
                end if done else now,
                "ok" if done else DRIVING,
            )
        )
    return trips


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 3 rounds)."""
    rounds = 3 if quick else 15
    requests = city_requests()
    horizon = sum(r.service.latency for r in requests)
    moments = [horizon * (i + 0.5) / rounds for i in range(rounds)]
    start = time.perf_counter()
    live = charts.LaneChart(requests, horizon, "Traffic jam (one lane)")
    set_up = time.perf_counter() - start

    def frames(draw: Callable[[float], Any]) -> Callable[[], float]:
        pending = iter(moments)

        def measure() -> float:
            now = next(pending)
            start = time.perf_counter()
            png = draw(now)
            took = time.perf_counter() - start
            if not png.startswith(b"\x89PNG"):
                raise RuntimeError("the chart did not make a PNG")
            return took * 1000

        return measure

    def replot(now: float) -> bytes:
        result = RaceResult("sync", 1, requests, Timeline("sync", one_lane(now)))
        return charts.to_png(charts.gantt(result))

    # One warm-up each: the first draw loads fonts and fills matplotlib's caches.
    live.frame(one_lane(1.0), 1.0)
    replot(1.0)
    contenders: dict[str, Callable[[], float]] = {
        "frame": frames(lambda now: live.frame(one_lane(now), now)),
        "replot": frames(replot),
    }
    board = getattr(charts, "LaneBoard", None)
    if board is not None:  # the three-panel race board, when charts has one
        three = board([(m, requests) for m in ("sync", "threads", "async")], horizon)

        def board_frame(now: float) -> bytes:
            for panel in range(3):
                three.update(panel, one_lane(now), now)
            return bytes(three.render())

        board_frame(1.0)
        contenders["board frame"] = frames(board_frame)
    ms = interleave(contenders, rounds)
    frame, full = Sample(ms["frame"], "ms"), Sample(ms["replot"], "ms")
    extra: dict[str, Any] = {
        "rounds": rounds,
        "lane_chart_set_up_ms": set_up * 1000,
        "frame_png_bytes": len(live.frame(one_lane(9.0), 9.0)),
    }
    if "board frame" in ms:
        extra["lane_board_frame_ms"] = Sample(ms["board frame"], "ms").as_dict()
    return [
        Figure(
            key=KEY,
            name="live chart redraw, one frame",
            citylib=frame,
            baseline=full,
            baseline_name="full re-plot",
            goal=f"≤ {GOAL_MS:g} ms",
            met=frame.median <= GOAL_MS,
            notes=(
                f"LaneChart.frame of 6 lanes, PNG included; drawing the chart once to "
                f"set it up took {set_up * 1000:.0f} ms."
            ),
            extra=extra,
            paired=[f / r for f, r in zip(ms["frame"], ms["replot"], strict=True)],
        )
    ]
