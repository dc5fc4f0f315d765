"""Timeline recording overhead against bare ``asyncio.gather`` at 10,000 tasks.

The baseline gathers 10,000 coroutines that each ``await asyncio.sleep(0)``;
citylib's figure gathers the same coroutines, each wrapped in
``with timeline.trip(...)`` under ``timeline.recording()``, as every service call
is. Both get the same precomputed request names. Two more contenders explain the
figure: a context manager with ``trip``'s signature that does nothing (the floor
any per-request ``with`` block costs), and all three again with the cyclic garbage
collector paused (10,000 live tasks set off full collections whose cost grows with
every object a task keeps alive).
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from benchmarks._core import Figure, Sample, fresh_heap, turns
from citylib import timeline

KEY = "recording"
GOAL = 1.10  # ≤ 10 % over bare gather


class _Nothing:
    """A context manager with ``trip``'s signature that does nothing at all."""

    __slots__ = ("lane", "queued", "request", "service")

    def __init__(self, request: str, service: str, lane: str, queued: float | None = None):
        self.request, self.service, self.lane, self.queued = request, service, lane, queued

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


async def _bare(name: str) -> None:
    await asyncio.sleep(0)


async def _recorded(name: str) -> None:
    with timeline.trip(name, "weather", "highway"):
        await asyncio.sleep(0)


async def _nothing(name: str) -> None:
    with _Nothing(name, "weather", "highway"):
        await asyncio.sleep(0)


Job = Callable[[str], Coroutine[Any, Any, None]]


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 1,000 tasks, 3 rounds)."""
    tasks, rounds = (1_000, 3) if quick else (10_000, 31)
    return [asyncio.run(_measure(tasks, rounds))]


async def _measure(tasks: int, rounds: int) -> Figure:
    names = [f"req {i}" for i in range(tasks)]
    settle: list[float] = []

    async def gather(job: Job, gc_paused: bool) -> float:
        with fresh_heap(gc_paused):
            start = time.perf_counter()
            await asyncio.gather(*(job(n) for n in names))
            return time.perf_counter() - start

    async def recorded(gc_paused: bool) -> float:
        with timeline.recording() as tl:
            took = await gather(_recorded, gc_paused)
        start = time.perf_counter()
        if len(tl.trips) != tasks:  # reading them turns raw trips into Trip records
            raise RuntimeError(f"recorded {len(tl.trips)} trips of {tasks}")
        settle.append(time.perf_counter() - start)
        return took

    contenders: dict[str, Callable[[], Awaitable[float]]] = {}
    for paused, tag in ((False, ""), (True, " gc paused")):
        contenders["bare" + tag] = functools.partial(gather, _bare, paused)
        contenders["recorded" + tag] = functools.partial(recorded, paused)
        contenders["nothing" + tag] = functools.partial(gather, _nothing, paused)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name in turns(list(contenders), rounds):
        times[name].append(await contenders[name]())

    ms = {name: Sample([t * 1000 for t in ts], "ms") for name, ts in times.items()}

    def paired(name: str) -> list[float]:
        base = "bare gc paused" if name.endswith("gc paused") else "bare"
        return [t / b for t, b in zip(times[name], times[base], strict=True)]

    def ratio(name: str) -> float:
        return statistics.median(paired(name))

    overhead, floor = ratio("recorded"), ratio("nothing")
    return Figure(
        key=KEY,
        name=f"timeline recording, {tasks:,} tasks",
        citylib=ms["recorded"],
        baseline=ms["bare"],
        baseline_name="bare asyncio.gather",
        goal=f"≤ {GOAL:g}× bare gather",
        met=overhead <= GOAL,
        paired=paired("recorded"),
        notes=(
            f"Paired per round; the ratio of medians is "
            f"{ms['recorded'].median / ms['bare'].median:.3f}. The floor, a with-block that "
            f"does nothing: {floor:.3f}. With the garbage collector paused: recording "
            f"{ratio('recorded gc paused'):.3f}, floor {ratio('nothing gc paused'):.3f}. "
            f"Reading the {tasks:,} trips afterwards takes "
            f"{Sample(settle, '').median * 1000:.1f} ms, off the requests' path."
        ),
        extra={
            "tasks": tasks,
            "ratios": {name: ratio(name) for name in ms if not name.startswith("bare")},
            "samples_ms": {name: sample.as_dict() for name, sample in ms.items()},
            "per_task_overhead_us": (ms["recorded"].median - ms["bare"].median) / tasks * 1000,
            "settle_ms": Sample([s * 1000 for s in settle], "ms").as_dict(),
        },
    )
