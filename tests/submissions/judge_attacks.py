"""Submissions that attack the judge's semantics: each must earn only its honest score.

Written by make_submissions.py next to the others (``SUBMISSIONS.update(ATTACKS)``);
the scores they must get are ``EXPECTED_ATTACKS`` in tests/test_grading.py. The first
eleven are the ones issue 25 found; the rest were found by reading the judge and the
child as an attacker would (the child is hostile Python with a socket to the judge).
"""

from __future__ import annotations

from make_submissions import _SOCKET, GATHER, HEAD, SEQUENTIAL, SEQUENTIAL_STRETCH

# Reach into the child's own machinery from a cell: it is this process's object.
_CHILD = """import gc
import sys

from citylib.grading import _messages


def the_child():  # the child runs as __main__ (python -m citylib.grading._child)
    kind = sys.modules["__main__"]._Child
    return next(o for o in gc.get_objects() if isinstance(o, kind))
"""

# Every source called and thrown away: a dict that holds nothing fetched.
DISCARDED_CALLS = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    for source in sources.values():
        asyncio.ensure_future(source())
    return {}
"""
)

# Overlapping "pings" cancelled at once, then the real fetch one lane at a time.
PINGS_THEN_ONE_LANE = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    start = clock.now()
    pings = [asyncio.ensure_future(source()) for source in sources.values()]
    await asyncio.sleep(0)  # every ping awaited: three lanes open at once
    for ping in pings:
        ping.cancel()
    merged = {}
    for name, source in sources.items():
        merged[name] = await source()
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

# No sequential_fetch at all: the stretch cell makes the child report a "pass".
STRETCH_SAYS_PASS = (
    _CHILD
    + """
child = the_child()
child._cell = lambda status, error="", line=0: _messages.CellDone("pass")
"""
)

# A one-lane answer that relabels its own cell as the grader's fault.
RELABELS_GRADER_FAULT = (
    SEQUENTIAL
    + "\n\n"
    + _CHILD
    + """
child = the_child()
child._cell = lambda status, error="", line=0: _messages.CellDone("grader_fault")
"""
)

# A one-lane answer whose drives end with markup where the outcome goes.
PATCHED_OUTCOME = (
    SEQUENTIAL
    + "\n\n"
    + _CHILD
    + """
child = the_child()
_done = child._done


def _forged(drive, outcome, *args, **kwargs):
    real = _done(drive, outcome, *args, **kwargs)
    return _messages.DriveDone(drive, "<script>alert('outcome')</script>", result=real.result)


child._done = _forged
"""
)

# The loop held 0.4 s inside its own selector's epoll_wait, echoes answered by hand.
EPOLL_HOLD = (
    HEAD
    + _SOCKET
    + """import time


async def parallel_fetch(sources=None) -> dict:
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    selector = asyncio.get_running_loop()._selector
    until = time.monotonic() + 0.4
    while time.monotonic() < until:  # "idle" in the loop's own epoll, as seen from /proc
        selector.select(0.005)
        echoes_answered()
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

# A right answer, then a total_latency no float can hold.
HUGE_LATENCY = GATHER.replace(
    'merged["total_latency"] = clock.now() - start', 'merged["total_latency"] = 10**400'
)

# A right answer whose stretch cell never ends.
STRETCH_HANGS = """import time

while True:
    time.sleep(1)
"""

# Eleven calls of one source, all at once; the merge keeps the first.
ELEVEN_CALLS = GATHER.replace(
    "answers = await asyncio.gather(*(sources[name]() for name in names))",
    "answers = await asyncio.gather(\n"
    "        *(sources[name]() for name in names),\n"
    '        *(sources["weather"]() for _ in range(10)),\n'
    "    )",
)

# An answer cell larger than a frame may be: the grader's limit, not a crash.
HUGE_CELL = GATHER + "\n# " + "a" * (300 * 1024) + "\n"

# total_latency with 5,000 digits: Python will not even print it.
DIGITS_LATENCY = GATHER.replace(
    'merged["total_latency"] = clock.now() - start', 'merged["total_latency"] = 10**5000'
)

# --- found by reading the judge as an attacker

# 1. Parallel pings whose answers are kept aside, the merge made one lane at a time:
#    the calls whose answers are the merge's took turns.
PINGS_KEPT_ASIDE = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    start = clock.now()
    pings = [asyncio.ensure_future(source()) for source in sources.values()]
    merged = {}
    for name, source in sources.items():
        merged[name] = await source()
    merged["aside"] = [await ping for ping in pings]
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

# 2. The loop held from a plain callback (not a task) polling the loop's own selector.
CALLBACK_POLLS = (
    HEAD
    + _SOCKET
    + """import time


def _hold():
    selector = asyncio.get_running_loop()._selector
    until = time.monotonic() + 0.4
    while time.monotonic() < until:
        selector.select(0.005)
        echoes_answered()


async def parallel_fetch(sources=None) -> dict:
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    asyncio.get_running_loop().call_soon(_hold)
    await asyncio.sleep(0)
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""
)

# 3. An error whose message cannot be read (its __str__ raises): an error, not a crash.
UNPRINTABLE_ERROR = (
    HEAD
    + """class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


async def parallel_fetch(sources=None) -> dict:
    await asyncio.gather(*(source() for source in sources.values()))
    raise Unprintable()
"""
)

# 4. An error message of 5 MB: an error of its own, not "wrote to the grader's channel".
GIANT_ERROR = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    await asyncio.gather(*(source() for source in sources.values()))
    raise ValueError("x" * 5_000_000)
"""
)

# 5. A right answer with one more key whose repr raises: the child must not die of it.
UNREADABLE_KEY = (
    GATHER.replace("    return merged\n", "    merged[Sneaky()] = 1\n    return merged\n")
    + """

class Sneaky:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __hash__(self):
        return 1
"""
)

# 6. A stretch cell that writes a forged drive result onto the channel: the stretch
#    fails; the deliverable, judged before, keeps its verdict.
STRETCH_FORGES_FRAMES = (
    _SOCKET
    + """
send({"kind": "drive_done", "drive": 0, "outcome": "returned", "result": {}})
"""
    + SEQUENTIAL_STRETCH
)

# 7. A stretch cell that ends the child's process: the deliverable, judged before,
#    keeps its verdict; the stretch says how it ended.
STRETCH_DIES = """import os

os._exit(9)
"""

# 8. Ends every drive with a lone surrogate in its error (text UTF-8 cannot hold): an
#    error, named; the child's frames, the batch and its reports go on.
SURROGATE_ERROR = (
    HEAD
    + """async def parallel_fetch(sources=None) -> dict:
    await asyncio.gather(*(source() for source in sources.values()))
    raise ValueError("bad \\udcff byte")
"""
)

#: name -> (answer cell, stretch cell): written like make_submissions.SUBMISSIONS.
ATTACKS: dict[str, tuple[str | None, str | None]] = {
    "attack_discarded_calls": (DISCARDED_CALLS, None),
    "attack_pings_then_one_lane": (PINGS_THEN_ONE_LANE, None),
    "attack_stretch_says_pass": (GATHER, STRETCH_SAYS_PASS),
    "attack_relabels_grader_fault": (RELABELS_GRADER_FAULT, None),
    "attack_patched_outcome": (PATCHED_OUTCOME, None),
    "attack_epoll_hold": (EPOLL_HOLD, None),
    "attack_huge_latency": (HUGE_LATENCY, None),
    "attack_stretch_hangs": (GATHER, STRETCH_HANGS),
    "attack_eleven_calls": (ELEVEN_CALLS, None),
    "attack_huge_cell": (HUGE_CELL, None),
    "attack_digits_latency": (DIGITS_LATENCY, None),
    "attack_pings_kept_aside": (PINGS_KEPT_ASIDE, None),
    "attack_callback_polls": (CALLBACK_POLLS, None),
    "attack_unprintable_error": (UNPRINTABLE_ERROR, None),
    "attack_giant_error": (GIANT_ERROR, None),
    "attack_unreadable_key": (UNREADABLE_KEY, None),
    "attack_stretch_forges_frames": (GATHER, STRETCH_FORGES_FRAMES),
    "attack_stretch_dies": (GATHER, STRETCH_DIES),
    "attack_surrogate_error": (SURROGATE_ERROR, None),
}
