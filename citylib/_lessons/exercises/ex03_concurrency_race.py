"""Notebook 03's exercise: a thread pool as good as the highway; and its predict-then-run."""

from __future__ import annotations

from typing import Any

from citylib._core.race import predict_makespan, run_race
from citylib._lessons.exercises._measure import SLACK
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 03 · a thread pool as wide as the highway ----------------------------------------------


async def _judge_pool(answer: Any) -> list[Check]:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise GiveUpError(f"pool_size is a whole number of threads (such as 4), not {answer!r:.40}")
    if not 1 <= answer <= 64:
        raise GiveUpError(
            f"pool_size = {answer}: a pool has at least 1 thread, and this check runs at most "
            "64 (each is a real operating-system thread)"
        )
    race = await run_race("threads", lanes=answer)
    cars = len(race.requests)
    worst = max(race.waits, key=race.waits.__getitem__)
    wait = race.waits[worst]
    used = len({t.lane for t in race.timeline})
    highway = predict_makespan("async", [r.service.latency for r in race.requests])
    checks = [
        Check(
            race.makespan <= highway + SLACK,
            "as fast as the highway",
            f"{answer} threads: done in {race.makespan:.1f} s (the highway: {highway:g} s)",
            ""
            if race.makespan <= highway + SLACK
            else (
                "too few threads: the cars queued behind the busy ones, so the last one "
                "arrived late"
            ),
        ),
        Check(
            wait <= 0.75,
            "nobody waited in line",
            f"{worst} waited {wait:.1f} s for a free thread",
            ""
            if wait <= 0.75
            else (
                f"{cars} cars arrive at once, and a car without a free thread waits in line: "
                "the makespan can match the highway while quick cars still queue behind slow ones"
            ),
        ),
        Check(
            used == answer,
            "no thread sat idle",
            f"{used} of {answer} threads ever carried a car",
            ""
            if used == answer
            else (
                f"only {cars} cars came, so {answer - used} threads never carried one, yet each "
                "still costs an operating-system thread (its own stack and a place in the "
                "scheduler): a pool wider than the crowd buys nothing"
            ),
        ),
    ]
    if all(c.ok for c in checks):
        checks.append(
            Check(
                True,
                "the cost",
                f"{answer} threads for {cars} cars, one thread per car; 1,000 users would need "
                "1,000 threads, while the highway serves them all on one",
            )
        )
    return checks


_POOL = Exercise(
    id="03_pool_size",
    notebook="03_concurrency_race",
    title="A thread pool as good as the highway",
    answer_name="pool_size",
    stub="""pool_size = ...  # 🧵 how many threads, so that no car waits in line?
""",
    solution_code="""pool_size = 6  # one thread per car: nobody waits, no thread idles
""",
    hints=[
        "The cause of waiting: the race sends six cars at the same moment, and a thread "
        "carries one car at a time. A car that finds every thread busy waits in line, "
        "even when the makespan already matches the highway (the truck sets that alone).",
        "The shape of the fix: count the cars that arrive together (the race's requests), "
        "and give the pool just that many threads. No more: a thread that never gets a "
        "car still costs its stack.",
    ],
    judge=_judge_pool,
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_POOL,)

#: The predict-then-run questions of this notebook.
PREDICTIONS: tuple[Prediction, ...] = (
    Prediction(
        "03_pool_makespan",
        "03_concurrency_race",
        "the two-thread pool's makespan",
        "s",
        "Each car takes the first thread to come free: the truck keeps one thread "
        "for 8 s while chat, speech and maps use the other (3 + 2.5 + 2 = 7.5 s); "
        "translate follows there (until 9 s), and weather takes the truck's thread "
        "at 8 s: home at 9 s.",
    ),
)
