"""The Parallel Fetch Sprint's contract: what the learner's notebook and the grader agree on.

It imports nothing of citylib (only ``typing``), so the judge, the learner's API,
the grader's notebook reader and the grader's child all depend on it and not on
each other.

The learner's answer cell carries :data:`SPRINT_TAG` and defines
``async def parallel_fetch(sources=None) -> dict``: ``sources`` maps each of
:data:`SOURCE_NAMES` to a zero-argument async callable returning a dict, and the
answer is ``{name: payload, ..., "total_latency": seconds}``. The stretch goal's cell
carries :data:`STRETCH_TAG` and defines ``sequential_fetch``, its one-lane twin.

The grading words are typed here once, as ``Literal`` types with their tuples of values:
the checks' ids, how a submission's grading ends, how a cell and a drive end in the
child, and how the stretch goal went. The frames' decoder refuses any other value,
so a child cannot relabel its own outcome; and control flow compares these, never a
message's text.
"""

from typing import Literal, get_args

__all__ = [
    "ANSWER_NAME",
    "CELL_STATUSES",
    "CHECK_IDS",
    "DRIVE_OUTCOMES",
    "GRADE_STATUSES",
    "LATENCY_KEY",
    "SOURCE_NAMES",
    "SPRINT_TAG",
    "STRETCH_NAME",
    "STRETCH_STATUSES",
    "STRETCH_TAG",
    "CellStatus",
    "CheckId",
    "DriveEnd",
    "DriveOutcome",
    "GradeStatus",
    "StretchStatus",
]

#: The cell tag of the graded answer cell.
SPRINT_TAG = "parallel-fetch-sprint"
#: The cell tag of the stretch goal's cell.
STRETCH_TAG = "parallel-fetch-stretch"
#: The function the answer cell defines, and the stretch goal's twin.
ANSWER_NAME = "parallel_fetch"
STRETCH_NAME = "sequential_fetch"
#: The three slow sources: 1 + 2 + 3 = 6 city seconds in one lane, 3 on the highway.
SOURCE_NAMES = ("weather", "maps", "chat")
#: The key of the answer's own measured time, in city seconds.
LATENCY_KEY = "total_latency"

#: The checks, by id (a ``grades.csv`` column each): the deliverable's and the stretch's.
CheckId = Literal[
    "returns_dict", "calls_once", "payloads", "overlap", "one_lane", "total_latency",
    "non_blocking",
]  # fmt: skip
CHECK_IDS: tuple[CheckId, ...] = get_args(CheckId)

#: How a submission's grading ends. ``grader_fault``: the sandbox or the child failed
#: for the grader's own reasons, never charged to the student; ``over_limit``: the
#: submission went past one of the grader's own limits (a cell too large to send,
#: too many imports, too many frames), named in its message and never called a crash.
GradeStatus = Literal[
    "ok", "not_attempted", "error", "timeout", "child_died", "over_limit", "grader_fault",
]  # fmt: skip
GRADE_STATUSES: tuple[GradeStatus, ...] = get_args(GradeStatus)

#: How a cell ends in the child: ``""`` ran cleanly.
CellStatus = Literal["", "error", "not_attempted"]
CELL_STATUSES: tuple[CellStatus, ...] = get_args(CellStatus)

#: How a drive ends, as the child may say: the function returned, raised, still
#: raises ``NotImplementedError``, or is not defined.
DriveEnd = Literal["returned", "raised", "not_implemented", "missing"]
#: How a drive ends in a report: the child's word, or ``timeout`` (the judge's clock).
DriveOutcome = Literal[DriveEnd, "timeout"]
DRIVE_OUTCOMES: tuple[DriveOutcome, ...] = get_args(DriveOutcome)

#: How the stretch goal went, as the judge saw it (``""``: not judged).
StretchStatus = Literal[
    "", "pass", "fail", "locked", "not_attempted", "error", "timeout", "child_died",
    "over_limit",
]  # fmt: skip
STRETCH_STATUSES: tuple[StretchStatus, ...] = get_args(StretchStatus)
