"""Inside the loop: filming 10,000 turns, and moving the player to another frame.

The program: three tasks that each ``await asyncio.sleep(0)`` 10,000 times, gathered,
so every turn of the loop runs three steps (10,004 turns in all). The baseline runs
it under plain ``asyncio.run``; citylib's figure films it with ``stepper.run``, which
drives the same kind of loop one turn at a time and notes every step, wait and
timer. The contenders take turns, each from a full collection.

The second figure is the player's frame change on that 10,004-turn film: setting
its slider to another turn, which renders the frame (code, boxes, printed so far)
into the player's HTML. Its baseline is what a naive player would do instead,
redraw the filmstrip picture for every frame.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

from benchmarks._core import Figure, Sample, fresh_heap, turns
from citylib import stepper

KEY = "stepper"
GOAL = 5.0  # ≤ 5× plain asyncio.run
FRAME_GOAL_MS = 50.0


async def _lap(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


async def _three_laps(steps: int) -> None:
    await asyncio.gather(_lap(steps), _lap(steps), _lap(steps))


def run(quick: bool = False) -> list[Figure]:
    """Measure both figures (``quick``: 1,000 turns, 3 rounds)."""
    steps, rounds = (1_000, 3) if quick else (10_000, 11)
    return [_filming(steps, rounds), _frame_change(steps, 5 if quick else 41)]


def _filming(steps: int, rounds: int) -> Figure:
    def plain() -> float:
        start = time.perf_counter()
        asyncio.run(_three_laps(steps))
        return time.perf_counter() - start

    filmed_turns: list[int] = []

    def filmed() -> float:
        start = time.perf_counter()
        film = stepper.run(_three_laps(steps))
        took = time.perf_counter() - start
        filmed_turns.append(len(film.turns))
        return took

    contenders = {"asyncio.run": plain, "stepper.run": filmed}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name in turns(list(contenders), rounds):
        with fresh_heap():
            times[name].append(contenders[name]())
    paired = [f / p for f, p in zip(times["stepper.run"], times["asyncio.run"], strict=True)]
    ratio = statistics.median(paired)
    ms = {name: Sample([t * 1000 for t in ts], "ms") for name, ts in times.items()}
    return Figure(
        key=KEY,
        name=f"stepper filming {filmed_turns[0]:,} turns (3 steps each)",
        citylib=ms["stepper.run"],
        baseline=ms["asyncio.run"],
        baseline_name="the same program under asyncio.run",
        goal=f"≤ {GOAL:g}× asyncio.run",
        met=ratio <= GOAL,
        paired=paired,
        notes=(
            "Paired per round, each turn after a full collection; both include making and "
            "closing the loop. The film includes every turn's ready queue, steps (with the "
            "line each stopped at), waits and timers."
        ),
        extra={"turns": filmed_turns[0], "steps_per_turn": 3,
               "per_turn_overhead_us": (ms["stepper.run"].median - ms["asyncio.run"].median)
               / filmed_turns[0] * 1000},
    )


def _frame_change(steps: int, rounds: int) -> Figure:
    film = stepper.run(_three_laps(steps))
    player = film.widget()
    slider = player.children[0].children[1]
    from citylib._views.style import to_png

    pick = random.Random(24)
    changes: list[float] = []
    redraws: list[float] = []
    for name in turns(["frame", "redraw"], rounds):
        target = pick.randrange(1, len(film.turns) + 1)
        start = time.perf_counter()
        if name == "frame":
            slider.value = target
            changes.append(time.perf_counter() - start)
        else:
            to_png(film.chart())
            redraws.append(time.perf_counter() - start)
    frame_ms = Sample([t * 1000 for t in changes], "ms")
    return Figure(
        key=KEY,
        name=f"stepper player, one frame change on a {len(film.turns):,}-turn film",
        citylib=frame_ms,
        baseline=Sample([t * 1000 for t in redraws], "ms"),
        baseline_name="redrawing the filmstrip PNG",
        goal=f"≤ {FRAME_GOAL_MS:g} ms",
        met=frame_ms.median <= FRAME_GOAL_MS and max(frame_ms.values) <= FRAME_GOAL_MS,
        notes=(
            "Setting the player's slider to a random turn: the frame's HTML (the code with "
            "its marked lines, the four boxes, printed so far) replaces the old one, in the "
            "kernel (the browser's own repaint is not measured here; films up to 300 turns "
            "send every frame at once and the slider switches them in the browser). The "
            "goal is met only when the slowest change is within it too."
        ),
        extra={"turns": len(film.turns), "slowest_ms": max(frame_ms.values)},
    )
