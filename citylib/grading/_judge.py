"""The judge outside the sandbox: one submission's child, driven over a socket pair.

The grader's own process starts the child (:mod:`citylib.grading._child`) inside the
sandbox with one end of a ``socket.socketpair()`` and keeps the other. Everything
the verdict rests on is observed here, on this process's clock:

* the sources are served from here: latencies from the batch's secret seed, a fresh
  128-bit token per answer, the time of each ``invoke``, ``call`` and ``answer``;
* the returned value comes back as data, checked against the tokens given;
* whether the loop was held: the child's main thread is sampled from ``/proc``
  every tick (in ``epoll_wait`` on its loop's own epoll, the loop is idle; in any
  other system call, or running, it is held), an echo is always outstanding and must
  be answered from a callback on that loop, and its threads and CPU time are read
  too. Time the child (or this judge) spent waiting for a CPU is not counted.

The judge is split by idea: :mod:`._proc` reads ``/proc``, :mod:`._session` is the
judge's end of the socket (frames, calls served, the watch), :mod:`._drives` drives a
function and judges it, :mod:`._ending` ends the child; this module runs the
conversation and gathers what was found into :class:`Observed`.

The checks themselves are the in-process judge's (:func:`citylib._lessons.judge.verdict`),
so the self-check and the grader say the same things. A frame the protocol does not
allow (a wrong id, an unsolicited echo reply, a flood, an oversize or malformed
frame) ends the submission with status ``error``; it never reaches the verdict and
never stops the batch.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from citylib._lessons import judge as rules
from citylib._lessons.sprint_contract import ANSWER_NAME, STRETCH_NAME, GradeStatus, StretchStatus
from citylib.grading import _messages as m
from citylib.grading._drives import ANSWER_FILE, STRETCH_FILE, MissingError, drives
from citylib.grading._ending import exit_reason, kill, tail
from citylib.grading._proc import Watch, find_child
from citylib.grading._sandbox import Sandbox
from citylib.grading._session import EndError, Session

__all__ = ["Observed", "run_submission"]

_perf = time.perf_counter


@dataclass
class Observed:
    """What the judge found out about one submission.

    Attributes:
        status: One of :data:`~citylib._lessons.sprint_contract.GRADE_STATUSES`, as
            this judge saw it end (never a word the child sent).
        error: What went wrong (status other than ``ok``).
        line: The answer cell's line where it failed (0: not known).
        verdict: The deliverable's verdict, when its drives ran.
        drives: The deliverable's drives as observed.
        stretch: How the stretch goal went (:data:`~citylib._lessons.sprint_contract.
            STRETCH_STATUSES`), judged from its own drives, apart from ``status``.
        stretch_verdict: The stretch goal's verdict.
        stretch_drives: Its drives.
        notes: Things the teacher should know.
        output: What it printed (capped), and how much was dropped.
        watched: Whether its loop was watched from outside (``/proc`` readable).
        memory_mb: The child's peak resident memory, MiB (0: not read).
        ran: Whether a child was started at all (a job past the grader's limits is not).
    """

    status: GradeStatus = "error"
    error: str = ""
    line: int = 0
    verdict: rules.Verdict | None = None
    drives: list[m.DriveReport] = field(default_factory=list)
    stretch: StretchStatus = ""
    stretch_verdict: rules.Verdict | None = None
    stretch_drives: list[m.DriveReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    watched: bool = False
    memory_mb: float = 0.0
    ran: bool = True


async def _conversation(
    s: Session, process: asyncio.subprocess.Process, found: Observed
) -> int | None:
    """Hello, the cells, the drives, goodbye; returns the child's pid here."""
    hello: m.Hello = await s.reply(
        m.Hello, _perf() + m.DEFAULTS.startup_timeout, "the child did not start"
    )
    child = find_child(process.pid, hello.pid)
    if child is None:
        raise EndError("grader_fault", "the grader could not find its child among the processes")
    s.watch = Watch(child, hello.loop_fd)
    for _ in range(50 if s.watch.available else 0):
        # The loop's own wait, seen before any submission code runs (the child is a
        # moment from it): what "idle" means from here on.
        if s.watch.sample() == "idle":
            break
        await asyncio.sleep(0.001)
    found.watched = s.watch.available
    deadline = _perf() + s.job.timeout
    late = f"still running after {s.job.timeout:g} s"
    for statement in s.job.preamble:
        s.send(m.RunCell(statement, "<import>"))
        cell: m.CellDone = await s.reply(m.CellDone, deadline, late)
        if cell.status:
            found.notes.append(f"an import above the answer failed: {cell.error or statement}")
    s.send(m.RunCell(s.job.answer, ANSWER_FILE))
    cell = await s.reply(m.CellDone, deadline, late)
    if cell.status:
        raise EndError(cell.status, cell.error, cell.line)
    verdict, found.drives, status, error, line = await drives(s, ANSWER_NAME, deadline, False)
    found.verdict = verdict
    if status != "ok":
        raise EndError(status, error, line)
    found.status, found.error, found.line = status, error, line
    # The deliverable's verdict is final here: nothing the stretch cell does (hang,
    # raise, die, flood) takes it back; the stretch is graded apart.
    try:
        found.stretch = await _stretch(s, found, deadline)
    except EndError as ended:
        found.stretch = _STRETCH_ENDS.get(ended.status, "error")
        found.notes.append(f"stretch goal: {ended.error or _STRETCH_WHY[found.stretch]}")
        found.memory_mb = round(s.watch.peak_memory_mb(), 1)
        s.ended_after_verdict = True
        return child
    found.memory_mb = round(s.watch.peak_memory_mb(), 1)  # before it exits
    s.send(m.Stop())
    try:
        await s.reply(m.Bye, _perf() + 2.0, "no goodbye")
    except EndError as ended:  # after every verdict: a note, never a grade
        found.notes.append(f"after its drives: {ended.error or ended.status}")
        s.ended_after_verdict = True
    return child


#: How a stretch that ended the run is recorded (the deliverable keeps its verdict).
_STRETCH_ENDS: dict[str, StretchStatus] = {
    "timeout": "timeout", "child_died": "child_died", "over_limit": "over_limit",
}  # fmt: skip
_STRETCH_WHY: dict[str, str] = {
    "timeout": "it did not finish in time",
    "child_died": "its cell ended the child's process",
    "over_limit": "it went past one of the grader's limits",
    "error": "it failed",
}


async def _stretch(s: Session, found: Observed, deadline: float) -> StretchStatus:
    if not s.job.stretch:
        return "not_attempted"
    if found.verdict is None or not found.verdict.passed:
        return "locked"
    too_big = _too_large(s.job.stretch, "stretch")
    if too_big:
        found.notes.append(f"stretch goal: {too_big}")
        return "over_limit"
    s.send(m.RunCell(s.job.stretch, STRETCH_FILE))
    cell: m.CellDone = await s.reply(
        m.CellDone, deadline, f"still running after {s.job.timeout:g} s"
    )
    if cell.status == "not_attempted":
        return "not_attempted"
    if cell.status == "error":
        found.notes.append(f"stretch goal: {cell.error}")
        return "error"
    try:
        verdict, found.stretch_drives, status, error, _ = await drives(
            s, STRETCH_NAME, deadline, True
        )
    except MissingError:
        return "not_attempted"
    found.stretch_verdict = verdict
    if status == "not_attempted" or verdict is None:
        return "not_attempted"
    if error and not verdict.passed:
        found.notes.append(f"stretch goal: {error}")
    # The bonus is the stretch drives' own verdict: the calls this judge served.
    return "pass" if verdict.passed else "fail"


def _too_large(code: str, which: str) -> str:
    """Why a cell cannot be sent to the child (``""``: it can)."""
    size = len(m.encode_frame(m.RunCell(code, ANSWER_FILE)))
    if size <= m.DEFAULTS.frame_bytes:
        return ""
    return (
        f"the {which} cell is {size / 1024:,.0f} KB, more than the grader's limit of "
        f"{m.DEFAULTS.frame_bytes // 1024} KB a cell: it was not run"
    )


def over_limit(job: m.Job) -> str:
    """Which of the grader's own limits a job goes past before it runs (``""``: none)."""
    if len(job.preamble) > m.DEFAULTS.imports:
        return (
            f"more than {m.DEFAULTS.imports} import statements above the answer, the "
            "grader's limit (each is run on its own): nothing was run"
        )
    for statement in job.preamble:
        if _too_large(statement, "import"):
            return _too_large(statement, "import")
    return _too_large(job.answer, "answer")


async def run_submission(
    job: m.Job,
    settings: rules.JudgeSettings,
    sandbox: Sandbox,
    *,
    slot: int,
    folder: Path,
    env: dict[str, str],
    log: IO[bytes],
) -> Observed:
    """Run one submission's child in ``sandbox`` and judge it from here.

    Never raises for anything the submission does; a failure of the grader's own
    (the sandbox would not start, the child never said hello) is ``grader_fault``.
    """
    found = Observed()
    beyond = over_limit(job)
    if beyond:  # the grader's own limit, named as such: never the student's crash
        return Observed("over_limit", beyond, ran=False)
    parent, inherited = socket.socketpair()
    argv = [sys.executable, "-m", "citylib.grading._child", str(inherited.fileno()),
            str(job.output_limit)]  # fmt: skip
    hard = m.DEFAULTS.startup_timeout + job.timeout + 30
    command = sandbox.wrap(argv, slot=slot, timeout=hard)
    try:
        process = await asyncio.create_subprocess_exec(
            *command, pass_fds=(inherited.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log, cwd=folder, env=env, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        parent.close()
        return Observed("grader_fault", f"the grader could not start the sandbox: {exc}")
    finally:
        inherited.close()
    s = Session(job, settings)
    loop = asyncio.get_running_loop()
    await loop.connect_accepted_socket(lambda: s, sock=parent)
    child: int | None = None
    try:
        child = await _conversation(s, process, found)
    except EndError as ended:
        found.status, found.error = ended.status, ended.error
        found.line = ended.line or found.line
    except Exception as exc:  # the grader's own bug: never the student's grade
        found.status, found.error = "grader_fault", f"the grader failed: {exc!r}"
    finally:
        if s.watch is not None:
            child = s.watch.pid
            found.memory_mb = found.memory_mb or round(s.watch.peak_memory_mb(), 1)
        if s.transport is not None:
            s.transport.close()
        gone = found.status == "child_died" or s.ended_after_verdict
        code = await kill(process, child, exited=gone)
    if found.status == "child_died":
        if s.watch is None:  # it died before its hello: the sandbox or the child, not the student
            found.status = "grader_fault"
            found.error = f"the sandbox or the child failed (exit {code}): {tail(log)}"
        else:
            found.error = exit_reason(code)
    elif found.status == "timeout" and s.watch is None:
        found.status, found.error = "grader_fault", f"the child did not start: {tail(log)}"
    if s.late_calls:
        found.notes.append(f"{s.late_calls} source call(s) came after their drive had ended")
    found.notes.extend(s.notes)
    found.output = "".join(s.output)
    found.output_dropped = s.dropped
    return found
