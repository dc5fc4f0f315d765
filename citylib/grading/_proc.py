"""Reading ``/proc`` from outside the sandbox: the child's thread, its CPU, its offspring.

Nothing here asks the child anything: every figure is the kernel's. ``/proc/PID/syscall``
says whether its main thread waits in its own loop's ``epoll_wait`` (idle) or anywhere
else (held); ``schedstat`` how long it ran and how long it waited for a CPU.
"""

from __future__ import annotations

import os
import platform
import threading

__all__ = ["STACK_SLACK", "Watch", "find_child", "read"]

#: ``epoll_wait`` and its variants, by machine: where an idle asyncio loop waits.
_EPOLL_CALLS = {"x86_64": {232, 281, 441}, "aarch64": {22, 441}}

#: Bytes of C stack an ``epoll_wait`` may sit below the shallowest one seen and still
#: be the loop's own. The loop's wait is always reached the same way (``run_forever``,
#: ``_run_once``, ``select``: Python calls, one C frame), give or take the few bytes an
#: interpreter's specialised call takes (96 on 3.11); a wait entered from a callback or
#: a task (the submission polling the loop's own selector, answering echoes by hand)
#: sits under at least one more evaluation frame: 400 bytes or more on 3.11 to 3.13.
STACK_SLACK = 256


def read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _runqueue_wait(path: str) -> float:
    """Seconds a thread has waited for a CPU (``schedstat``), 0 when unreadable."""
    text = read(path)
    try:
        return int(text.split()[1]) / 1e9 if text else 0.0
    except (IndexError, ValueError):
        return 0.0


def _stat_fields(pid: int) -> list[str] | None:
    text = read(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    return text[text.rindex(")") + 2 :].split()  # state is field 3, fields[0] here


def _processes() -> dict[int, tuple[int, str]]:
    """Every process's parent and the last pid of its ``NSpid`` line."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        text = read(f"/proc/{entry.name}/status")
        if not text:
            continue
        ppid, nspid = -1, ""
        for line in text.splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("NSpid:"):
                nspid = line.split()[-1]
        found[int(entry.name)] = (ppid, nspid)
    return found


def _descendants(root: int, table: dict[int, tuple[int, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def find_child(root: int, inner_pid: int) -> int | None:
    """The child's pid here: the descendant of ``root`` its own namespace calls ``inner_pid``."""
    table = _processes()
    for pid in _descendants(root, table):
        if table[pid][1] == str(inner_pid):
            return pid
    return None


class Watch:
    """Samples one process's main thread: idle in its loop's epoll, or held."""

    def __init__(self, pid: int, loop_fd: int) -> None:
        self.pid, self.loop_fd = pid, loop_fd
        self.calls = _EPOLL_CALLS.get(platform.machine(), set())
        # The stack pointer of the shallowest wait in the loop's epoll seen: the loop's
        # own (nothing the submission runs can wait shallower than the loop's own call).
        self.top: int | None = None
        self.last_call: tuple[int, int] | None = None  # the last sample's call and first argument
        self.available = bool(self.calls) and loop_fd >= 0 and self.sample() is not None
        self.judge_tid = threading.get_native_id()

    def sample(self) -> str | None:
        """``idle`` (in its loop's own epoll wait), ``running`` (or waiting for a CPU),
        ``blocked`` (in any other system call, or in a wait on the loop's epoll entered
        from deeper down: a callback polling the selector holds the loop), ``None``
        (unreadable)."""
        text = read(f"/proc/{self.pid}/syscall")
        if not text:
            return None
        parts = text.split()
        self.last_call = None
        if parts[0] == "running":
            return "running"
        try:
            number, first = int(parts[0]), int(parts[1], 16)
            sp = int(parts[7], 16) if len(parts) > 7 else None
        except (IndexError, ValueError):
            return None
        self.last_call = (number, first)
        if number not in self.calls or first != self.loop_fd:
            return "blocked"
        if sp is None:
            return "idle"
        if self.top is None or sp > self.top:
            self.top = sp
        return "idle" if sp >= self.top - STACK_SLACK else "blocked"


    def cpu_seconds(self) -> float:
        """CPU the child's main thread has used (``schedstat``, nanoseconds exact)."""
        text = read(f"/proc/{self.pid}/schedstat")
        try:
            return int(text.split()[0]) / 1e9 if text else 0.0
        except (IndexError, ValueError):
            return 0.0

    def child_waited(self) -> float:
        """Seconds the child's main thread has waited for a CPU."""
        return _runqueue_wait(f"/proc/{self.pid}/schedstat")

    def judge_waited(self) -> float:
        """Seconds this judge's thread has waited for a CPU."""
        return _runqueue_wait(f"/proc/self/task/{self.judge_tid}/schedstat")

    def threads_and_cpu(self) -> tuple[int, float]:
        fields = _stat_fields(self.pid)
        if fields is None:
            return 0, 0.0
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[17]), (int(fields[11]) + int(fields[12])) / tick

    def peak_memory_mb(self) -> float:
        """The child's peak resident memory (``VmHWM``), MiB; 0 when unreadable."""
        for line in (read(f"/proc/{self.pid}/status") or "").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def offspring(self) -> int:
        """Processes the child started that are still running."""
        return len(_descendants(self.pid, _processes()))
