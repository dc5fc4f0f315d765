"""The Parallel Fetch Sprint's contract: what the learner's notebook and the grader agree on.

It imports nothing, so the judge, the learner's API and the grader's notebook reader
all depend on it and not on each other.

The learner's answer cell carries :data:`SPRINT_TAG` and defines
``async def parallel_fetch(sources=None) -> dict``: ``sources`` maps each of
:data:`SOURCE_NAMES` to a zero-argument async callable returning a dict, and the
answer is ``{name: payload, ..., "total_latency": seconds}``. The stretch goal's cell
carries :data:`STRETCH_TAG` and defines ``sequential_fetch``, its one-lane twin.
"""

__all__ = [
    "ANSWER_NAME",
    "LATENCY_KEY",
    "SOURCE_NAMES",
    "SPRINT_TAG",
    "STRETCH_NAME",
    "STRETCH_TAG",
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
