"""Points: weights that teach.

The calls overlapping is what the Sprint is about, so it carries the grade: an answer
without overlap earns at most half the points (:data:`~._messages.Defaults.weights`).
Nothing earns points that did not run: a submission that ended with an error, a
timeout, a dead child or no attempt scores 0, and a check whose prerequisite failed
(a fast, non-blocking function that merged no answer fetched nothing) earns nothing.
A submission the grader could not grade (``grader_fault``) has no score at all.
"""

from __future__ import annotations

from citylib._lessons.judge import CHECKS, Verdict
from citylib.grading._messages import DEFAULTS, CheckOutcome
from citylib.grading._rubric import DEFAULT, Rubric

__all__ = ["MAX_SCORE", "outcomes", "points"]

#: Points there are.
MAX_SCORE = DEFAULTS.max_score

if {c.id for c in CHECKS} != set(DEFAULTS.weights):  # pragma: no cover - a bug, caught at import
    raise RuntimeError("every check needs a weight, and every weight a check")


def outcomes(
    verdict: Verdict, *, weighted: bool = True, rubric: Rubric = DEFAULT
) -> list[CheckOutcome]:
    """Each check of ``verdict`` with the points it earned (``weighted``: the deliverable),
    by the teacher's ``rubric``."""
    passed: dict[str, bool] = {c.id: c.passed for c in verdict.checks}
    found = []
    for c in verdict.checks:
        worth = rubric.points.get(c.id, 0) if weighted else 0
        needed = rubric.needs.get(c.id)
        earned = worth if c.passed and (needed is None or passed.get(needed, False)) else 0
        found.append(CheckOutcome(c.id, c.title, c.passed, c.detail, c.hint, earned, worth))
    return found


def points(status: str, details: list[CheckOutcome], rubric: Rubric = DEFAULT) -> int | None:
    """The score: the points earned when it ran (``ok``), 0 when it did not, ``None``
    when the grader could not grade it (never below 0, whatever the ``rubric``)."""
    if status == "grader_fault":
        return None
    if status != "ok":
        return 0
    earned = sum(c.points for c in details)
    if not any(c.id == "overlap" and c.passed for c in details):
        # One lane is the misconception: half at most, by default.
        earned = min(earned, rubric.cap_without_overlap)
    return max(earned, 0)
