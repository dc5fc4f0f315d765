"""The child's end: killing the sandbox, and naming how its process ended."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import IO

from citylib.grading._proc import read

__all__ = ["exit_reason", "kill", "tail"]


def exit_reason(code: int | None) -> str:
    if code is None:
        return "its process stopped answering"
    if code > 128:
        code = -(code - 128)  # timeout(1) and unshare(1) pass a signal on as 128 + N
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {
            "SIGXCPU": " (it used up its CPU time)",
            "SIGXFSZ": " (it wrote a file larger than allowed)",
            "SIGKILL": " (killed, perhaps for using too much memory)",
        }.get(name, "")
        return f"its process was killed by {name}{why}"
    return f"its process exited with code {code}"


def tail(log: IO[bytes], limit: int = 600) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - limit))
    return log.read().decode("utf-8", "replace").strip()


async def kill(
    process: asyncio.subprocess.Process, child: int | None, *, exited: bool
) -> int | None:
    """End the sandbox and everything in it; returns its exit status.

    The child goes first and the wrapper chain unwinds by itself (each process reaps
    the one it started): killing the whole group at once would orphan the middle of it,
    leaving zombies for a PID 1 that may never reap them (a container's often does
    not). ``exited``: the child's end of the socket closed, so it is ending on its own;
    its own exit status (or signal) is the one reported.
    """
    if child is not None and not exited:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    try:
        code: int | None = await asyncio.wait_for(process.wait(), 3 if child else 0.1)
    except TimeoutError:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            code = await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            code = None
    # Its user's next child (the same slot) may start only once this one is gone: with
    # a limit of one process per user, a child still dying would refuse it.
    for _ in range(200):
        if child is None or read(f"/proc/{child}/stat") is None:  # /proc: never blocks
            break
        await asyncio.sleep(0.01)
    return code
