"""1,000 users streaming ``/chat/stream`` at once, against one stream alone.

The server runs in a child process of its own (``citylib serve``, as in the surge
benchmark), at real time (speed 1); the users are one aiohttp client in this process,
a connection each, no client cap. A user counts as served only when the tokens it
read are exactly the reply's and ``[DONE]`` came (:func:`citylib._lessons.streaming.stream_rush`).

Every user asks the same question with the same seed, so each of the 1,000 streams is
the very stream measured alone (same tokens, same gaps): the ratio is what the crowd
costs, nothing else. With a seed each (the notebook's rush) the streams differ: alone
they would last 2.90 to 3.26 s, and the longest of 1,000 ends up to 9% after seed 0's
2.99 s before the server has done anything; that rush is measured once beside the
figure, for the record.

Baseline, measured in the same run and the same server: one stream alone, from the
request to its last token. Beside it, the blocking twin (``/trap/chat/stream``): its
streams run one after another, so it is measured with 10 users on a clock 5× faster
(50 real seconds at speed 1 would say nothing more) and reported in city seconds.
"""

from __future__ import annotations

from typing import Any

from benchmarks._core import Figure, Sample, turns

KEY = "streaming"
GOAL_RATIO = 1.3
SEED = 0  # every user's, crowd and alone alike


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 100 users, one round)."""
    from citylib import clock
    from citylib._core.runner import run as run_coro
    from citylib._lessons.streaming import plan_reply, stream_rush
    from citylib._lessons.surge import serve_in_process

    users, rounds, trap_users = (100, 1, 4) if quick else (1_000, 3, 10)
    runs: dict[str, list[dict[str, Any]]] = {"crowd": [], "alone": []}
    with clock.scaled(1.0), serve_in_process("citylib", speed=1.0) as base:
        run_coro(stream_rush(base, 1))  # warm up: imports, the first connection
        for name in turns(["crowd", "alone"], rounds):
            rush = run_coro(stream_rush(base, users if name == "crowd" else 1, seed=SEED))
            runs[name].append(rush.as_dict())
        seeded = run_coro(stream_rush(base, users)).as_dict()  # a seed each, for the record
    lengths = [plan_reply("hello", seed=i).total for i in range(users)]
    trap_speed = 5.0
    with clock.scaled(trap_speed), serve_in_process("citylib", speed=trap_speed) as base:
        trap = run_coro(stream_rush(base, trap_users, trap=True, seed=SEED, patience=600))
    trap_figures = trap.as_dict()

    crowd = Sample([r["finish_city_s"] for r in runs["crowd"]], "s")
    alone = Sample([r["finish_city_s"] for r in runs["alone"]], "s")
    served = all(r["complete"] == r["users"] for r in runs["crowd"])
    paired = [c["finish_city_s"] / a["finish_city_s"]
              for c, a in zip(runs["crowd"], runs["alone"], strict=True)]
    p99 = max(r["ttft_p99_city_s"] for r in runs["crowd"])
    alone_ttft = min(r["ttft_p50_city_s"] for r in runs["alone"])
    figure = Figure(
        key=KEY,
        name=f"{users:,} users streaming /chat/stream, last stream ends",
        citylib=crowd,
        baseline=alone,
        baseline_name="one stream alone, same server",
        goal=f"≤ {GOAL_RATIO:g}× one stream alone, every token",
        met=None,
        notes=(
            f"Every user received every token: {'yes' if served else 'NO'}; time to "
            f"first token p99 {p99:.2f} s (alone {alone_ttft:.2f} s; the service thinks "
            f"1 s). Blocking twin /trap/chat/stream, {trap_users} users: the last stream "
            f"ends after {trap_figures['finish_city_s']:.1f} s, first token p99 "
            f"{trap_figures['ttft_p99_city_s']:.1f} s. Every user asks seed {SEED}, the "
            f"stream measured alone; with a seed each (streams of {min(lengths):.2f} to "
            f"{max(lengths):.2f} s alone) the last ended after {seeded['finish_city_s']:.2f} s "
            f"({seeded['complete']:,} of {seeded['users']:,} served)."
        ),
        extra={
            "runs": runs,
            "seed": SEED,
            "trap": trap_figures,
            "trap_speed": trap_speed,
            "ttft_p99_s": p99,
            "seed_each": {**seeded, "alone_lengths_s": [min(lengths), max(lengths)]},
        },
        paired=paired,
    )
    figure.met = served and figure.ratio <= GOAL_RATIO
    return [figure]
