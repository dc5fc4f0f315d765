"""Batch grading of Parallel Fetch Sprint notebooks (``citylib grade``).

A grade no submission can forge: the judge runs here, in the grader's own process,
outside every sandbox. Each submission's tagged cells run in a fresh, plain Python
child (:mod:`citylib.grading._child`) under a user of its own, with no network and
no threads; the judge serves it the sources over a socket pair (secret seed, fresh
tokens, its own clock), watches its loop from outside, and checks what it observed
with the same checks as the learner's self-check (:mod:`citylib._lessons.judge`).
:func:`grade` grades a batch and writes the reports; :func:`merge` combines the
reports of a class graded in slices (``--shard``); :func:`measure_throughput` times
the grader against serial ``nbclient`` runs.

Layout: ``_messages`` (every frame, the job, the report and every default, as typed
dataclasses; imports nothing of citylib), ``_child`` (inside the sandbox),
``_sandbox``, ``_judge`` (outside; split by idea: ``_proc`` reads ``/proc``,
``_session`` the socket's frames and watch, ``_drives`` the drives, ``_ending`` the
child's end), ``_scoring`` (weights), ``_batch``, ``_report``
(grades.csv/json, feedback and class pages, canvas.csv), ``_cli``, ``_bench``.

The names below load on first use, so the child, which imports ``_messages`` from
this package, does not pay for the grader.

Example:
    >>> batch = grade(["alice.ipynb", "bob.ipynb"], out="grades")  # doctest: +SKIP
    >>> batch.counts()["ok"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citylib._lessons.judge import CHECKS, JudgeSettings, Verdict, judge
    from citylib.grading._api import grade, merge
    from citylib.grading._batch import Batch, default_workers, grade_batch
    from citylib.grading._bench import measure_throughput
    from citylib.grading._messages import DEFAULTS, GRADE_STATUSES, BatchReport, GradeRecord
    from citylib.grading._report import CSV_COLUMNS, write_reports

__all__ = [
    "CHECKS",
    "CSV_COLUMNS",
    "DEFAULTS",
    "GRADE_STATUSES",
    "Batch",
    "BatchReport",
    "GradeRecord",
    "JudgeSettings",
    "Verdict",
    "default_workers",
    "grade",
    "grade_batch",
    "judge",
    "measure_throughput",
    "merge",
    "write_reports",
]

_HOMES = {
    "CHECKS": "citylib._lessons.judge",
    "JudgeSettings": "citylib._lessons.judge",
    "Verdict": "citylib._lessons.judge",
    "judge": "citylib._lessons.judge",
    "grade": "citylib.grading._api",
    "merge": "citylib.grading._api",
    "Batch": "citylib.grading._batch",
    "default_workers": "citylib.grading._batch",
    "grade_batch": "citylib.grading._batch",
    "measure_throughput": "citylib.grading._bench",
    "DEFAULTS": "citylib.grading._messages",
    "GRADE_STATUSES": "citylib.grading._messages",
    "BatchReport": "citylib.grading._messages",
    "GradeRecord": "citylib.grading._messages",
    "CSV_COLUMNS": "citylib.grading._report",
    "write_reports": "citylib.grading._report",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'citylib.grading' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
