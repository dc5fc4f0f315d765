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

The checks themselves are the in-process judge's (:func:`citylib._lessons.judge.verdict`),
so the self-check and the grader say the same things. A frame the protocol does not
allow (a wrong id, an unsolicited echo reply, a flood, an oversize or malformed
frame) ends the submission with status ``error``; it never reaches the verdict and
never stops the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from citylib._lessons import judge as rules
from citylib._lessons.sprint_contract import ANSWER_NAME, STRETCH_NAME
from citylib.grading import _messages as m
from citylib.grading._sandbox import Sandbox

__all__ = ["Observed", "run_submission"]

_perf = time.perf_counter

#: ``epoll_wait`` and its variants, by machine: where an idle asyncio loop waits.
_EPOLL_CALLS = {"x86_64": {232, 281, 441}, "aarch64": {22, 441}}

_ANSWER_FILE = "<parallel-fetch-sprint cell>"
_STRETCH_FILE = "<parallel-fetch-stretch cell>"


class _EndError(Exception):
    """The submission's run ends here, with this status and error."""

    def __init__(self, status: str, error: str, line: int = 0) -> None:
        super().__init__(error)
        self.status, self.error, self.line = status, error, line


@dataclass
class Observed:
    """What the judge found out about one submission.

    Attributes:
        status: One of :data:`~._messages.GRADE_STATUSES`.
        error: What went wrong (status other than ``ok``).
        line: The answer cell's line where it failed (0: not known).
        verdict: The deliverable's verdict, when its drives ran.
        drives: The deliverable's drives as observed.
        stretch: ``pass``, ``fail``, ``locked``, ``not_attempted``, ``error`` or ``""``.
        stretch_verdict: The stretch goal's verdict.
        stretch_drives: Its drives.
        notes: Things the teacher should know.
        output: What it printed (capped), and how much was dropped.
        watched: Whether its loop was watched from outside (``/proc`` readable).
        memory_mb: The child's peak resident memory, MiB (0: not read).
    """

    status: str = "error"
    error: str = ""
    line: int = 0
    verdict: rules.Verdict | None = None
    drives: list[m.DriveReport] = field(default_factory=list)
    stretch: str = ""
    stretch_verdict: rules.Verdict | None = None
    stretch_drives: list[m.DriveReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    watched: bool = False
    memory_mb: float = 0.0


# ---------------------------------------------------------------- /proc, from outside


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _runqueue_wait(path: str) -> float:
    """Seconds a thread has waited for a CPU (``schedstat``), 0 when unreadable."""
    text = _read(path)
    try:
        return int(text.split()[1]) / 1e9 if text else 0.0
    except (IndexError, ValueError):
        return 0.0


def _stat_fields(pid: int) -> list[str] | None:
    text = _read(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    return text[text.rindex(")") + 2 :].split()  # state is field 3, fields[0] here


def _processes() -> dict[int, tuple[int, str]]:
    """Every process's parent and the last pid of its ``NSpid`` line."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        text = _read(f"/proc/{entry.name}/status")
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


def _find_child(root: int, inner_pid: int) -> int | None:
    """The child's pid here: the descendant of ``root`` its own namespace calls ``inner_pid``."""
    table = _processes()
    for pid in _descendants(root, table):
        if table[pid][1] == str(inner_pid):
            return pid
    return None


class _Watch:
    """Samples one process's main thread: idle in its loop's epoll, or held."""

    def __init__(self, pid: int, loop_fd: int) -> None:
        self.pid, self.loop_fd = pid, loop_fd
        self.calls = _EPOLL_CALLS.get(platform.machine(), set())
        self.available = bool(self.calls) and loop_fd >= 0 and self.sample() is not None
        self.judge_tid = threading.get_native_id()

    def sample(self) -> str | None:
        """``idle`` (in its loop's epoll), ``running`` (or waiting for a CPU),
        ``blocked`` (in any other system call), ``None`` (unreadable)."""
        text = _read(f"/proc/{self.pid}/syscall")
        if not text:
            return None
        parts = text.split()
        if parts[0] == "running":
            return "running"
        try:
            number, first = int(parts[0]), int(parts[1], 16)
        except (IndexError, ValueError):
            return None
        return "idle" if number in self.calls and first == self.loop_fd else "blocked"

    def cpu_seconds(self) -> float:
        """CPU the child's main thread has used (``schedstat``, nanoseconds exact)."""
        text = _read(f"/proc/{self.pid}/schedstat")
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
        for line in (_read(f"/proc/{self.pid}/status") or "").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def offspring(self) -> int:
        """Processes the child started that are still running."""
        return len(_descendants(self.pid, _processes()))


# ---------------------------------------------------------------- the session


@dataclass
class _DriveState:
    number: int
    function: str
    latencies: dict[str, float]  # city seconds
    real: dict[str, float]
    block_limit: float
    started: float = 0.0
    calls: dict[str, list[rules.CallRecord]] = field(default_factory=dict)
    by_id: dict[int, tuple[str, rules.CallRecord]] = field(default_factory=dict)
    frames: int = 0
    done: m.DriveDone | None = None
    done_at: float = 0.0
    sampled_hold: float = 0.0  # from /proc: the main thread out of its loop's epoll
    echo_hold: float = 0.0  # from echoes the loop answered late
    cpu_hold: float = 0.0  # from CPU time far beyond what awaiting costs
    max_lag: float = 0.0  # how late this judge's ticks woke, at the most
    busy: float = 0.0  # real seconds the sampler found its thread out of the loop's epoll
    idle_outside: int = 0  # idle samples before its first call or after its last answer
    active: bool = True

    def outside_calls(self, now: float, tick: float) -> bool:
        """Whether ``now`` is well before the first call or after every answer."""
        made = [c for calls in self.calls.values() for c in calls]
        if not made:
            return now > self.started + 2 * tick
        ended = [c.ended for c in made if c.started is not None]
        return (
            all(e is not None for e in ended)
            and now > max((e for e in ended if e is not None), default=now) + 2 * tick
        )

    sampled: bool = False  # whether the sampler could read the child's thread

    @property
    def hold(self) -> float:
        """Real seconds the loop was held at the longest, by any of the three.

        The sampler reads the child's own thread, so where it works an echo is only
        corroboration: alone it counts when it is unmistakable (twice the limit), as
        this judge's own lag on a busy machine can make a prompt echo look late.
        """
        echo = self.echo_hold
        if self.sampled and echo <= 2 * self.block_limit:
            echo = 0.0
        return max(self.sampled_hold, echo, self.cpu_hold)


class _Session(asyncio.Protocol):
    """One submission's child and everything the judge sees of it."""

    def __init__(self, job: m.Job, settings: rules.JudgeSettings) -> None:
        self.job = job
        self.settings = settings
        self.reader = m.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.replies: asyncio.Queue[m.Frame | _EndError] = asyncio.Queue()
        self.drive: _DriveState | None = None
        self.finished: list[_DriveState] = []
        self.seen_calls: set[int] = set()
        self.echo_seq = 0
        self.echo_out: _EchoOut | None = None
        self.echoed = asyncio.Event()  # set when the outstanding echo is answered
        self.expecting: type[m.Frame] | None = m.Hello
        self.output: list[str] = []
        self.kept = 0
        self.dropped = 0
        self.watch: _Watch | None = None
        self.notes: list[str] = []
        self.late_calls = 0

    # -- the wire

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = _perf()
        try:
            for frame in self.reader.feed(data):
                self._receive(frame, now)
        except (m.FrameError, _ProtocolError) as exc:
            self._end("error", f"the submission wrote to the grader's channel: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("child_died", "")

    def _end(self, status: str, error: str) -> None:
        self.replies.put_nowait(_EndError(status, error))
        if self.transport is not None:
            self.transport.pause_reading()

    def send(self, frame: m.Frame) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(m.encode_frame(frame))

    def _keep_output(self, text: str, dropped: int) -> None:
        room = self.job.output_limit - self.kept
        self.output.append(text[: max(room, 0)])
        self.kept += min(len(text), max(room, 0))
        self.dropped += dropped + max(0, len(text) - max(room, 0))

    # -- what may arrive

    def _receive(self, frame: m.Frame, now: float) -> None:
        if isinstance(frame, m.EchoReply):
            self._echo_reply(frame, now)
            return
        d = self.drive
        if d is not None:
            d.frames += 1
            if d.frames > m.DEFAULTS.frames_per_drive:
                raise _ProtocolError(f"more than {m.DEFAULTS.frames_per_drive} frames in one drive")
        if isinstance(frame, m.Invoke):
            self._invoke(frame, now)
        elif isinstance(frame, m.Call):
            self._call(frame, now)
        elif self.expecting is not None and isinstance(frame, self.expecting):
            self.expecting = None
            if isinstance(frame, m.DriveDone):
                if d is None or frame.drive != d.number:
                    raise _ProtocolError(f"a result for drive {frame.drive}, which is not running")
                d.done, d.done_at = frame, now
            if isinstance(frame, (m.CellDone, m.DriveDone, m.Bye)):
                self._keep_output(frame.output, frame.dropped)
            self.replies.put_nowait(frame)
        else:
            raise _ProtocolError(f"an unexpected {frame.KIND!r} frame")

    def _invoke(self, frame: m.Invoke, now: float) -> None:
        d = self.drive
        if frame.call in self.seen_calls:
            raise _ProtocolError(f"call id {frame.call} used twice")
        if d is None or frame.drive != d.number or not d.active:
            if any(f.number == frame.drive for f in self.finished):
                self.late_calls += 1  # a source called after its drive: not answered
                self.seen_calls.add(frame.call)
                return
            raise _ProtocolError(f"a call in drive {frame.drive}, which is not running")
        if frame.source not in d.latencies:
            raise _ProtocolError(f"a call of {frame.source[:40]!r}, which is not a source")
        self.seen_calls.add(frame.call)
        record = rules.CallRecord(invoked=now)
        d.calls.setdefault(frame.source, []).append(record)
        d.by_id[frame.call] = (frame.source, record)

    def _call(self, frame: m.Call, now: float) -> None:
        d = self.drive
        if d is None or frame.drive != d.number or not d.active:
            if frame.call in self.seen_calls:
                return  # awaited after its drive ended: not answered
            raise _ProtocolError(f"an await in drive {frame.drive}, which is not running")
        found = d.by_id.get(frame.call)
        if found is None:
            raise _ProtocolError(f"an await of call {frame.call}, which was never made")
        name, record = found
        if record.started is not None:
            raise _ProtocolError(f"call {frame.call} awaited twice")
        record.started = now
        loop = asyncio.get_running_loop()
        loop.call_later(d.real[name], self._answer, d, frame.call, name, record)

    def _answer(self, d: _DriveState, call: int, name: str, record: rules.CallRecord) -> None:
        if not d.active:
            return
        payload = {"source": name, "drive": d.number, "token": secrets.token_hex(16)}
        record.payload = dict(payload)
        record.ended = _perf()
        self.send(m.Answer(call, payload))

    def _echo_reply(self, frame: m.EchoReply, now: float) -> None:
        if self.echo_out is None or frame.seq != self.echo_out.seq:
            raise _ProtocolError(f"an echo reply {frame.seq} to no echo")
        self._echo_age(now)
        self.echo_out = None
        self.echoed.set()

    def _echo_age(self, now: float) -> None:
        """Count the outstanding echo's age as a hold, less what was not the child's doing."""
        out, d = self.echo_out, self.drive
        if out is None or d is None:
            return
        age = now - out.sent
        if age > d.block_limit / 2 and self.watch is not None:
            # Waiting for a CPU (the child's, or this judge's) and this judge's own lag
            # in reading the reply are not the loop being held.
            age -= self.watch.child_waited() - out.child_waited
            age -= self.watch.judge_waited() - out.judge_waited
            age -= out.lag
        d.echo_hold = max(d.echo_hold, age)

    def _echo(self) -> None:
        if self.echo_out is not None:
            return
        self.echo_seq += 1
        w = self.watch
        self.echo_out = _EchoOut(
            self.echo_seq,
            _perf(),
            w.child_waited() if w is not None else 0.0,
            w.judge_waited() if w is not None else 0.0,
        )
        self.echoed.clear()
        self.send(m.Echo(self.echo_seq))

    # -- waiting for the child

    async def reply(self, kind: type[m.Frame], deadline: float, what: str) -> Any:
        self.expecting = kind
        try:
            got = await asyncio.wait_for(self.replies.get(), max(0.0, deadline - _perf()))
        except TimeoutError:
            raise _EndError("timeout", what) from None
        if isinstance(got, _EndError):
            raise got
        return got

    async def watch_drive(self, d: _DriveState) -> None:
        """Every tick: a look at the child's main thread, and an echo outstanding."""
        w = self.watch
        loop = asyncio.get_running_loop()
        busy: _Busy | None = None  # the stretch of held samples going on
        tick = min(m.DEFAULTS.tick, d.block_limit / 5)
        try:
            while True:
                # Look first, then echo: just after an echo the child is busy answering it.
                if w is not None and w.available:
                    seen = w.sample()
                    now = _perf()
                    if seen in ("running", "blocked"):
                        if busy is None:
                            busy = _Busy(now, w.child_waited(), w.cpu_seconds())
                        busy.last = now
                        busy.blocked = busy.blocked or seen == "blocked"
                    else:
                        if busy is not None:
                            d.sampled_hold = max(d.sampled_hold, busy.held(w))
                            d.busy += busy.last - busy.first + tick
                            busy = None
                        if seen == "idle" and d.outside_calls(now, tick):
                            d.idle_outside += 1
                self._echo()
                self._echo_age(_perf())
                expected = loop.time() + tick
                await asyncio.sleep(tick)
                late = loop.time() - expected  # how late this judge itself woke
                d.max_lag = max(d.max_lag, late)
                if self.echo_out is not None:
                    self.echo_out.lag = max(self.echo_out.lag, late)
        finally:
            if busy is not None and w is not None:
                d.sampled_hold = max(d.sampled_hold, busy.held(w))
                d.busy += busy.last - busy.first + tick


@dataclass
class _Busy:
    """A stretch of samples that found the child's thread out of its loop's epoll."""

    first: float
    waited: float  # the child's CPU wait at the first sample
    cpu: float  # its CPU time then
    last: float = 0.0
    blocked: bool = False  # seen in a blocking system call, not only running

    def held(self, w: _Watch) -> float:
        """First to last sample (a lower bound, whatever this judge's lag), less the
        time the child waited for a CPU. Running without ever blocking holds the loop
        only as long as it computed: on a shared (or virtual) machine a runnable thread
        is not always running."""
        wall = self.last - self.first - (w.child_waited() - self.waited)
        return wall if self.blocked else min(wall, w.cpu_seconds() - self.cpu)


@dataclass
class _EchoOut:
    seq: int
    sent: float
    child_waited: float
    judge_waited: float
    lag: float = 0.0


class _ProtocolError(Exception):
    """A frame the protocol does not allow."""


def _calls_span(d: _DriveState) -> float | None:
    """Real seconds from the first call made to the last answer given (``None``: none)."""
    made = [c for calls in d.calls.values() for c in calls]
    ended = [c.ended for c in made if c.ended is not None]
    if not made or not ended:
        return None
    return max(ended) - min(c.invoked for c in made)


def _drive_report(d: _DriveState, speed: float, outcome: str) -> m.DriveReport:
    def city(t: float | None) -> float | None:
        return None if t is None else round((t - d.started) * speed, 4)

    spans = []
    for name, made in d.calls.items():
        for c in made:
            spans.append(m.CallSpan(name, city(c.invoked) or 0.0, city(c.started), city(c.ended)))
    spans.sort(key=lambda s: s.invoked)
    reported = None
    if d.done is not None and isinstance(d.done.result, dict):
        value = d.done.result.get("total_latency")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            reported = float(value)
    end = d.done_at if d.done_at else _perf()
    span = _calls_span(d)
    return m.DriveReport(
        d.number, d.function, dict(d.latencies), spans, round((end - d.started) * speed, 4),
        reported, round(d.hold, 4), round(d.block_limit, 4), outcome,
        round(span * speed, 4) if span is not None else None,
        {"sampled": round(d.sampled_hold, 4), "echo": round(d.echo_hold, 4),
         "cpu": round(d.cpu_hold, 4)},
    )  # fmt: skip


def _where(job: m.Job, function: str, done: m.DriveDone | None) -> str:
    """The submission's line a drive raised at, named as the self-check names it."""
    if done is None or done.outcome != "raised" or done.line <= 0:
        return ""
    which, cell = ("stretch", job.stretch) if function == STRETCH_NAME else ("answer", job.answer)
    lines = cell.splitlines()
    place = f"line {done.line} of your {which} cell"
    return f"{place}: {lines[done.line - 1].strip()}" if done.line <= len(lines) else place


async def _drives(
    s: _Session, function: str, deadline: float, stretch: bool
) -> tuple[rules.Verdict | None, list[m.DriveReport], str, str, int]:
    """Drive ``function``; its verdict (``None``: not judged), reports, status, error, line."""
    settings = s.settings
    if stretch:  # the bonus, at shorter latencies: one lane stands out all the same
        settings = dataclasses.replace(settings, scale=settings.scale * m.DEFAULTS.stretch_scale)
    records: list[rules.DriveRecord] = []
    reports: list[m.DriveReport] = []
    speed = s.job.speed
    for number in range(s.job.drives):
        lat = rules.latencies(settings, number)
        real = {n: v / speed for n, v in lat.items()}
        d = _DriveState(
            number, function, lat, real, rules.block_limit(list(real.values()), settings, speed)
        )
        limit = rules.drive_limit(list(real.values()))
        threads_before = s.watch.threads_and_cpu() if s.watch else (0, 0.0)
        waits_before = s.watch.child_waited() if s.watch else 0.0
        s.drive = d
        d.sampled = s.watch is not None and s.watch.available
        d.started = _perf()
        s.send(m.StartDrive(number, function, list(lat)))
        watcher = asyncio.create_task(s.watch_drive(d))
        timed_out = False
        try:
            await s.reply(m.DriveDone, min(d.started + limit, deadline), "drive")
        except _EndError as ended:
            if ended.status != "timeout":
                raise
            if _perf() >= deadline:
                raise _EndError("timeout", f"still running after {s.job.timeout:g} s") from None
            timed_out = True
        # An echo sent while the loop was held is answered after the return: wait for it.
        settle = _perf() + min(2.0, max(0.0, deadline - _perf()))
        if s.echo_out is not None and not timed_out:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(s.echoed.wait(), max(0.0, settle - _perf()))
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        d.active = False
        s.finished.append(d)
        s.drive = None
        unwatched = ""
        waited = 0.0
        if s.watch is not None:
            waited = s.watch.child_waited() - waits_before
            threads, cpu = s.watch.threads_and_cpu()
            cpu_used = cpu - threads_before[1]
            elapsed = (d.done_at or _perf()) - d.started
            # A loop that computes holds itself: CPU well beyond what awaiting costs.
            if cpu_used > max(d.block_limit, 0.5 * elapsed):
                d.cpu_hold = cpu_used - 0.25 * elapsed
            if threads > 1 or s.watch.offspring():
                if not s.watch.available:
                    unwatched = (
                        "it started a thread or a process of its own, so the grader could "
                        "not watch its event loop"
                    )
                s.notes.append(f"drive {number + 1}: the child ran {threads} threads")
        done = d.done
        outcome = "timeout" if timed_out else (done.outcome if done else "timeout")
        reports.append(_drive_report(d, speed, outcome))
        if done is not None and done.outcome == "missing":
            raise _EndError("error", f"the answer cell does not define {function}")
        if done is not None and done.outcome == "not_implemented":
            return None, reports, "not_attempted", "", 0
        result = done.result if done is not None and done.outcome == "returned" else None
        window = (d.done_at or _perf()) - d.started
        floor = _calls_span(d)
        if floor is not None and d.idle_outside < 2 and s.watch is not None and s.watch.available:
            # The function's own stopwatch brackets its calls, and all it did besides
            # (it never waited idle outside them): at most the calls' span, the time the
            # sampler found it busy, the time it waited for a CPU, and this judge's lag in
            # noticing its first call. On a busy machine that is far tighter than from
            # the start of the drive to its result.
            tick = min(m.DEFAULTS.tick, d.block_limit / 5)
            window = min(window, floor + d.busy + waited + 2 * d.max_lag + 3 * tick)
        record = rules.DriveRecord(
            d.latencies, d.calls, window, d.hold, d.block_limit,
            speed, result, done.result_type if done else "NoneType",
            error=(f"{done.error}" if done and done.outcome == "raised" else ""),
            timed_out=timed_out, unwatched=unwatched, floor=floor,
            where=_where(s.job, function, done),
        )  # fmt: skip
        if timed_out:
            record.error = f"did not finish within {limit * speed:.1f} s"
        records.append(record)
        if timed_out:
            break
    v = rules.verdict(records, settings, stretch=stretch)
    line = next((d.done.line for d in s.finished[-len(records) :] if d.done and d.done.line), 0)
    return v, reports, v.status, v.error, line


def _exit_reason(code: int | None) -> str:
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


def _tail(log: IO[bytes], limit: int = 600) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - limit))
    return log.read().decode("utf-8", "replace").strip()


async def _kill(
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
        if child is None or _read(f"/proc/{child}/stat") is None:  # /proc: never blocks
            break
        await asyncio.sleep(0.01)
    return code


async def _conversation(
    s: _Session, process: asyncio.subprocess.Process, found: Observed
) -> int | None:
    """Hello, the cells, the drives, goodbye; returns the child's pid here."""
    hello: m.Hello = await s.reply(
        m.Hello, _perf() + m.DEFAULTS.startup_timeout, "the child did not start"
    )
    child = _find_child(process.pid, hello.pid)
    if child is None:
        raise _EndError("grader_fault", "the grader could not find its child among the processes")
    s.watch = _Watch(child, hello.loop_fd)
    found.watched = s.watch.available
    deadline = _perf() + s.job.timeout
    late = f"still running after {s.job.timeout:g} s"
    for statement in s.job.preamble:
        s.send(m.RunCell(statement, "<import>"))
        cell: m.CellDone = await s.reply(m.CellDone, deadline, late)
        if cell.status:
            found.notes.append(f"an import above the answer failed: {cell.error or statement}")
    s.send(m.RunCell(s.job.answer, _ANSWER_FILE))
    cell = await s.reply(m.CellDone, deadline, late)
    if cell.status:
        raise _EndError(cell.status, cell.error, cell.line)
    verdict, found.drives, status, error, line = await _drives(s, ANSWER_NAME, deadline, False)
    found.verdict = verdict
    if status != "ok":
        raise _EndError(status, error, line)
    found.status, found.error, found.line = status, error, line
    found.stretch = await _stretch(s, found, deadline)
    found.memory_mb = round(s.watch.peak_memory_mb(), 1)  # before it exits
    s.send(m.Stop())
    await s.reply(m.Bye, _perf() + 2.0, "no goodbye")
    return child


async def _stretch(s: _Session, found: Observed, deadline: float) -> str:
    if not s.job.stretch:
        return "not_attempted"
    if found.verdict is None or not found.verdict.passed:
        return "locked"
    s.send(m.RunCell(s.job.stretch, _STRETCH_FILE))
    cell: m.CellDone = await s.reply(
        m.CellDone, deadline, f"still running after {s.job.timeout:g} s"
    )
    if cell.status:
        if cell.error:
            found.notes.append(f"stretch goal: {cell.error}")
        return cell.status
    try:
        verdict, found.stretch_drives, status, error, _ = await _drives(
            s, STRETCH_NAME, deadline, True
        )
    except _EndError as ended:
        if ended.status != "error" or "does not define" not in ended.error:
            raise
        return "not_attempted"
    found.stretch_verdict = verdict
    if status == "not_attempted":
        return "not_attempted"
    if error and not (verdict and verdict.passed):
        found.notes.append(f"stretch goal: {error}")
    return "pass" if verdict is not None and verdict.passed else "fail"


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
    s = _Session(job, settings)
    loop = asyncio.get_running_loop()
    await loop.connect_accepted_socket(lambda: s, sock=parent)
    child: int | None = None
    try:
        child = await _conversation(s, process, found)
    except _EndError as ended:
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
        code = await _kill(process, child, exited=found.status == "child_died")
    if found.status == "child_died":
        if s.watch is None:  # it died before its hello: the sandbox or the child, not the student
            found.status = "grader_fault"
            found.error = f"the sandbox or the child failed (exit {code}): {_tail(log)}"
        else:
            found.error = _exit_reason(code)
    elif found.status == "timeout" and s.watch is None:
        found.status, found.error = "grader_fault", f"the child did not start: {_tail(log)}"
    if s.late_calls:
        found.notes.append(f"{s.late_calls} source call(s) came after their drive had ended")
    found.notes.extend(s.notes)
    found.output = "".join(s.output)
    found.output_dropped = s.dropped
    return found
