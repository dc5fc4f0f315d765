"""Your own lanes: recording 10,000 tasks that each await three times, and drawing 1,000.

The baseline gathers 10,000 coroutines that each ``await asyncio.sleep(0)`` three
times, bare; citylib's figure runs the same gather inside ``lanes.record()``, which
wraps every task's coroutine and notes the clock around each of its four steps.
The contenders take turns in one event loop, round by round. A third contender
measures the floor of the method: a task factory whose wrapper only notes the clock
twice a step (no lines, no names, no watcher), the least any coroutine wrapper
written in Python can cost. The second figure is
``rec.chart()`` (and its PNG) for a 1,000-lane recording, against the goal of one
second; its baseline is the naive chart, one ``barh`` rectangle per span.

Every turn starts from a full collection, untimed. Without it, the garbage collector's
debt moves between contenders: the lanes a recording builds after its timed part
push objects into the oldest generation, and the full collection they call for fell
in the next contender's turn, often the bare one's (until December 2026 the figure
was measured so, and read 1.26-1.33x where a fair turn reads about 1.7x). Bare and
recorded also run with the collector paused, the cost of the recording's own code.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from benchmarks._core import Figure, Sample, fresh_heap, turns
from citylib import lanes

KEY = "lanes"
GOAL = 1.30  # ≤ 1.3× bare asyncio
DRAW_GOAL_S = 1.0


async def _three_awaits() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class _ClockOnly(Coroutine[Any, Any, Any]):
    """The floor: a coroutine wrapper that notes the clock around each step, nothing else."""

    __slots__ = ("_coro", "_steps")

    def __init__(self, coro: Coroutine[Any, Any, Any], steps: list[float]) -> None:
        self._coro, self._steps = coro, steps

    def send(self, value: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._coro.send(value)
        finally:
            self._steps.extend((start, time.perf_counter()))

    def throw(self, *args: Any) -> Any:
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()


def run(quick: bool = False) -> list[Figure]:
    """Measure both figures (``quick``: 1,000 tasks, 3 rounds, 50 lanes drawn twice)."""
    tasks, rounds, drawn = (1_000, 3, 50) if quick else (10_000, 21, 1_000)
    return [asyncio.run(_recording(tasks, rounds)), _drawing(drawn, 2 if quick else 7)]


async def _recording(tasks: int, rounds: int) -> Figure:
    async def bare() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_three_awaits() for _ in range(tasks)))
        return time.perf_counter() - start

    async def recorded() -> float:
        start = time.perf_counter()
        with lanes.record() as rec:
            await asyncio.gather(*(_three_awaits() for _ in range(tasks)))
        took = time.perf_counter() - start
        if len(rec.lanes) != tasks + 1:
            raise RuntimeError(f"recorded {len(rec.lanes)} lanes, not {tasks + 1}")
        return took

    async def clock_only() -> float:
        loop = asyncio.get_running_loop()
        steps: list[float] = []
        previous = loop.get_task_factory()
        loop.set_task_factory(lambda loop, coro, **kw: asyncio.Task(_ClockOnly(coro, steps),
                                                                    loop=loop, **kw))
        try:
            start = time.perf_counter()
            await asyncio.gather(*(_three_awaits() for _ in range(tasks)))
            return time.perf_counter() - start
        finally:
            loop.set_task_factory(previous)

    # Each name: the contender and whether the collector is paused in its turn.
    runs: dict[str, tuple[Callable[[], Awaitable[float]], bool]] = {
        "bare": (bare, False),
        "recorded": (recorded, False),
        "clock only": (clock_only, False),
        "bare, collector paused": (bare, True),
        "recorded, collector paused": (recorded, True),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name in turns(list(runs), rounds):
        contender, paused = runs[name]
        with fresh_heap(paused):
            times[name].append(await contender())

    def paired_with(name: str, base: str) -> list[float]:
        return [r / b for r, b in zip(times[name], times[base], strict=True)]

    paired = paired_with("recorded", "bare")
    ms = {name: Sample([t * 1000 for t in ts], "ms") for name, ts in times.items()}
    ratio = statistics.median(paired)
    floor = statistics.median(paired_with("clock only", "bare"))
    paused_ratio = statistics.median(
        paired_with("recorded, collector paused", "bare, collector paused"))
    return Figure(
        key=KEY,
        name=f"lanes recording, {tasks:,} tasks × 3 awaits",
        citylib=ms["recorded"],
        baseline=ms["bare"],
        baseline_name="bare asyncio.gather",
        goal=f"≤ {GOAL:g}× bare asyncio",
        met=ratio <= GOAL,
        paired=paired,
        notes=(
            "Paired per round, each turn after a full collection; includes entering and "
            "leaving the block (the loop watcher's thread), not building the lanes, which "
            "happens when they are first read. The floor, a wrapper that only notes the "
            f"clock: {floor:.2f}× bare in the same rounds. With the collector paused: "
            f"{paused_ratio:.2f}×."
        ),
        extra={"tasks": tasks, "floor_ratio": floor, "collector_paused_ratio": paused_ratio,
               "samples_ms": {name: sample.as_dict() for name, sample in ms.items()},
               "per_task_overhead_us": (ms["recorded"].median
                                        - ms["bare"].median) / tasks * 1000},
    )


def _drawing(lane_count: int, rounds: int) -> Figure:
    async def main() -> None:
        await asyncio.gather(*(asyncio.sleep(0.001 * (i % 7)) for i in range(lane_count - 1)))

    rec = lanes.run(main())
    from citylib._views.style import new_figure, to_png

    def naive() -> None:
        fig = new_figure(8, 8)
        ax = fig.add_subplot()
        for y, lane in enumerate(rec.lanes):
            for span in lane.spans:
                colour = "#D55E00" if span.kind == "running" else "#0072B2"
                ax.barh(y, span.duration, left=span.start, color=colour)
        to_png(fig)

    def ours() -> None:
        to_png(rec.chart())

    times: dict[str, list[float]] = {"ours": [], "naive": []}
    jobs = {"ours": ours, "naive": naive}
    for name in turns(list(jobs), rounds):
        start = time.perf_counter()
        jobs[name]()
        times[name].append(time.perf_counter() - start)
    sample = Sample(times["ours"], "s")
    return Figure(
        key=KEY,
        name=f"lanes chart, {len(rec.lanes):,} lanes, to PNG",
        citylib=sample,
        baseline=Sample(times["naive"], "s"),
        baseline_name="one barh rectangle per span",
        goal=f"< {DRAW_GOAL_S:g} s",
        met=sample.median < DRAW_GOAL_S,
        paired=[a / b for a, b in zip(times["ours"], times["naive"], strict=True)],
        notes="rec.chart() and its PNG; each span kind is one PolyCollection.",
        extra={"lanes": len(rec.lanes)},
    )
