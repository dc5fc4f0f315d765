"""Async race makespan against the physical limit: the slowest lane on its own.

Six requests (18 city seconds of work, the slowest 8) go down the Async Highway at
once; nothing can finish sooner than the slowest of them. Each round first times
that slowest lane alone, a bare ``asyncio.sleep`` of 8 seconds (the baseline), then
the whole race, wall clock around ``await run_race("async")``, so task creation,
recording and the timers' slack all count.

It runs at real time (``CITYLIB_SPEED=1``): the overhead being judged is absolute
(a few hundred microseconds of scheduling), so a clock scaled 20 times would
shrink the race and not the overhead, and inflate the overhead's share 20 times.
Three rounds of 2 × 8 s cost 48 s of the run; ``--quick`` scales the clock instead.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks._core import Figure, Sample
from citylib import clock, services
from citylib._core import race

KEY = "race"
GOAL = 1.02  # makespan ≤ the slowest lane + 2 %


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: a clock 50 times faster, one round)."""
    speed, rounds = (50.0, 1) if quick else (1.0, 3)
    with clock.scaled(speed):
        return [asyncio.run(_measure(speed, rounds))]


async def _measure(speed: float, rounds: int) -> Figure:
    longest = max(s.latency for s in services.SERVICES.values())
    lane: list[float] = []
    whole: list[float] = []
    makespans: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        await clock.sleep(longest)
        lane.append((time.perf_counter() - start) * speed)
        start = time.perf_counter()
        result = await race.run_race("async")
        whole.append((time.perf_counter() - start) * speed)
        makespans.append(result.makespan)
    citylib, baseline = Sample(whole, "s"), Sample(lane, "s")
    vs_nominal = citylib.median / longest
    overhead_ms = (citylib.median - longest) / speed * 1000
    return Figure(
        key=KEY,
        name=f"async race makespan ({len(services.SERVICES)} requests, speed {speed:g})",
        citylib=citylib,
        baseline=baseline,
        baseline_name=f"slowest lane alone, {longest:g} s",
        goal=f"≤ {GOAL:g}× slowest lane",
        met=max(vs_nominal, citylib.median / baseline.median) <= GOAL,
        notes=(
            f"Wall clock around the whole race: {overhead_ms:.1f} ms (real) over the nominal "
            f"{longest:g} s, a ratio of {vs_nominal:.4f}; the slowest lane alone takes "
            f"{(baseline.median - longest) / speed * 1000:.1f} ms over."
        ),
        extra={
            "speed": speed,
            "nominal_longest_s": longest,
            "ratio_vs_nominal": vs_nominal,
            "overhead_real_ms": overhead_ms,
            "timeline_makespans_s": makespans,
        },
        paired=[w / b for w, b in zip(whole, lane, strict=True)],
    )
