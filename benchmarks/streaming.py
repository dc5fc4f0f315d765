"""1,000 users streaming ``/chat/stream`` at once, against one stream alone.

The server runs in a child process of its own (``citylib serve``, as in the surge
benchmark), at real time (speed 1); the users are one aiohttp client in this process,
a connection each, no client cap. A user counts as served only when the tokens it
read are exactly the reply's and ``[DONE]`` came (:func:`citylib._lessons.streaming.stream_rush`).

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


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 100 users, one round)."""
    from citylib import clock
    from citylib._core.runner import run as run_coro
    from citylib._lessons.streaming import stream_rush
    from citylib._lessons.surge import serve_in_process

    users, rounds, trap_users = (100, 1, 4) if quick else (1_000, 3, 10)
    runs: dict[str, list[dict[str, Any]]] = {"crowd": [], "alone": []}
    with clock.scaled(1.0), serve_in_process("citylib", speed=1.0) as base:
        run_coro(stream_rush(base, 1))  # warm up: imports, the first connection
        for name in turns(["crowd", "alone"], rounds):
            rush = run_coro(stream_rush(base, users if name == "crowd" else 1))
            runs[name].append(rush.as_dict())
    trap_speed = 5.0
    with clock.scaled(trap_speed), serve_in_process("citylib", speed=trap_speed) as base:
        trap = run_coro(stream_rush(base, trap_users, trap=True, patience=600)).as_dict()

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
            f"ends after {trap['finish_city_s']:.1f} s, first token p99 "
            f"{trap['ttft_p99_city_s']:.1f} s."
        ),
        extra={"runs": runs, "trap": trap, "trap_speed": trap_speed, "ttft_p99_s": p99},
        paired=paired,
    )
    figure.met = served and figure.ratio <= GOAL_RATIO
    return [figure]
