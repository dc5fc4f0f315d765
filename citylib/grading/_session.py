"""One submission's session: the frames the judge accepts, the calls it serves, its watch.

A :class:`Session` is the judge's end of the socket pair. It serves each source call
on its own clock (a fresh token per answer), keeps an echo outstanding, samples the
child's thread every tick (:class:`~._proc.Watch`), and refuses any frame the protocol
does not allow.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from citylib._lessons import judge as rules
from citylib._lessons.sprint_contract import GradeStatus
from citylib.grading import _messages as m
from citylib.grading._proc import Watch

__all__ = ["DriveState", "EndError", "OverLimitError", "ProtocolError", "Session"]

_perf = time.perf_counter


class EndError(Exception):
    """The submission's run ends here, with this status and error."""

    def __init__(self, status: GradeStatus, error: str, line: int = 0) -> None:
        super().__init__(error)
        self.status, self.error, self.line = status, error, line


class ProtocolError(Exception):
    """A frame the protocol does not allow."""


class OverLimitError(Exception):
    """More than the grader serves in one run (its own limit, not a crash)."""


@dataclass
class DriveState:
    number: int
    function: str
    latencies: dict[str, float]  # city seconds
    real: dict[str, float]
    block_limit: float
    started: float = 0.0
    calls: dict[str, list[rules.CallRecord]] = field(default_factory=dict)
    by_id: dict[int, tuple[str, rules.CallRecord]] = field(default_factory=dict)
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


class Session(asyncio.Protocol):
    """One submission's child and everything the judge sees of it."""

    def __init__(self, job: m.Job, settings: rules.JudgeSettings) -> None:
        self.job = job
        self.settings = settings
        self.reader = m.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.replies: asyncio.Queue[m.Frame | EndError] = asyncio.Queue()
        self.drive: DriveState | None = None
        self.finished: list[DriveState] = []
        self.seen_calls: set[int] = set()
        self.echo_seq = 0
        self.echo_out: _EchoOut | None = None
        self.echoed = asyncio.Event()  # set when the outstanding echo is answered
        self.expecting: type[m.Frame] | None = m.Hello
        self.output: list[str] = []
        self.kept = 0
        self.dropped = 0
        self.watch: Watch | None = None
        self.notes: list[str] = []
        self.late_calls = 0
        self.frames = 0  # every frame but echo replies, over the whole run
        self.due = 0.0  # when the watch's next tick is due (this judge's clock)
        self.ended_after_verdict = False  # the run ended after the deliverable's verdict

    # -- the wire

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = _perf()
        try:
            for frame in self.reader.feed(data):
                self._receive(frame, now)
        except OverLimitError as exc:
            self._end("over_limit", str(exc))
        except (m.FrameError, ProtocolError) as exc:
            self._end("error", f"the submission wrote to the grader's channel: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("child_died", "")

    def _end(self, status: GradeStatus, error: str) -> None:
        self.replies.put_nowait(EndError(status, error))
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
        # One budget for the whole run, whenever the frames come (after its drives
        # too): a flood costs this judge, and so its neighbours, at most this much.
        self.frames += 1
        if self.frames > m.DEFAULTS.frames_per_run:
            raise OverLimitError(
                f"it sent more than {m.DEFAULTS.frames_per_run:,} frames (source calls, "
                "results, cells) to the grader, the most one run may send"
            )
        if isinstance(frame, m.Invoke):
            self._invoke(frame, now)
        elif isinstance(frame, m.Call):
            self._call(frame, now)
        elif self.expecting is not None and isinstance(frame, self.expecting):
            self.expecting = None
            if isinstance(frame, m.DriveDone):
                if d is None or frame.drive != d.number:
                    raise ProtocolError(f"a result for drive {frame.drive}, which is not running")
                d.done, d.done_at = frame, now
            if isinstance(frame, (m.CellDone, m.DriveDone, m.Bye)):
                self._keep_output(frame.output, frame.dropped)
            self.replies.put_nowait(frame)
        else:
            raise ProtocolError(f"an unexpected {frame.KIND!r} frame")

    def _invoke(self, frame: m.Invoke, now: float) -> None:
        d = self.drive
        if frame.call in self.seen_calls:
            raise ProtocolError(f"call id {frame.call} used twice")
        if d is None or frame.drive != d.number or not d.active:
            if any(f.number == frame.drive for f in self.finished):
                self.late_calls += 1  # a source called after its drive: not answered
                self.seen_calls.add(frame.call)
                return
            raise ProtocolError(f"a call in drive {frame.drive}, which is not running")
        if frame.source not in d.latencies:
            raise ProtocolError(f"a call of {frame.source[:40]!r}, which is not a source")
        self.seen_calls.add(frame.call)
        record = rules.CallRecord(invoked=now)
        d.calls.setdefault(frame.source, []).append(record)
        d.by_id[frame.call] = (frame.source, record)

    def _call(self, frame: m.Call, now: float) -> None:
        d = self.drive
        if d is None or frame.drive != d.number or not d.active:
            if frame.call in self.seen_calls:
                return  # awaited after its drive ended: not answered
            raise ProtocolError(f"an await in drive {frame.drive}, which is not running")
        found = d.by_id.get(frame.call)
        if found is None:
            raise ProtocolError(f"an await of call {frame.call}, which was never made")
        name, record = found
        if record.started is not None:
            raise ProtocolError(f"call {frame.call} awaited twice")
        record.started = now
        loop = asyncio.get_running_loop()
        loop.call_later(d.real[name], self._answer, d, frame.call, name, record)

    def _answer(self, d: DriveState, call: int, name: str, record: rules.CallRecord) -> None:
        if not d.active:
            return
        payload = {"source": name, "drive": d.number, "token": secrets.token_hex(16)}
        record.payload = dict(payload)
        record.ended = _perf()
        self.send(m.Answer(call, payload))

    def _echo_reply(self, frame: m.EchoReply, now: float) -> None:
        if self.echo_out is None or frame.seq != self.echo_out.seq:
            raise ProtocolError(f"an echo reply {frame.seq} to no echo")
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
            # in reading the reply are not the loop being held. The judge's lag is every
            # tick it woke late while the echo was out, and how late it is right now (a
            # judge busy parsing a neighbour's notebook reads the reply late, before its
            # own tick can notice).
            pending = max(0.0, now - self.due) if self.due else 0.0
            own = max(self.watch.judge_waited() - out.judge_waited, out.lag + pending)
            age -= self.watch.child_waited() - out.child_waited
            age -= own
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
            raise EndError("timeout", what) from None
        if isinstance(got, EndError):
            raise got
        return got

    async def watch_drive(self, d: DriveState) -> None:
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
                        limit = d.block_limit
                        if busy is not None and not busy.continues(w, seen, now, tick, limit):
                            # This judge looked away (busy, or waiting for a CPU) and
                            # the child's thread may have been idle in between.
                            d.sampled_hold = max(d.sampled_hold, busy.held(w))
                            d.busy += busy.last - busy.first + tick
                            busy = None
                        if busy is None:
                            busy = _Busy(now, w.child_waited(), w.cpu_seconds())
                        busy.last = now
                        busy.blocked = busy.blocked or seen == "blocked"
                        busy.call = w.last_call
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
                self.due = _perf() + tick
                await asyncio.sleep(tick)
                late = max(0.0, loop.time() - expected)  # how late this judge itself woke
                d.max_lag = max(d.max_lag, late)
                if self.echo_out is not None:
                    self.echo_out.lag += late
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
    call: tuple[int, int] | None = None  # the last sample's system call, when blocked

    def continues(self, w: Watch, seen: str, now: float, tick: float, limit: float) -> bool:
        """Whether a held sample ``now`` extends this stretch. Close behind the last one
        (within half the limit: an honest thread is held only for moments, and two such
        moments that close never add up to a hold), it does. After a longer gap (this
        judge looked away: busy reading a neighbour's notebook, or without a CPU) only
        where the thread plainly stayed put: running all along (what it computed is
        capped by its CPU time), or blocked in the very same call (a ``time.sleep``
        woken by a signal goes back to it; an honest loop is never found twice in one
        blocking call across a gap, it waits in its own epoll)."""
        if now - self.last <= max(3 * tick, limit / 2):
            return True
        if seen == "running":
            return not self.blocked
        return self.blocked and self.call is not None and w.last_call == self.call

    def held(self, w: Watch) -> float:
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
