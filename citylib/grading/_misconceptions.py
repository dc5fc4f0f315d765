"""The class's misconceptions: every slip (:mod:`citylib._lessons.slips`) counted.

A teacher re-teaches from causes, not from check pass rates: how many handed gather
the sources uncalled, awaited one after another, wrote the latency in, blocked the
loop. :func:`count` reads each record's ``slips`` (the deliverable's diagnoses, by id)
and gives each slip with the submissions that made it, largest first, the notebook
section that teaches it, and one example submission whose lanes class.html draws,
without its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from citylib._lessons.judge import CHECKS
from citylib.grading._messages import GradeRecord

__all__ = ["TAUGHT", "Misconception", "count"]

_AWAIT = ("02_await.ipynb", "# What is await? ⏳")
_HIGHWAY = ("01_traffic_jam.ipynb", "## The Async Highway Opens ✨")
_GATHER = ("02_await.ipynb", "## The `/weather` route 🌦️")
_SLEEP = ("02_await.ipynb", "## Pro tip: never `time.sleep()` in async code 🚫")
_RUN = ("02_await.ipynb", "## Why does `asyncio.run()` fail in Jupyter? 🤔")
_DELIVERABLE = ("05_parallel_fetch_sprint.ipynb", "## Your turn: the deliverable 🛣️")
_SOURCES = ("05_parallel_fetch_sprint.ipynb", "## The three slow sources ⏳")
_STRETCH = ("05_parallel_fetch_sprint.ipynb", "## Stretch goal: one lane vs the Async Highway 🏎️")
_HUNG = ("06_when_lanes_crash.ipynb", "## ⏱️ Lesson 3: `asyncio.timeout` on a hung service")
_CPU = ("06_when_lanes_crash.ipynb", "## 🧱 Lesson 5: CPU work blocks the loop")

#: Each slip: what it is in a teacher's words, and the notebook and section heading
#: that teach it (tests/test_misconceptions.py checks every heading is there).
TAUGHT: dict[str, tuple[str, tuple[str, str]]] = {
    "uncalled_sources": ("handed gather the sources uncalled", _AWAIT),
    "not_awaited": ("called the sources but never awaited the calls", _AWAIT),
    "drive_not_awaited": ("never awaited the function itself", _AWAIT),
    "tasks_not_awaited": ("returned the tasks, not their answers", _AWAIT),
    "gather_not_awaited": ("used gather's future without awaiting it", _AWAIT),
    "task_not_done": ("asked a task for its result before it finished", _AWAIT),
    "plain_def": ("wrote a plain def, not async def", _AWAIT),
    "not_unpacked": ("handed gather one list of calls, not the calls", _GATHER),
    "took_turns": ("awaited the calls one after another (one lane)", _HIGHWAY),
    "side_by_side": ("ran the stretch's calls side by side", _STRETCH),
    "blocked_loop": ("blocked the event loop", _SLEEP),
    "unwatched": ("left the event loop for threads or processes", _CPU),
    "asyncio_run": ("called asyncio.run() inside the function", _RUN),
    "asyncio_run_in_cell": ("called asyncio.run() in the notebook", _RUN),
    "never_finished": ("waited forever", _HUNG),
    "hard_coded_latency": ("wrote the latency in", _DELIVERABLE),
    "latency_off": ("measured a total_latency that misses part of the fetch", _DELIVERABLE),
    "no_latency": ("left out total_latency", _DELIVERABLE),
    "latency_not_a_number": ("gave a total_latency that is not a number", _DELIVERABLE),
    "own_sources": ("fetched from sources of its own", _SOURCES),
    "sources_none": ("ignored the sources it was given", _SOURCES),
    "no_default": ("gave sources no default", _DELIVERABLE),
    "missing_sources": ("never called a source", _DELIVERABLE),
    "called_twice": ("called a source more than once", _DELIVERABLE),
    "changed_answer": ("changed an answer before merging it", _DELIVERABLE),
    "answers_as_keys": ("used the answers as the dict's keys", _DELIVERABLE),
    "missing_names": ("left a source's name out of the dict", _DELIVERABLE),
    "wrong_names": ("put answers under the wrong names", _DELIVERABLE),
    "returns_none": ("returned None", _DELIVERABLE),
    "returns_list": ("returned a list, not a dict", _DELIVERABLE),
    "not_a_dict": ("returned something other than a dict", _DELIVERABLE),
    "error": ("stopped with an error of its own", _DELIVERABLE),
}
# A failed check no slip explains is diagnosed under the check's own id.
TAUGHT.update(
    {c.id: (f"failed “{c.title}”, no single cause named", _DELIVERABLE) for c in CHECKS}
)


@dataclass(frozen=True)
class Misconception:
    """One slip across the class.

    Attributes:
        id: The slip's id (``took_turns``...).
        name: What it is, in a teacher's words.
        count: Submissions that made it.
        share: ``count`` over the submissions judged.
        notebook: The notebook that teaches it.
        section: That notebook's section heading.
        example: One submission that made it and has lanes to draw (``None``: none
            has); the page draws its lanes, never its name.
    """

    id: str
    name: str
    count: int
    share: float
    notebook: str
    section: str
    example: GradeRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """What grades.json keeps (no example: the teacher has the records)."""
        return {
            "id": self.id,
            "name": self.name,
            "count": self.count,
            "share": round(self.share, 4),
            "notebook": self.notebook,
            "section": self.section.lstrip("# ").strip(),
        }


def _example(records: Sequence[GradeRecord]) -> GradeRecord | None:
    """A record with lanes to draw, the same whatever order the records came in."""
    drawn = [r for r in records if r.drives and r.drives[0].spans]
    return min(drawn or records, key=lambda r: r.sha256, default=None)


def count(records: Sequence[GradeRecord]) -> list[Misconception]:
    """Every slip the class made, with how many submissions made it, largest first
    (then by id). A submission counts once per slip; the share is of the submissions
    judged (graded ``ok`` or stopped with an ``error`` the judge diagnosed)."""
    judged = [r for r in records if r.status in ("ok", "error")]
    made: dict[str, list[GradeRecord]] = {}
    for r in judged:
        for slip in dict.fromkeys(r.slips):
            made.setdefault(slip, []).append(r)
    found = []
    for slip, who in made.items():
        name, (notebook, section) = TAUGHT.get(slip, (slip.replace("_", " "), _DELIVERABLE))
        found.append(
            Misconception(
                slip, name, len(who), len(who) / len(judged), notebook, section, _example(who)
            )
        )
    return sorted(found, key=lambda m: (-m.count, m.id))
