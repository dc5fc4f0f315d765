"""Batch grading of Parallel Fetch Sprint notebooks (``citylib grade``).

Each submission runs in its own sandboxed kernel (see :mod:`citylib.grading._sandbox`);
the judge (:mod:`citylib._lessons.judge`, shared with the learner's self-check)
drives its ``parallel_fetch`` with
instrumented sources and trusts only what it measures. :func:`grade` grades a
batch and writes the reports; :func:`measure_throughput` times it against serial
``nbclient`` runs.

Example:
    >>> batch = grade(["alice.ipynb", "bob.ipynb"], out="grades")  # doctest: +SKIP
    >>> batch.counts()["ok"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from citylib._lessons.judge import CHECKS, JudgeSettings, Verdict, judge
from citylib.grading._batch import GRADE_STATUSES, Batch, GradeRecord, default_workers, grade_batch
from citylib.grading._bench import measure_throughput
from citylib.grading._report import CSV_COLUMNS, write_reports

__all__ = [
    "CHECKS",
    "CSV_COLUMNS",
    "GRADE_STATUSES",
    "Batch",
    "GradeRecord",
    "JudgeSettings",
    "Verdict",
    "default_workers",
    "grade",
    "grade_batch",
    "judge",
    "measure_throughput",
    "write_reports",
]


def grade(
    submissions: list[str | Path] | tuple[str | Path, ...], out: str | Path, **options: Any
) -> Batch:
    """Grade ``submissions`` and write ``out``/grades.csv, grades.json and feedback.md.

    Args:
        submissions: Notebook files.
        out: The folder for the reports (made when missing).
        **options: Passed to :func:`~citylib.grading._batch.grade_batch` (``workers``,
            ``timeout``, ``settings``, ``speed``, ``limits``, ``sandbox``, ``progress``).

    Returns:
        The graded :class:`Batch`.
    """
    batch = grade_batch(list(submissions), **options)
    write_reports(batch, out)
    return batch
