"""Write the grader's test submissions from the learner's notebook.

Each submission is the learner's notebook with its answer cells replaced: right
answers, wrong ones, and ones that misbehave on purpose. Run from the repository
root after the learner's notebook changes:

    .venv/bin/python tests/submissions/make_submissions.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
LEARNER = HERE.parent.parent / "notebooks" / "05_parallel_fetch_sprint.ipynb"

HEAD = "import asyncio\n\nfrom citylib import clock, sprint\n\n\n"

GATHER = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

TASKGROUP = (
    HEAD
    + """import time


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = time.perf_counter()  # real seconds are accepted too
    async with asyncio.TaskGroup() as tg:
        tasks = {name: tg.create_task(source()) for name, source in sources.items()}
    merged = {name: task.result() for name, task in tasks.items()}
    merged["total_latency"] = time.perf_counter() - start
    return merged
"""
)

SEQUENTIAL_STRETCH = """async def sequential_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    merged = {}
    for name, source in sources.items():
        merged[name] = await source()
    merged["total_latency"] = clock.now() - start
    return merged
"""

SEQUENTIAL = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    merged = {}
    for name, source in sources.items():
        merged[name] = await source()  # one lane: each waits for the one before
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

BLOCKING = (
    HEAD
    + """import time


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    time.sleep(0.5)  # "let the answers settle": blocks the whole loop
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

HARD_CODED = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    merged = dict(zip(names, answers))
    merged["total_latency"] = 3.0  # the slowest source takes 3 s, right?
    return merged
"""
)

MISSING = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    weather, chat = await asyncio.gather(sources["weather"](), sources["chat"]())
    return {"weather": weather, "chat": chat, "total_latency": clock.now() - start}
"""
)

TWICE = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    merged = dict(zip(names, answers))
    merged["weather"] = await sources["weather"]()  # "fresher weather"
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

SYNTAX_ERROR = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict
    return {}
"""
)

ENDLESS = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    while True:  # never yields, never ends
        pass
"""
)

EXITS = (
    HEAD
    + """import os


async def parallel_fetch(sources=None) -> dict:
    os._exit(3)
"""
)

KILLED = (
    HEAD
    + """import os
import signal

os.kill(os.getpid(), signal.SIGKILL)
"""
)

FLOOD = (
    GATHER
    + """

for lap in range(100_000):
    print("vroom " * 20)
"""
)

MISCHIEF = (
    GATHER
    + """

import socket
import urllib.request
from pathlib import Path

import citylib

try:
    socket.create_connection(("1.1.1.1", 80), timeout=2).close()
    print("NETWORK ip: reached")
except OSError as exc:
    print("NETWORK ip: blocked", type(exc).__name__)
try:
    urllib.request.urlopen("http://example.com", timeout=2)
    print("NETWORK dns: reached")
except OSError as exc:
    print("NETWORK dns: blocked", type(exc).__name__)

repo = Path(citylib.__file__).resolve().parents[1]
for target in [repo / "citylib-escape.txt", repo / "tests" / "submissions" / "citylib-escape.txt",
               Path("..") / "citylib-escape.txt", Path("/tmp/citylib-escape.txt"),
               Path("/var/tmp/citylib-escape.txt"), Path("/dev/shm/citylib-escape.txt"),
               Path("/etc/citylib-escape.txt")]:
    try:
        target.write_text("escaped")
        print("WRITE", target.name, "in", target.parent.name or ".", ": written")
    except OSError as exc:
        print("WRITE", target.name, "in", target.parent.name or ".", ": blocked",
              type(exc).__name__)
try:
    Path("submission.ipynb").write_text("tampered with my own copy")
    print("TAMPER my copy: written")
except OSError as exc:
    print("TAMPER my copy: blocked", type(exc).__name__)
"""
)

FORGED = (
    SEQUENTIAL
    + """

from IPython.display import display

perfect = [{"id": i, "title": i, "passed": True, "detail": "", "hint": ""}
           for i in ("returns_dict", "calls_once", "payloads", "overlap", "total_latency",
                     "non_blocking")]
display({"application/vnd.citylib._lessons.sprint-verdict+json": {
    "status": "ok", "verdict": {"status": "ok", "checks": perfect}, "nonce": "guess"}}, raw=True)
"""
)

#: name -> (answer cell, stretch cell or None to keep the learner's)
SUBMISSIONS: dict[str, tuple[str | None, str | None]] = {
    "correct_gather": (GATHER, None),
    "correct_taskgroup": (TASKGROUP, SEQUENTIAL_STRETCH),
    "sequential_awaits": (SEQUENTIAL, SEQUENTIAL_STRETCH),
    "blocking_sleep": (BLOCKING, None),
    "hard_coded_latency": (HARD_CODED, None),
    "missing_source": (MISSING, None),
    "source_twice": (TWICE, None),
    "untouched": (None, None),
    "syntax_error": (SYNTAX_ERROR, None),
    "endless_loop": (ENDLESS, None),
    "kernel_exit": (EXITS, None),
    "kernel_killed": (KILLED, None),
    "output_flood": (FLOOD, None),
    "mischief": (MISCHIEF, None),
    "nbgrader_only": (GATHER, None),
    "forged_verdict": (FORGED, None),
}


def build(name: str, answer: str | None, stretch: str | None) -> dict[str, object]:
    """The learner's notebook with ``answer`` and ``stretch`` cells swapped in."""
    nb = json.loads(LEARNER.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if "parallel-fetch-sprint" in tags and answer is not None:
            cell["source"] = answer
            if name == "nbgrader_only":  # the tag is gone; nbgrader's grade_id remains
                cell["metadata"]["tags"] = []
        if "parallel-fetch-stretch" in tags and stretch is not None:
            cell["source"] = stretch
    return nb


def main() -> None:
    """Write every submission next to this script."""
    for name, (answer, stretch) in SUBMISSIONS.items():
        nb = build(name, answer, stretch)
        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        (HERE / f"{name}.ipynb").write_text(text, encoding="utf-8")
    (HERE / "not_a_notebook.ipynb").write_text("this is not JSON {", encoding="utf-8")


if __name__ == "__main__":
    main()
