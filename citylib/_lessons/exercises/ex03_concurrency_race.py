"""Notebook 03's exercise: a thread pool as good as the highway; and its predict-then-run."""

from __future__ import annotations

from typing import Any

from citylib._core.race import predict_makespan, run_race
from citylib._lessons.exercises._measure import SLACK
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction, Slip, SlipError

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 03 · a thread pool as wide as the highway ----------------------------------------------


#: City seconds a car may take to find its thread (a thread starting, a busy core)
#: before it counts as waiting in line: a real queue lasts a whole trip, 1 s or more.
_QUEUED = 0.75


def _refuse(answer: Any) -> None:
    """A pool_size that is not a whole number of threads between 1 and 64: its slip."""
    hint = (
        "A pool has a whole number of threads, each a real worker: write a plain number "
        "such as 2 or 10, no quotes, no decimal point."
    )
    if isinstance(answer, str):
        raise SlipError(
            Slip(
                "pool_size_text",
                f"your pool_size is the text {answer!r:.20}, not a number: quotes make text",
                "write the number without quotes",
                hint,
            )
        )
    if isinstance(answer, float):
        raise SlipError(
            Slip(
                "pool_size_fraction",
                f"your pool_size is {answer!r:.20}, a number with a decimal point: a pool "
                "counts whole threads",
                "write a whole number, without the point",
                hint,
            )
        )
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise GiveUpError(f"pool_size is a whole number of threads (such as 4), not {answer!r:.40}")
    if not 1 <= answer <= 64:
        raise GiveUpError(
            f"pool_size = {answer}: a pool has at least 1 thread, and this check runs at most "
            "64 (each is a real operating-system thread)"
        )


async def _judge_pool(answer: Any) -> list[Check]:
    _refuse(answer)
    race = await run_race("threads", lanes=answer)
    cars = len(race.requests)
    queued = {r: w for r, w in race.waits.items() if w > _QUEUED}
    used = len({t.lane for t in race.timeline})
    highway = predict_makespan("async", [r.service.latency for r in race.requests])
    fast = race.makespan <= highway + SLACK
    few = None
    if queued:  # measured: a car found every thread busy
        few = Slip(
            "too_few_threads",
            f"too few threads: {cars} cars arrive at once, a thread carries one car at a time, "
            "and a car that finds every thread busy waits in line",
            "count the cars that arrive together, and give the pool one thread for each",
            "A thread pool is a fixed number of lanes. With fewer lanes than cars, the "
            "extra cars queue until a lane comes free; the makespan can even match the "
            "highway (the truck alone sets it) while quick cars still wait behind slow ones.",
            f"{len(queued)} of {cars} cars waited for a free thread",
        )
    longest = max(queued, key=queued.__getitem__) if queued else ""
    checks = [
        Check(
            fast,
            "as fast as the highway",
            f"{answer} threads: done in {race.makespan:.1f} s (the highway: {highway:g} s)",
            ""
            if fast
            else (
                "too few threads: the cars queued behind the busy ones"
                if queued
                else "no car waited, yet the race ended late: the machine was busy (threads "
                "start on a real clock); check again"
            ),
            None if fast else few,
        ),
        Check(
            not queued,
            "nobody waited in line",
            f"{len(queued)} of {cars} cars waited for a free thread"
            + (f" ({longest} the longest: {queued[longest]:.1f} s)" if queued else ""),
            "" if not queued else "a car without a free thread waits in line",
            few if queued else None,
        ),
    ]
    idle = answer - used
    checks.append(
        Check(
            idle <= 0,
            "no thread sat idle",
            f"{used} of {answer} threads ever carried a car",
            ""
            if idle <= 0
            else (
                f"only {cars} cars came, so {idle} threads never carried one, yet each "
                "still costs an operating-system thread (its own memory and a place in the "
                "scheduler): a pool wider than the crowd buys nothing"
            ),
            None
            if idle <= 0 or few
            else Slip(
                "too_many_threads",
                f"too many threads: only {cars} cars came, so {idle} of your {answer} threads "
                "never carried one, and each still costs the computer memory and attention",
                "give the pool exactly as many threads as cars arrive together",
                "Every thread is a real worker the operating system keeps: its own memory, "
                "its own turn on the processor, busy or not. A pool wider than the crowd "
                "is paid for and never used.",
                f"{idle} threads never carried a car",
            ),
        )
    )
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
