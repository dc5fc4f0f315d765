"""The grader's wire: typed messages, strict framing, and a judge that hostile frames cannot crash.

No sandbox here: the messages round-trip, the frame reader refuses what the protocol
does not allow, the child's cell compiler and data encoder behave, and a judge session
fed forged, replayed or flooded frames ends the submission with an error every time,
never with an exception of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from citylib._lessons.judge import JudgeSettings
from citylib.grading import _messages as m
from citylib.grading._child import CappedText, as_data, compile_cell
from citylib.grading._session import DriveState as _DriveState
from citylib.grading._session import EndError as _EndError
from citylib.grading._session import Session as _Session

EXAMPLES: list[Any] = [
    m.Hello(7, 3, "0.1.0"),
    m.RunCell("x = 1\n", "<import>"),
    m.CellDone("error", "NameError: y", 4, "printed\n", 12),
    m.StartDrive(1, "parallel_fetch", ["maps", "chat", "weather"]),
    m.Invoke(1, 5, "maps"),
    m.Call(1, 5),
    m.Answer(5, {"source": "maps", "drive": 1, "token": "ab" * 16}),
    m.Echo(9),
    m.EchoReply(9),
    m.DriveDone(
        1, "returned", result={"maps": {"token": "x"}, "total_latency": 1.5}, result_type="dict"
    ),
    m.Stop(),
    m.Bye("bye\n", 0),
]


@pytest.mark.parametrize("frame", EXAMPLES, ids=lambda f: f.KIND)
def test_every_frame_round_trips(frame: m.Frame) -> None:
    wire = m.encode_frame(frame)
    assert int.from_bytes(wire[:4], "big") == len(wire) - 4
    (back,) = m.FrameReader().feed(wire)
    assert back == frame and type(back) is type(frame)
    assert type(frame).from_json(frame.to_json()) == frame


def test_every_frame_kind_has_an_example() -> None:
    assert {f.KIND for f in EXAMPLES} == set(m.FRAMES)


def _record() -> m.GradeRecord:
    return m.GradeRecord(
        "alice/05.ipynb", "/x/alice/05.ipynb", "ab" * 32, status="ok", score=5,
        checks={"overlap": False, "payloads": True, "calls_once": None},
        details=[m.CheckOutcome("overlap", "runs at once", False, "took turns", "gather", 0, 5)],
        drives=[m.DriveReport(0, "parallel_fetch", {"maps": 1.2, "chat": 0.9},
                              [m.CallSpan("maps", 0.0, 0.01, 1.21), m.CallSpan("chat", 1.2)],
                              2.4, 2.39, 0.001, 0.06, "returned", 2.1,
                              {"sampled": 0.0, "echo": 0.002, "cpu": 0.0})],
        verified=True, seed=99, grader_version="0.1.0", memory_mb=21.5, line=3,
        failing_line="await x",
    )  # fmt: skip


def test_the_job_the_record_and_the_report_round_trip() -> None:
    job = m.Job(["import asyncio"], "async def parallel_fetch(s): ...", "", seed=42)
    assert m.Job.from_json(job.to_json()) == job
    record = _record()
    assert m.GradeRecord.from_json(record.to_json()) == record
    report = m.BatchReport("0.1.0", 99, "full", True, 12, 3.5, 240.0, 8.0, 20.0, "2/4",
                           [{"id": "overlap", "points": 5}], {"ok": 1}, [record])  # fmt: skip
    again = m.BatchReport.from_json(report.to_json())
    assert again == report and isinstance(again.submissions[0].drives[0].spans[0], m.CallSpan)


def test_every_default_lives_in_one_place() -> None:
    assert m.DEFAULTS.max_score == sum(m.DEFAULTS.weights.values()) == 10
    assert m.DEFAULTS.weights["overlap"] * 2 >= m.DEFAULTS.max_score  # overlap carries it
    assert set(m.DEFAULTS.needs) <= set(m.DEFAULTS.weights)
    assert "grader_fault" in m.GRADE_STATUSES and "child_died" in m.GRADE_STATUSES


def test_the_messages_module_imports_nothing_of_citylib_but_the_contract() -> None:
    source = Path(m.__file__).read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    allowed = {"dataclasses", "json", "re", "typing", "citylib._lessons.sprint_contract"}
    assert {line.split()[1] for line in imports} <= allowed, imports


def test_the_grading_words_are_typed_once_in_the_contract() -> None:
    from citylib._lessons import sprint_contract as contract
    from citylib._lessons.judge import CHECKS, STRETCH_CHECKS

    assert m.GRADE_STATUSES is contract.GRADE_STATUSES
    assert {c.id for c in (*CHECKS, *STRETCH_CHECKS)} == set(contract.CHECK_IDS)
    assert "over_limit" in contract.GRADE_STATUSES
    # The frames carry the typed words: a child's cell or drive says only these.
    hints = {f.name: f.type for f in dataclasses.fields(m.CellDone)}
    assert typing.get_args(hints["status"]) == contract.CELL_STATUSES
    hints = {f.name: f.type for f in dataclasses.fields(m.DriveDone)}
    assert "timeout" not in typing.get_args(hints["outcome"])  # the judge's word, not the child's


def _raw(obj: Any) -> bytes:
    body = json.dumps(obj).encode()
    return len(body).to_bytes(4, "big") + body


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        ((10**7).to_bytes(4, "big") + b"{}", "a frame of 10,000,000 bytes"),
        ((5).to_bytes(4, "big") + b"nope!", "not JSON"),
        (_raw([]), "without a kind"),
        (_raw({"kind": "evil"}), "unknown kind"),
        ((4).to_bytes(4, "big") + b"\xff\xfe{}", "not JSON"),
        (_raw({"kind": "echo_reply", "seq": "one"}), "expected int"),
        (_raw({"kind": "call", "drive": 1, "call": 2, "x": 1}), "unknown field"),
        (_raw({"kind": "call", "drive": 1, "call": True}), "expected int"),
        (_raw({"kind": "answer", "call": 1, "payload": {"1": 2, "x": [1]}, "more": 0}), "unknown"),
    ],
)
def test_the_reader_refuses_what_the_protocol_does_not_allow(wire: bytes, why: str) -> None:
    with pytest.raises(m.FrameError, match=why):
        m.FrameReader(limit=m.DEFAULTS.frame_bytes).feed(wire)


def test_decoding_is_strict_about_types() -> None:
    with pytest.raises(m.FrameError, match="expected int"):
        m.decode(json.dumps({"kind": "call", "drive": 1, "call": True}).encode())
    with pytest.raises(m.FrameError, match="unknown field"):
        m.decode(json.dumps({"kind": "echo", "seq": 1, "extra": 2}).encode())
    with pytest.raises(m.FrameError, match="missing field"):
        m.decode(json.dumps({"kind": "invoke", "drive": 1, "call": 2}).encode())
    with pytest.raises(m.FrameError, match="expected a list"):
        m.decode(json.dumps({"kind": "start_drive", "drive": 1, "function": "f",
                             "sources": "maps"}).encode())  # fmt: skip


def test_frames_arrive_whole_whatever_the_chunks() -> None:
    wire = b"".join(m.encode_frame(f) for f in EXAMPLES)
    reader = m.FrameReader()
    got = [f for i in range(0, len(wire), 7) for f in reader.feed(wire[i : i + 7])]
    assert got == EXAMPLES


def test_the_child_compiles_cells_as_a_notebook_would() -> None:
    ns: dict[str, Any] = {}
    code = compile_cell("import asyncio\nawait asyncio.sleep(0)\nx = 41 + 1\n", "<cell>")
    outcome = eval(code, ns)
    asyncio.run(outcome)
    assert ns["x"] == 42
    magic = compile_cell("%time y = 1\n", "<cell>")  # IPython syntax, only when needed
    assert magic.co_filename == "<cell>"
    with pytest.raises(SyntaxError):
        compile_cell("def f(:\n", "<cell>")


def test_the_child_returns_values_as_data() -> None:
    class Odd:
        pass

    value = {"a": [1, 2.5, "x", None, True], "b": (1, 2), 3: "key", "o": Odd()}
    data = as_data(value)
    assert data["a"] == [1, 2.5, "x", None, True] and data["b"] == [1, 2]
    assert data["o"] == {"$object": "Odd"} and data["$key:int:3"] == "key"
    json.dumps(data)
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    assert "too deep" in json.dumps(as_data(deep))


def test_capped_text_keeps_the_start_and_counts_the_rest() -> None:
    sink = CappedText(5)
    sink.write("abc")
    sink.write("defgh")
    assert sink.take() == ("abcde", 3)
    sink.write("zz")
    assert sink.take() == ("", 2)


# ------------------------------------------------------------------ a judge under attack


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[m.Frame] = []
        self.reader = m.FrameReader()

    def write(self, data: Any) -> None:
        self.sent.extend(self.reader.feed(bytes(data)))

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass


def _session() -> tuple[_Session, _Transport]:
    job = m.Job([], "", "", seed=1)
    s = _Session(job, JudgeSettings(seed=1))
    transport = _Transport()
    s.connection_made(transport)
    return s, transport


def _in_drive(s: _Session) -> _DriveState:
    d = _DriveState(0, "parallel_fetch", {"maps": 1.0, "chat": 1.0},
                    {"maps": 0.01, "chat": 0.01}, 0.05)  # fmt: skip
    s.drive, s.expecting = d, m.DriveDone
    return d


def _feed(s: _Session, *frames: m.Frame | bytes) -> Any:
    for frame in frames:
        s.data_received(frame if isinstance(frame, bytes) else m.encode_frame(frame))
    return s.replies.get_nowait() if not s.replies.empty() else None


FORGERIES: dict[str, list[m.Frame | bytes]] = {
    "a call in a drive not running": [m.Invoke(3, 1, "maps")],
    "a source that is not one": [m.Invoke(0, 1, "bank")],
    "a call id used twice": [m.Invoke(0, 1, "maps"), m.Invoke(0, 1, "chat")],
    "an await of a call never made": [m.Call(0, 77)],
    "a call awaited twice": [m.Invoke(0, 1, "maps"), m.Call(0, 1), m.Call(0, 1)],
    "an echo reply to no echo": [m.EchoReply(5)],
    "a result for another drive": [m.DriveDone(4, "returned")],
    "a frame the judge sends": [m.Answer(1, {"token": "forged"})],
    "a hello in the middle": [m.Hello(1, 1, "x")],
    "an oversize frame": [(2**31).to_bytes(4, "big") + b"{"],
    "garbage": [b"\x00\x00\x00\x03abc"],
    # The child's words are typed: a relabelled outcome or status is not a frame.
    "a cell relabelled grader_fault": [_raw({"kind": "cell_done", "status": "grader_fault"})],
    "a drive's outcome patched": [_raw({"kind": "drive_done", "drive": 0, "outcome": "pass"})],
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_frames_end_the_submission_with_an_error(name: str) -> None:
    async def attack() -> Any:
        s, _ = _session()
        _in_drive(s)
        try:
            return _feed(s, *FORGERIES[name])
        finally:
            for handle in list(asyncio.get_running_loop()._scheduled):  # type: ignore[attr-defined]
                handle.cancel()

    ended = asyncio.run(attack())
    assert isinstance(ended, _EndError), name
    assert ended.status == "error" and "the submission wrote to the grader's channel" in ended.error


def test_an_honest_exchange_is_timed_on_the_judges_clock() -> None:
    async def drive() -> tuple[_DriveState, _Transport]:
        s, transport = _session()
        d = _in_drive(s)
        _feed(s, m.Invoke(0, 1, "maps"), m.Invoke(0, 2, "chat"), m.Call(0, 1), m.Call(0, 2))
        await asyncio.sleep(0.05)  # the judge answers each after its latency
        s._echo()
        _feed(s, m.EchoReply(s.echo_seq))
        done = _feed(s, m.DriveDone(0, "returned", result={}, result_type="dict"))
        assert isinstance(done, m.DriveDone)
        return d, transport

    d, transport = asyncio.run(drive())
    answers = [f for f in transport.sent if isinstance(f, m.Answer)]
    assert sorted(a.call for a in answers) == [1, 2]
    tokens = {a.payload["token"] for a in answers}
    assert len(tokens) == 2 and all(len(t) == 32 for t in tokens)  # fresh, 128 bits each
    for name in ("maps", "chat"):
        (call,) = d.calls[name]
        assert call.started is not None and call.ended is not None
        assert call.ended - call.started >= d.real[name]  # the latency passed on our clock
        assert call.payload is not None and call.payload["token"] in tokens


def test_a_late_call_after_its_drive_is_not_answered() -> None:
    async def late() -> tuple[Any, _Session]:
        s, _ = _session()
        d = _in_drive(s)
        d.active = False
        s.finished.append(d)
        s.drive = None
        return _feed(s, m.Invoke(0, 3, "maps"), m.Call(0, 3)), s

    ended, s = asyncio.run(late())
    assert ended is None and s.late_calls == 1


def test_dataclass_fields_are_all_typed_for_the_codec() -> None:
    for cls in (*m.FRAMES.values(), m.Job, m.GradeRecord, m.BatchReport, m.DriveReport):
        for f in dataclasses.fields(cls):
            assert not isinstance(f.type, str), f"{cls.__name__}.{f.name}"


def test_a_relabelled_status_is_refused_and_never_echoed() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    with pytest.raises(m.FrameError) as refused:
        m.FrameReader().feed(_raw({"kind": "drive_done", "drive": 0, "outcome": hostile}))
    assert "onerror" not in str(refused.value)  # the child's word is not repeated


def test_frames_are_budgeted_over_the_whole_run_late_ones_too() -> None:
    """A flood after the drives counts like one during them: over_limit, never the
    grader's time (and so a neighbour's) without end."""

    async def flood() -> Any:
        s, _ = _session()
        d = _in_drive(s)
        _feed(s, m.Invoke(0, 1, "maps"))
        d.active = False
        s.finished.append(d)
        s.drive = None
        late = [m.Invoke(0, 10 + n, "maps") for n in range(m.DEFAULTS.frames_per_run)]
        return _feed(s, *late), s

    ended, s = asyncio.run(flood())
    assert isinstance(ended, _EndError)
    assert ended.status == "over_limit" and "grader's channel" not in ended.error
    assert s.frames == m.DEFAULTS.frames_per_run + 1


def test_eleven_calls_of_one_source_are_calls_not_a_forgery() -> None:
    async def eleven() -> Any:
        s, _ = _session()
        d = _in_drive(s)
        frames: list[m.Frame | bytes] = []
        for n in range(11):
            frames += [m.Invoke(0, n + 1, "maps"), m.Call(0, n + 1)]
        ended = _feed(s, *frames)
        for handle in list(asyncio.get_running_loop()._scheduled):  # type: ignore[attr-defined]
            handle.cancel()
        return ended, d

    ended, d = asyncio.run(eleven())
    assert ended is None and len(d.calls["maps"]) == 11


def test_text_from_the_child_always_crosses_the_wire() -> None:
    assert as_data({"k": "\udcff", "total_latency": 10**5000}) == {
        "k": "\\udcff", "total_latency": {"$object": "int of about 5,000 digits"},
    }  # fmt: skip
    frame = m.DriveDone(0, "returned", as_data("\udcff"), result={"x": as_data("\ud800")})
    assert isinstance(m.decode(m.encode_frame(frame)[4:]), m.DriveDone)
    forged = _raw({"kind": "cell_done", "status": "error", "error": "\ud800"})  # json escapes it
    with pytest.raises(m.FrameError):
        m.FrameReader().feed(forged)
    assert m.decode(_raw({"kind": "cell_done", "status": "", "error": "a \\ud800 b"})[4:])


def test_returned_subclasses_are_read_as_their_base_types_and_run_nothing() -> None:
    import collections

    class Liar(collections.OrderedDict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise RuntimeError("forged items")

        def __iter__(self) -> Any:
            raise RuntimeError("forged keys")

    class Loud(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    value = Liar(weather={"token": Loud("abc")}, total_latency=True)
    assert as_data(value) == {"weather": {"token": "abc"}, "total_latency": True}
    assert as_data(collections.namedtuple("P", "a b")(1, 2.5)) == [1, 2.5]
