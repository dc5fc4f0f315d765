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

UNCALLED = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    answers = await asyncio.gather(*sources.values())  # the sources, not calls of them
    merged = dict(zip(sources, answers))
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

# Forgeries: each tries to earn more than its honest behaviour does. The grader runs
# the judge outside the child, so each must score exactly what its plain code earns.

PATCHED_JUDGE = (
    SEQUENTIAL
    + """

# Patch every judge, rule and display path a kernel-side grader would have used.
import builtins
import sys

import citylib
import citylib._lessons.judge as checks
import citylib.grading

checks._check_overlap = lambda d: ""
checks._check_blocking = lambda d: ""
checks.verdict = lambda *a, **k: None
checks.judge = lambda *a, **k: None
citylib.grading.judge = lambda *a, **k: None
for name in list(sys.modules):
    if name.startswith("citylib.grading"):
        module = sys.modules[name]
        for attr in ("judge", "verdict", "run_submission", "_check_overlap"):
            if hasattr(module, attr):
                setattr(module, attr, lambda *a, **k: None)
try:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        real = shell.display_pub.publish
        shell.display_pub.publish = lambda data, **kw: real({**data, "forged": True}, **kw)
    print("DISPLAY shell:", shell)
except ImportError:
    print("DISPLAY no IPython")
print('CITYLIB-RESULT {"status": "ok", "score": 10}')
builtins.print = lambda *a, **k: None
"""
)

CANCELS_WATCHERS = (
    HEAD
    + """import gc
import time


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    me = asyncio.current_task()
    for task in asyncio.all_tasks():  # every heartbeat a kernel-side judge would run
        if task is not me:
            task.cancel()
    for thing in gc.get_objects():  # and every watcher thread or handle it might keep
        if type(thing).__name__ in ("Heartbeat", "Watch", "TimerHandle"):
            try:
                thing.cancel()
            except Exception:
                pass
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    time.sleep(0.5)  # now block, with nobody watching (it hopes)
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

REWRITES_RECORDS = (
    SEQUENTIAL.replace("async def parallel_fetch", "async def _one_lane")
    + """

import gc
import sys


async def parallel_fetch(sources=None) -> dict:
    start = clock.now()
    result = await _one_lane(sources)
    # Rewrite whatever records of the calls exist: through gc, and up the frames.
    # A pause every few hundred objects, and no modules (a module's __getattr__ may
    # import): the walk itself must not trip the blocking check, so that only the
    # forgery is on trial.
    for n, thing in enumerate(gc.get_objects()):
        if n % 500 == 0:
            await asyncio.sleep(0)
        if isinstance(thing, type(sys)):
            continue
        for attr in ("started", "ended", "invoked", "max_gap", "elapsed", "hold"):
            try:
                if hasattr(thing, attr):
                    setattr(thing, attr, 0.0)
            except Exception:
                pass
    frame = sys._getframe()
    while frame is not None:
        for key, value in list(frame.f_locals.items()):
            if isinstance(value, dict) and "pending" in key:
                value.clear()
        frame = frame.f_back
    result["total_latency"] = clock.now() - start  # honest about the time all this took
    return result
"""
)

_SOCKET = """import json
import os
import sys

FD = int(sys.argv[1])  # the child's end of the socket pair, for anyone who looks


def send(frame):
    body = json.dumps(frame).encode()
    os.write(FD, len(body).to_bytes(4, "big") + body)


def echoes_answered():
    # Read whatever the judge sent and answer every echo in it.
    try:
        data = os.read(FD, 65536)
    except BlockingIOError:
        return
    while len(data) >= 4:
        size = int.from_bytes(data[:4], "big")
        frame = json.loads(data[4 : 4 + size])
        data = data[4 + size :]
        if frame.get("kind") == "echo":
            send({"kind": "echo_reply", "seq": frame["seq"]})
"""

HELPER_ANSWERS = (
    HEAD
    + _SOCKET
    + """import signal
import threading
import time


helping = [False]


def helper():
    while helping[0]:  # only while the loop is blocked: the judge's answers stay its own
        echoes_answered()
        time.sleep(0.002)


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    # Answer the judge's echoes from elsewhere while the loop is blocked:
    helping[0] = True
    try:
        threading.Thread(target=helper, daemon=True).start()  # a thread
        print("HELPER thread: started")
    except RuntimeError as exc:
        print("HELPER thread: refused", exc)
    try:
        if os.fork() == 0:  # a child process, for as long as the block lasts
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                echoes_answered()
                time.sleep(0.002)
            os._exit(0)
        print("HELPER fork: started")
    except OSError as exc:
        print("HELPER fork: refused", type(exc).__name__)
    signal.signal(signal.SIGALRM, lambda *_: echoes_answered())  # a signal handler
    signal.setitimer(signal.ITIMER_REAL, 0.003, 0.003)
    time.sleep(0.5)
    signal.setitimer(signal.ITIMER_REAL, 0)
    helping[0] = False
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

FORGED_FRAMES = (
    SEQUENTIAL
    + _SOCKET
    + """

# Claim three overlapping calls and a perfect result, straight onto the channel.
for n, name in enumerate(("weather", "maps", "chat")):
    send({"kind": "invoke", "drive": 0, "call": 900 + n, "source": name})
    send({"kind": "call", "drive": 0, "call": 900 + n})
send({"kind": "drive_done", "drive": 0, "outcome": "returned", "result": {}})
"""
)

FLOODED_FRAMES = (
    SEQUENTIAL.replace("async def parallel_fetch", "async def _one_lane")
    + _SOCKET
    + """

async def parallel_fetch(sources=None) -> dict:
    for n in range(20_000):  # a flood of well-formed frames
        send({"kind": "invoke", "drive": 0, "call": 10_000 + n, "source": "weather"})
    os.write(FD, (2**31).to_bytes(4, "big") + b"{")  # and a frame claiming 2 GiB
    return await _one_lane(sources)
"""
)

REPLAYED_TOKENS = (
    HEAD
    + """_remembered = {}


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    merged = dict(zip(names, answers))
    if _remembered:
        merged.update(_remembered)  # replay the first drive's tokens in the second
    else:
        _remembered.update(merged)
    merged["total_latency"] = clock.now() - start
    return merged
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
    "uncalled_sources": (UNCALLED, None),
    "untouched": (None, None),
    "syntax_error": (SYNTAX_ERROR, None),
    "endless_loop": (ENDLESS, None),
    "kernel_exit": (EXITS, None),
    "kernel_killed": (KILLED, None),
    "output_flood": (FLOOD, None),
    "mischief": (MISCHIEF, None),
    "nbgrader_only": (GATHER, None),
    "forged_verdict": (FORGED, None),
    "forged_patched_judge": (PATCHED_JUDGE, None),
    "forged_cancels_watchers": (CANCELS_WATCHERS, None),
    "forged_rewrites_records": (REWRITES_RECORDS, None),
    "forged_helper_answers": (HELPER_ANSWERS, None),
    "forged_frames": (FORGED_FRAMES, None),
    "forged_flood": (FLOODED_FRAMES, None),
    "forged_replayed_tokens": (REPLAYED_TOKENS, None),
}


def _with_attacks() -> None:
    """The judge's attacks (judge_attacks.py), kept apart so each list merges easily."""
    from judge_attacks import ATTACKS

    SUBMISSIONS.update(ATTACKS)


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
    _with_attacks()
    for name, (answer, stretch) in SUBMISSIONS.items():
        nb = build(name, answer, stretch)
        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        (HERE / f"{name}.ipynb").write_text(text, encoding="utf-8")
    (HERE / "not_a_notebook.ipynb").write_text("this is not JSON {", encoding="utf-8")


if __name__ == "__main__":
    main()
