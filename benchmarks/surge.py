"""Surges of 1,000 and 10,000 users on AI City's server, against their baselines.

Every user asks ``/weather`` with an upstream latency of 1 s, all at once
(:func:`citylib._lessons.surge.measure_surge`: aiohttp, one connection per user, no client
cap). The server runs in a child process of its own, started fresh for each
surge, so on two cores the load generator and the server each get one, and
neither figure depends on what ran before it.

Baselines, measured in the same run: the same 1,000 users on the ``def`` route
(FastAPI's 40-thread pool: 25 waves of 1 s), and the same surges on a bare ASGI
app (no framework) served by the same uvicorn, which shows what FastAPI costs.
The clock runs at real time (speed 1): the figures are about real overhead.
"""

from __future__ import annotations

from typing import Any

from benchmarks._core import Figure, Sample, turns

KEY = "surge"
GOAL_1000_S = 2.0
GOAL_10000_S = 9.0


def run(quick: bool = False) -> list[Figure]:
    """Measure the figures (``quick``: 50 and 500 users, clock 8× faster, one round,
    each server in a thread of this process)."""
    from citylib import clock
    from citylib._lessons.surge import measure_surge

    small, large = (50, 500) if quick else (1_000, 10_000)
    speed, rounds = (8.0, 1) if quick else (1.0, 3)
    # A fresh child process per surge is the fair set-up, but starting each costs more
    # than a quick surge itself; a smoke run serves from this process instead (the
    # child process path has its own tests, in tests/test_surge.py).
    where = "thread" if quick else "process"
    runs: dict[str, list[dict[str, Any]]] = {}
    plan = {
        "async small": ("async", small),
        "bare small": ("bare", small),
        "threadpool small": ("threadpool", small),
        "async large": ("async", large),
        "bare large": ("bare", large),
    }
    with clock.scaled(speed):
        for name in turns(list(plan), rounds):
            if name.startswith("threadpool") and len(runs.get(name, [])) >= 2:
                continue  # 25 s a time: two rounds give its spread
            system, users = plan[name]
            result = measure_surge(system, users, latency=1.0, patience=60.0, where=where)
            runs.setdefault(name, []).append(result.as_dict())
        in_thread = (
            None
            if quick
            else measure_surge("async", small, latency=1.0, patience=60.0, where="thread")
        )

    def sample(name: str) -> Sample:
        return Sample([r["completion_city_s"] for r in runs[name]], "s")

    def served(name: str) -> bool:
        return all(r["ok"] == r["users"] for r in runs[name])

    def pair(a: str, b: str) -> list[float]:
        return [
            x["completion_city_s"] / y["completion_city_s"]
            for x, y in zip(runs[a], runs[b], strict=False)
        ]

    def latency(name: str) -> dict[str, float | None]:
        last = runs[name][-1]
        return {q: last[f"{q}_city_s"] for q in ("p50", "p95", "p99")}

    extra_small: dict[str, Any] = {
        "speed": speed,
        "latency_city_s": 1.0,
        "bare_asgi_s": sample("bare small").as_dict(),
        "latency_percentiles_city_s": {
            name: latency(name) for name in ("async small", "threadpool small", "bare small")
        },
        "runs": {name: runs[name] for name in ("async small", "threadpool small", "bare small")},
    }
    if in_thread is not None:
        extra_small["async_server_in_this_process_s"] = in_thread.completion
    small_async, large_async = sample("async small"), sample("async large")
    return [
        Figure(
            key=KEY,
            name=f"surge {small:,} users × 1 s, async route",
            citylib=small_async,
            baseline=sample("threadpool small"),
            baseline_name="def route on the threadpool",
            goal=f"≤ {GOAL_1000_S:g} s (limit 1.0 s)",
            met=served("async small") and small_async.median <= GOAL_1000_S,
            notes=(
                f"Every user served: {'yes' if served('async small') else 'NO'}; "
                f"{sample('threadpool small').median / small_async.median:.0f}× sooner than "
                f"the def route. The bare "
                f"ASGI app takes {sample('bare small').text()}; the last user of the async "
                f"route waits {latency('async small')['p99']:.2f} s (p99)."
            ),
            extra=extra_small,
            paired=pair("async small", "threadpool small"),
        ),
        Figure(
            key=KEY,
            name=f"surge {large:,} users × 1 s, async route",
            citylib=large_async,
            baseline=sample("bare large"),
            baseline_name="bare ASGI app, same uvicorn",
            goal=f"≤ {GOAL_10000_S:g} s on 2 cores",
            met=served("async large") and large_async.median <= GOAL_10000_S,
            notes=(
                f"Every user served: {'yes' if served('async large') else 'NO'}; "
                f"latency p50/p99 {latency('async large')['p50']:.2f}/"
                f"{latency('async large')['p99']:.2f} s."
            ),
            extra={
                "speed": speed,
                "latency_percentiles_city_s": {
                    name: latency(name) for name in ("async large", "bare large")
                },
                "runs": {name: runs[name] for name in ("async large", "bare large")},
            },
            paired=pair("async large", "bare large"),
        ),
    ]
