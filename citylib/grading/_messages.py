"""Everything that crosses a process boundary in grading, as typed dataclasses.

Three kinds, one codec:

* the **frames** the judge (in the grader's process) and a submission's child
  (``citylib.grading._child``, inside the sandbox) send each other over their
  socket pair: length-prefixed JSON, one object a frame, tagged by ``kind``;
* the **job** the grader gives one submission, and every **default** in one place
  (:data:`DEFAULTS`);
* the **report**: a :class:`GradeRecord` per submission and the :class:`BatchReport`
  that ``grades.json`` holds (``--merge`` reads it back).

It imports only the standard library and the Sprint's contract (the typed grading
words, :mod:`citylib._lessons.sprint_contract`, which itself imports nothing): the
child imports it before any submission code runs, and both sides must agree on it
without agreeing on anything else. Decoding is strict (unknown or missing fields,
wrong types, a word that is not one of its ``Literal``'s, oversize frames are a
:class:`FrameError`), because half the frames come from code the grader does not trust.
"""

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from citylib._lessons.sprint_contract import (
    GRADE_STATUSES,
    CellStatus,
    CheckId,
    DriveEnd,
    DriveOutcome,
    GradeStatus,
    StretchStatus,
)

__all__ = [
    "DEFAULTS",
    "FRAMES",
    "GRADE_STATUSES",
    "Answer",
    "BatchReport",
    "Bye",
    "Call",
    "CallSpan",
    "CellDone",
    "CheckOutcome",
    "Defaults",
    "DriveDone",
    "DriveReport",
    "Echo",
    "EchoReply",
    "Frame",
    "FrameError",
    "FrameReader",
    "GradeRecord",
    "Hello",
    "Invoke",
    "Job",
    "RunCell",
    "StartDrive",
    "Stop",
    "decode",
    "encode_frame",
]



@dataclass(frozen=True)
class Defaults:
    """Every default of the grader, in one place.

    Attributes:
        speed: The city clock's speed in the child: the judge's latencies (0.8 to 3.6
            city seconds) last 0.1 to 0.45 real seconds, long enough that a held loop
            and overlapping calls stand out from scheduling noise on a busy machine.
        timeout: Real seconds a submission's cells and drives may take in all.
        startup_timeout: Real seconds the child has to start and say hello (past
            that it is the grader's fault, not the student's).
        output_limit: Characters of printed output kept per submission.
        workers_per_core: Submissions graded at once, per core (most of a
            submission's time is spent waiting on the judge's slow sources).
        max_workers: The most submissions graded at once.
        frame_bytes: The largest frame either side accepts.
        imports: Import statements above the answer the grader runs, at the most
            (past it the notebook is ``over_limit``: each is a round trip).
        frames_per_run: Frames a child may send in its whole run, echo replies aside
            (each answers one echo the judge sent): past it, ``over_limit``.
        tick: Real seconds between the judge's looks at a child's loop (an echo
            and a sample of its thread's system call).
        notebook_bytes: The largest notebook file graded.
        memory_mb: Address space of each child, MiB.
        processes: Processes and threads per sandbox user (where it has its own):
            one, the child alone.
        file_mb: The largest file a child may write, MiB.
        workspace_mb: The child's private workspace (a tmpfs: its folder and
            ``/tmp``), MiB, where the sandbox has one.
        open_files: Open file descriptors per child.
        drives: Drives of each function, with fresh sources each time.
        stretch_scale: The stretch goal's latencies, as a share of the deliverable's
            (its one-lane drives are the longest a grader waits through).
        assignment: The assignment's column in ``canvas.csv``.
        weights: Points per check. The calls overlapping carries the grade: an
            answer without overlap earns at most half.
        needs: Checks whose points count only when another passed: a dict that
            holds no answer fetched nothing, so it earns nothing for being fast.
    """

    speed: float = 8.0
    timeout: float = 20.0
    startup_timeout: float = 60.0
    output_limit: int = 4000
    workers_per_core: int = 6
    max_workers: int = 32
    frame_bytes: int = 256 * 1024
    imports: int = 256
    frames_per_run: int = 1024
    tick: float = 0.01
    notebook_bytes: int = 20 * 2**20
    memory_mb: int = 2048
    processes: int = 1
    file_mb: int = 16
    workspace_mb: int = 64
    open_files: int = 256
    drives: int = 2
    stretch_scale: float = 0.5
    assignment: str = "Parallel Fetch Sprint"
    weights: dict[str, int] = field(
        default_factory=lambda: {
            "returns_dict": 1,
            "calls_once": 1,
            "payloads": 1,
            "overlap": 5,
            "total_latency": 1,
            "non_blocking": 1,
        }
    )
    needs: dict[str, str] = field(
        default_factory=lambda: {
            "returns_dict": "payloads",
            "total_latency": "payloads",
            "non_blocking": "payloads",
        }
    )

    @property
    def max_score(self) -> int:
        """The points there are."""
        return sum(self.weights.values())


#: The one instance every module reads its defaults from.
DEFAULTS = Defaults()


class FrameError(ValueError):
    """A frame or a record that is not what the protocol allows."""


# ---------------------------------------------------------------- the codec

_NoneType = type(None)
_UnionType: Any = type(int | None)


def _decode_value(value: Any, kind: Any, where: str) -> Any:
    if kind is Any or kind is object:
        return value
    if getattr(kind, "__origin__", None) is Literal:
        if any(type(value) is type(a) and value == a for a in kind.__args__):
            return value
        # The value is the sender's, perhaps hostile: never echoed into a message.
        raise FrameError(f"{where}: a {type(value).__name__} that is not one of its words")
    if isinstance(kind, _UnionType):
        for option in kind.__args__:
            try:
                return _decode_value(value, option, where)
            except FrameError:
                continue
        raise FrameError(f"{where}: {type(value).__name__} is not allowed here")
    if kind is _NoneType:
        if value is None:
            return None
        raise FrameError(f"{where}: expected null")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise FrameError(f"{where}: expected a number, not {type(value).__name__}")
    if kind in (int, str, bool):
        if type(value) is kind:
            return value
        raise FrameError(f"{where}: expected {kind.__name__}, not {type(value).__name__}")
    origin = getattr(kind, "__origin__", None)
    args: tuple[Any, ...] = getattr(kind, "__args__", (Any, Any))
    if origin is list:
        if not isinstance(value, list):
            raise FrameError(f"{where}: expected a list")
        return [_decode_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise FrameError(f"{where}: expected an object with string keys")
        return {k: _decode_value(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _from_dict(kind, value, where)
    raise FrameError(f"{where}: no decoder for {kind!r}")  # pragma: no cover - a bug here


def _from_dict(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise FrameError(f"{where}: expected an object")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(known) - {"kind"})
    if unknown:
        raise FrameError(f"{where}: unknown field {unknown[0]!r}")
    values = {}
    for name, spec in known.items():
        if name in data:
            values[name] = _decode_value(data[name], spec.type, f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise FrameError(f"{where}: missing field {name!r}")
    return cls(**values)


class _Codec:
    """``to_dict``/``to_json``/``from_dict``/``from_json`` for a dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        data: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return data

    def to_json(self) -> str:
        """The JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> Any:
        """Rebuild from :meth:`to_dict`'s output, checking every field's type."""
        return _from_dict(cls, data, cls.__name__)

    @classmethod
    def from_json(cls, text: str | bytes) -> Any:
        """Rebuild from :meth:`to_json`'s output."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise FrameError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame(_Codec):
    """One message over the socket pair; ``kind`` names its class."""

    KIND: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, tagged with its ``kind``."""
        return {"kind": self.KIND, **super().to_dict()}


@dataclass(frozen=True)
class Hello(Frame):
    """Child → judge, before any submission code runs: who it is.

    Attributes:
        pid: The child's process id, as its own pid namespace numbers it.
        loop_fd: The file descriptor of its event loop's epoll: the loop is idle
            exactly when its thread waits in ``epoll_wait`` on this one.
        version: The citylib version it runs.
    """

    KIND: ClassVar[str] = "hello"
    pid: int
    loop_fd: int
    version: str


@dataclass(frozen=True)
class RunCell(Frame):
    """Judge → child: run one cell's code (top-level ``await`` allowed).

    Attributes:
        code: The cell's source.
        filename: The name its tracebacks give (``<parallel-fetch-sprint cell>``).
    """

    KIND: ClassVar[str] = "run_cell"
    code: str
    filename: str


@dataclass(frozen=True)
class CellDone(Frame):
    """Child → judge: how a cell went.

    Attributes:
        status: ``""`` (ran cleanly), ``error`` or ``not_attempted``.
        error: ``Type: message`` of what it raised.
        line: The cell's line it raised at (0: not known).
        output: What it printed since the last frame (capped).
        dropped: Characters of printed output not kept.
    """

    KIND: ClassVar[str] = "cell_done"
    status: CellStatus
    error: str = ""
    line: int = 0
    output: str = ""
    dropped: int = 0


@dataclass(frozen=True)
class StartDrive(Frame):
    """Judge → child: call ``function`` with proxy sources named ``sources``, in order.

    Attributes:
        drive: The drive's number (calls name it).
        function: ``parallel_fetch`` or ``sequential_fetch``.
        sources: The sources' names, in the (shuffled) order of the mapping.
    """

    KIND: ClassVar[str] = "start_drive"
    drive: int
    function: str
    sources: list[str]


@dataclass(frozen=True)
class Invoke(Frame):
    """Child → judge: a source was called (its coroutine made, not yet awaited)."""

    KIND: ClassVar[str] = "invoke"
    drive: int
    call: int
    source: str


@dataclass(frozen=True)
class Call(Frame):
    """Child → judge: an invoked call is being awaited: start its latency."""

    KIND: ClassVar[str] = "call"
    drive: int
    call: int


@dataclass(frozen=True)
class Answer(Frame):
    """Judge → child, once the latency has passed on the judge's clock: the payload."""

    KIND: ClassVar[str] = "answer"
    call: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Echo(Frame):
    """Judge → child: answer me from your loop. A held loop answers late."""

    KIND: ClassVar[str] = "echo"
    seq: int


@dataclass(frozen=True)
class EchoReply(Frame):
    """Child → judge: the loop ran the echo's callback."""

    KIND: ClassVar[str] = "echo_reply"
    seq: int


@dataclass(frozen=True)
class DriveDone(Frame):
    """Child → judge: the function finished.

    Attributes:
        drive: The drive's number.
        outcome: ``returned``, ``raised`` or ``not_implemented``.
        error: ``Type: message`` when it raised.
        line: The answer cell's line it raised at (0: not known).
        result: What it returned, as data (objects JSON cannot hold become
            ``{"$object": type name}``).
        result_type: The returned value's type name.
        output: What it printed since the last frame.
        dropped: Characters of printed output not kept.
    """

    KIND: ClassVar[str] = "drive_done"
    drive: int
    outcome: DriveEnd
    error: str = ""
    line: int = 0
    result: Any = None
    result_type: str = "NoneType"
    output: str = ""
    dropped: int = 0


@dataclass(frozen=True)
class Stop(Frame):
    """Judge → child: nothing more to run; say goodbye and exit."""

    KIND: ClassVar[str] = "stop"


@dataclass(frozen=True)
class Bye(Frame):
    """Child → judge: the last of the printed output, then the child exits."""

    KIND: ClassVar[str] = "bye"
    output: str = ""
    dropped: int = 0


#: Every frame class by its ``kind``.
FRAMES: dict[str, type[Frame]] = {
    cls.KIND: cls
    for cls in (
        Hello, RunCell, CellDone, StartDrive, Invoke, Call, Answer, Echo, EchoReply,
        DriveDone, Stop, Bye,
    )
}  # fmt: skip


#: A lone surrogate written as an escape (an odd run of backslashes, then ``uD800`` to
#: ``uDFFF``): the child writes text as UTF-8, so only a forged frame holds one, and
#: such a string would break every report it reached.
_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F]")


def decode(data: bytes) -> Frame:
    """One frame's body (JSON) as its dataclass; :class:`FrameError` when it is not one."""
    if _SURROGATE.search(data):
        raise FrameError("a frame holding a string that is not text (a lone surrogate)")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError(f"a frame that is not JSON ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        raise FrameError("a frame without a kind")
    cls = FRAMES.get(raw["kind"])
    if cls is None:
        raise FrameError(f"a frame of unknown kind {raw['kind'][:40]!r}")
    frame: Frame = cls.from_dict(raw)
    return frame


def encode_frame(frame: Frame) -> bytes:
    """A frame on the wire: 4 bytes of length (big-endian), then its JSON."""
    # A lone surrogate (an exception's text may hold one) cannot be UTF-8: it goes
    # as JSON's own escape (\ud800), which the judge reads back as the same string.
    text = json.dumps(frame.to_dict(), ensure_ascii=False, allow_nan=True)
    body = text.encode("utf-8", "backslashreplace")
    return len(body).to_bytes(4, "big") + body


class FrameReader:
    """Cuts a byte stream into frames, refusing any larger than ``limit`` bytes."""

    def __init__(self, limit: int = DEFAULTS.frame_bytes) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; returns the whole frames it completed (raises :class:`FrameError`)."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 4:
            size = int.from_bytes(self._buffer[:4], "big")
            if size > self.limit:
                raise FrameError(f"a frame of {size:,} bytes (the limit is {self.limit:,})")
            if len(self._buffer) < 4 + size:
                break
            body = bytes(self._buffer[4 : 4 + size])
            del self._buffer[: 4 + size]
            frames.append(decode(body))
        return frames


# ---------------------------------------------------------------- the job


@dataclass(frozen=True)
class Job(_Codec):
    """What the grader runs for one submission (the judge keeps it; the child sees cells).

    Attributes:
        preamble: The imports of the code cells above the answer.
        answer: The answer cell's source.
        stretch: The stretch cell's source (``""``: none).
        seed: Seeds the judge's latencies.
        drives: Drives per function.
        speed: The city clock's speed in the child.
        timeout: Real seconds for the cells and drives in all.
        output_limit: Characters of printed output kept.
    """

    preamble: list[str]
    answer: str
    stretch: str
    seed: int
    drives: int = DEFAULTS.drives
    speed: float = DEFAULTS.speed
    timeout: float = DEFAULTS.timeout
    output_limit: int = DEFAULTS.output_limit


# ---------------------------------------------------------------- the report


@dataclass
class CheckOutcome(_Codec):
    """One check of one submission.

    Attributes:
        id: The check's id (a ``grades.csv`` column).
        title: What passing means.
        passed: Whether it held on every drive.
        detail: What went wrong, measured.
        hint: What to try.
        points: Points earned.
        max_points: Points it is worth.
    """

    id: CheckId
    title: str
    passed: bool
    detail: str = ""
    hint: str = ""
    points: int = 0
    max_points: int = 0


@dataclass
class CallSpan(_Codec):
    """One call of a source, as the judge saw it: city seconds since the drive began.

    Attributes:
        source: The source's name.
        invoked: When it was called.
        started: When it was awaited (``None``: never).
        ended: When the judge answered (``None``: never).
    """

    source: str
    invoked: float
    started: float | None = None
    ended: float | None = None


@dataclass
class DriveReport(_Codec):
    """One drive as the judge observed it: the student's own lanes.

    Attributes:
        drive: The drive's number.
        function: The function driven.
        latencies: Each source's latency, city seconds.
        spans: Every call, in the order made.
        elapsed: City seconds from the judge's start to the function's return.
        reported: The function's own ``total_latency`` (``None``: not a number).
        held: Real seconds the loop was held at the longest.
        block_limit: Real seconds of hold that count as blocking.
        outcome: ``returned``, ``raised``, ``not_implemented`` or ``timeout``.
        calls_span: City seconds from the first call to the last answer (``None``:
            no call was answered).
        held_by: The hold as each watch saw it, real seconds: ``sampled`` (the
            child's thread out of its loop's epoll), ``echo`` (echoes answered
            late), ``cpu`` (CPU time far beyond what awaiting costs).
    """

    drive: int
    function: str
    latencies: dict[str, float]
    spans: list[CallSpan] = field(default_factory=list)
    elapsed: float = 0.0
    reported: float | None = None
    held: float = 0.0
    block_limit: float = 0.0
    outcome: DriveOutcome = "returned"
    calls_span: float | None = None
    held_by: dict[str, float] = field(default_factory=dict)

    @property
    def one_lane(self) -> float:
        """City seconds the calls take one after another."""
        return sum(self.latencies.values())


@dataclass
class GradeRecord(_Codec):
    """One submission's grade.

    Attributes:
        submission: Its name in the batch (path relative to the batch's common folder).
        path: The file graded.
        sha256: The file's SHA-256, taken before grading.
        status: One of :data:`GRADE_STATUSES`.
        score: Points earned; ``None`` when it could not be graded (``grader_fault``).
        max_score: Points there are.
        checks: Each check's outcome (``None`` when it was not judged).
        details: Each check's title, outcome, detail, hint and points.
        diagnosis: Each mistake once, by its cause, then the shape of its fix (the
            self-check's words; empty when it passed or was not judged).
        slips: The same mistakes by id (``uncalled_sources``...), in the same order.
        stretch: The stretch goal: ``pass``, ``fail``, ``locked``, ``not_attempted``,
            ``error``, or ``""`` when the submission was not judged.
        bonus: 1 when the stretch goal passed, scored apart from ``score``.
        stretch_details: The stretch checks, like ``details``.
        error: What went wrong, for a status other than ``ok``.
        line: The answer cell's line where it failed (0: not known).
        failing_line: That line's code (``""``: not known).
        notes: Other things the teacher should know.
        output: The start of what the submission printed.
        output_dropped: Characters of printed output not kept.
        seconds: Wall-clock seconds spent on it.
        memory_mb: The child's peak resident memory, MiB (0: not read).
        sandbox: The sandbox level it ran in.
        protections: Which protections held around its child, by name (see
            ``citylib.grading._sandbox.PROTECTIONS``).
        verified: Whether the judge was isolated from the submission (own user,
            namespaces, no threads or processes of its own, watched from outside).
        seed: The seed of the judge's latencies.
        grader_version: The citylib version that graded it.
        unchanged: Whether the file's hash was the same after grading.
        drives: Each drive of ``parallel_fetch`` as observed (the lanes).
        stretch_drives: Each drive of ``sequential_fetch``.
    """

    submission: str
    path: str
    sha256: str
    status: GradeStatus = "error"
    score: int | None = 0
    max_score: int = DEFAULTS.max_score
    checks: dict[str, bool | None] = field(default_factory=dict)
    details: list[CheckOutcome] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    slips: list[str] = field(default_factory=list)
    stretch: StretchStatus = ""
    bonus: int = 0
    stretch_details: list[CheckOutcome] = field(default_factory=list)
    error: str = ""
    line: int = 0
    failing_line: str = ""
    notes: list[str] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    seconds: float = 0.0
    memory_mb: float = 0.0
    sandbox: str = ""
    protections: list[str] = field(default_factory=list)
    verified: bool = False
    seed: int = 0
    grader_version: str = ""
    unchanged: bool = True
    drives: list[DriveReport] = field(default_factory=list)
    stretch_drives: list[DriveReport] = field(default_factory=list)


@dataclass
class BatchReport(_Codec):
    """What ``grades.json`` holds: the batch's settings and every record.

    Attributes:
        grader_version: The citylib version that graded it.
        seed: The seed of the judge's latencies (regrade with ``--seed``).
        sandbox: The sandbox level used.
        verified: Whether every record was verified.
        workers: Submissions graded at once.
        seconds: Wall-clock seconds for the batch.
        per_minute: Submissions graded a minute.
        speed: The city clock's speed in the children.
        timeout: Seconds each submission had.
        shard: ``K/N`` when this is one slice of a class (``""``: all of it).
        checks: The checks, with their weights (``id``, ``title``, ``points``).
        counts: Submissions by status.
        submissions: Every record.
        rubric: The teacher's rubric the points were counted by (name, sha256, points,
            needs, bonus, what students see, the teaching rules it breaks).
        misconceptions: Each slip with the submissions that made it, largest first
            (``id``, ``name``, ``count``, ``share``, ``notebook``, ``section``).
    """

    grader_version: str
    seed: int
    sandbox: str
    verified: bool
    workers: int
    seconds: float
    per_minute: float
    speed: float
    timeout: float
    shard: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    submissions: list[GradeRecord] = field(default_factory=list)
    rubric: dict[str, Any] = field(default_factory=dict)
    misconceptions: list[dict[str, Any]] = field(default_factory=list)
