"""How fast the grader is, against the obvious way: serial ``nbclient`` runs.

:func:`measure_throughput` grades ``copies`` copies of one notebook with the
default workers and, as the baseline, executes ``baseline_copies`` copies whole
with ``nbclient``, one after another, at the same clock speed (the way a teacher
without a grader would run a class's notebooks). Memory per submission is each
child's peak resident memory (``VmHWM``, read by the judge just before it ends the
child), and the grader's own peak. The benchmarks import it.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["measure_throughput"]


def _serial_nbclient(notebook: Path, copies: int, speed: float, timeout: float) -> float:
    """Seconds to execute ``copies`` copies of ``notebook`` whole, one after another."""
    import nbformat
    from nbclient import NotebookClient

    previous = os.environ.get("CITYLIB_SPEED")
    os.environ["CITYLIB_SPEED"] = f"{speed:g}"  # the kernels inherit it
    try:
        with tempfile.TemporaryDirectory(prefix="citylib-baseline-") as folder:
            started = time.perf_counter()
            for _ in range(copies):
                nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
                NotebookClient(
                    nb,
                    timeout=int(timeout),
                    kernel_name="python3",
                    allow_errors=True,
                    resources={"metadata": {"path": folder}},
                ).execute()
            return time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("CITYLIB_SPEED", None)
        else:
            os.environ["CITYLIB_SPEED"] = previous


def measure_throughput(
    notebook: str | Path,
    *,
    copies: int = 40,
    workers: int | None = None,
    baseline_copies: int = 8,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Submissions graded per minute, beside serial ``nbclient`` runs of the same notebook.

    Args:
        notebook: A submission to copy (say, the solution notebook).
        copies: How many copies make the graded batch.
        workers: Grader workers (default :func:`~citylib.grading._batch.default_workers`).
        baseline_copies: Copies executed serially with ``nbclient`` (0 to skip).
        timeout: Seconds per submission, for both.

    Returns:
        ``per_minute`` and ``seconds`` for the grader and the baseline, the speed-up,
        the sandbox level, the workers, the status counts, the verdicts seen
        (``"ok 10/10+1": 40`` when every copy got the same one), each child's peak
        memory (median and largest, MiB) and the grader's own peak.
    """
    from citylib.grading._batch import grade_batch
    from citylib.grading._messages import DEFAULTS

    source = Path(notebook)
    with tempfile.TemporaryDirectory(prefix="citylib-bench-") as folder:
        paths = []
        for n in range(copies):
            target = Path(folder) / f"learner{n:03d}.ipynb"
            shutil.copyfile(source, target)
            paths.append(target)
        batch = grade_batch(paths, workers=workers, timeout=timeout, seed=2024)
    memory = [r.memory_mb for r in batch.records if r.memory_mb > 0] or [0.0]
    figures: dict[str, Any] = {
        "copies": copies,
        "workers": batch.workers,
        "sandbox": batch.sandbox,
        "seconds": round(batch.seconds, 2),
        "per_minute": round(batch.per_minute, 1),
        "counts": batch.counts(),
        # Every copy is the same notebook: one verdict is expected, any other is noise.
        "verdicts": dict(
            Counter(f"{r.status} {r.score}/{r.max_score}+{r.bonus}" for r in batch.records)
        ),
        "verified": batch.verified,
        # Whatever kept a copy from its usual verdict, said once each.
        "problems": sorted({f"{r.status}: {r.error}" for r in batch.records if r.status != "ok"}),
        "child_memory_mb": round(statistics.median(memory), 1),
        "child_memory_max_mb": round(max(memory), 1),
        # ru_maxrss is KiB on Linux: the grader's process with its judge, all children's
        # judges at once.
        "grader_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if baseline_copies > 0:
        seconds = _serial_nbclient(source, baseline_copies, DEFAULTS.speed, timeout)
        baseline = 60 * baseline_copies / seconds
        figures.update(
            baseline_copies=baseline_copies,
            baseline_seconds=round(seconds, 2),
            baseline_per_minute=round(baseline, 1),
            speedup=round(batch.per_minute / baseline, 2),
        )
    return figures
