"""Grader throughput against serial ``nbclient`` runs of the same notebooks.

:func:`citylib.grading.measure_throughput` grades a batch of copies of the Sprint's
solution notebook (each in its own sandboxed kernel, the default number of workers
at once) and, as the baseline, executes copies of the same notebook whole with
``nbclient``, one after another, as a teacher without the grader would. Figures
are submissions a minute: higher is better, so the ratio is the grader's speed-up.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._core import ROOT, Figure, Sample

KEY = "grader"
GOAL_PER_MINUTE = 200.0
SOLUTION = ROOT / "solutions" / "05_parallel_fetch_sprint.ipynb"

# A Sprint submission of one cell, for a checkout without the course notebooks.
_ANSWER = """import asyncio
import time


async def parallel_fetch(sources=None):
    if sources is None:
        from citylib._lessons.sprint import default_sources
        sources = default_sources()
    start = time.perf_counter()
    names = list(sources)
    payloads = await asyncio.gather(*(sources[name]() for name in names))
    return {**dict(zip(names, payloads)), "total_latency": time.perf_counter() - start}
"""


def _minimal_submission(folder: Path) -> Path:
    from citylib._lessons.sprint_contract import SPRINT_TAG

    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "id": "answer",
        "metadata": {"tags": [SPRINT_TAG]},
        "outputs": [],
        "source": _ANSWER,
    }
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = folder / "submission.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 3 one-cell submissions, 1 serial run)."""
    from citylib.grading import measure_throughput

    copies, serial, rounds = (3, 1, 1) if quick else (120, 3, 2)
    with tempfile.TemporaryDirectory(prefix="citylib-bench-grader-") as folder:
        # A quick run grades the one-cell answer: the serial baseline runs each copy whole,
        # and the whole solution notebook takes 5 s of it where one cell takes 1.
        use_solution = SOLUTION.is_file() and not quick
        notebook = SOLUTION if use_solution else _minimal_submission(Path(folder))
        found: list[dict[str, Any]] = [
            measure_throughput(notebook, copies=copies, baseline_copies=serial)
            for _ in range(rounds)
        ]
    grader = Sample([f["per_minute"] for f in found], "/min")
    baseline = Sample([f["baseline_per_minute"] for f in found], "/min")
    graded_ok = all(f["counts"].get("ok", 0) == f["copies"] for f in found)
    last = found[-1]
    return [
        Figure(
            key=KEY,
            name=f"grader, {copies} submissions a batch",
            citylib=grader,
            baseline=baseline,
            baseline_name="serial nbclient runs",
            goal=f"≥ {GOAL_PER_MINUTE:g} /min on 2 cores",
            met=graded_ok and grader.median >= GOAL_PER_MINUTE,
            notes=(
                f"{notebook.name}; {last['workers']} workers, sandbox: {last['sandbox']}, "
                f"verified: {'yes' if last['verified'] else 'no'}; every submission graded "
                f"ok: {'yes' if graded_ok else 'NO'}; memory per submission (each child's "
                f"peak RSS) {last['child_memory_mb']:g} MiB median, "
                f"{last['child_memory_max_mb']:g} MiB at most; the grader's own peak "
                f"{last['grader_memory_mb']:g} MiB. Higher is better: the ratio is the speed-up."
            ),
            extra={
                "notebook": str(notebook.relative_to(ROOT))
                if notebook == SOLUTION
                else "generated one-cell submission",
                "rounds": found,
            },
            paired=[f["per_minute"] / f["baseline_per_minute"] for f in found],
        )
    ]
