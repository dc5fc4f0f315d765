"""The grader: one batch of deliberately varied submissions, graded once, checked many ways.

The submissions in tests/submissions/ (written by make_submissions.py) are right,
wrong, or hostile on purpose. One module-scoped batch grades them all in their
sandboxed kernels; the tests read its records and reports.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from citylib import _cli as cli
from citylib.grading import CHECKS, CSV_COLUMNS, GRADE_STATUSES, Batch, grade, grade_batch
from citylib.grading import _sandbox as sandboxes
from citylib.grading._batch import GradeRecord
from citylib.grading._sandbox import Limits, Sandbox

HERE = Path(__file__).parent
SUBMISSIONS = sorted((HERE / "submissions").glob("*.ipynb"))
ALL_PASS = {c.id: True for c in CHECKS}
NOT_JUDGED = {c.id: None for c in CHECKS}
TIMEOUT = 6.0

#: submission -> (status, checks that fail; None: not judged at all)
EXPECTED: dict[str, tuple[str, set[str] | None]] = {
    "correct_gather": ("ok", set()),
    "correct_taskgroup": ("ok", set()),
    "nbgrader_only": ("ok", set()),
    "output_flood": ("ok", set()),
    "mischief": ("ok", set()),
    "sequential_awaits": ("ok", {"overlap"}),
    "forged_verdict": ("ok", {"overlap"}),
    "blocking_sleep": ("ok", {"non_blocking"}),
    "hard_coded_latency": ("ok", {"total_latency"}),
    "missing_source": ("ok", {"calls_once", "payloads"}),
    "source_twice": ("ok", {"calls_once"}),
    "untouched": ("not_attempted", None),
    "syntax_error": ("error", None),
    "not_a_notebook": ("error", None),
    "endless_loop": ("timeout", None),
    "kernel_exit": ("kernel_died", None),
    "kernel_killed": ("kernel_died", None),
}
ESCAPES = ("/tmp", "/var/tmp", "/dev/shm", str(HERE.parent), str(HERE / "submissions"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Batch, Path, dict[str, str]]:
    """The whole set, graded once with the default workers."""
    for place in ESCAPES:
        Path(place, "citylib-escape.txt").unlink(missing_ok=True)
    before = {p.stem: digest(p) for p in SUBMISSIONS}
    out = tmp_path_factory.mktemp("grades")
    batch = grade(SUBMISSIONS, out, timeout=TIMEOUT)
    return batch, out, before


def records(graded: tuple[Batch, Path, dict[str, str]]) -> dict[str, GradeRecord]:
    return {Path(r.submission).stem: r for r in graded[0].records}


def test_every_submission_is_covered() -> None:
    assert {p.stem for p in SUBMISSIONS} == set(EXPECTED)


def test_the_batch_completes_with_a_status_for_each(graded: Any) -> None:
    batch, _, _ = graded
    assert [Path(r.submission).stem for r in batch.records] == [p.stem for p in SUBMISSIONS]
    assert all(r.status in GRADE_STATUSES for r in batch.records)
    assert sum(batch.counts().values()) == len(SUBMISSIONS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_its_verdict(graded: Any, name: str) -> None:
    record = records(graded)[name]
    status, failing = EXPECTED[name]
    assert record.status == status, record.error
    if failing is None:
        assert record.checks == NOT_JUDGED and record.score == 0
    else:
        assert record.checks == {c: c not in failing for c in ALL_PASS}
        assert record.score == len(CHECKS) - len(failing)
    assert record.max_score == len(CHECKS)


def test_errors_say_what_happened(graded: Any) -> None:
    got = records(graded)
    assert got["syntax_error"].error.startswith("SyntaxError: expected ':' (line 6 of the cell)")
    assert "cannot read the file as a notebook" in got["not_a_notebook"].error
    assert got["endless_loop"].error == f"still running after {TIMEOUT:g} s"
    assert got["kernel_exit"].error == "the kernel exited with code 3"
    assert "SIGKILL" in got["kernel_killed"].error


def test_the_stretch_goal_scores_apart(graded: Any) -> None:
    got = records(graded)
    assert (got["correct_taskgroup"].stretch, got["correct_taskgroup"].bonus) == ("pass", 1)
    assert got["correct_taskgroup"].score == len(CHECKS)
    assert got["correct_gather"].stretch == "not_attempted"
    assert got["sequential_awaits"].stretch == "locked"
    assert got["untouched"].stretch == "" and got["endless_loop"].stretch == ""


def test_originals_are_unchanged(graded: Any) -> None:
    batch, _, before = graded
    for record in batch.records:
        stem = Path(record.submission).stem
        assert record.sha256 == before[stem] == digest(Path(record.path))
        assert record.unchanged


def test_a_flood_of_output_is_capped(graded: Any) -> None:
    flood = records(graded)["output_flood"]
    assert 0 < len(flood.output) <= 4000
    assert flood.output_dropped > 1_000_000


def test_the_sandbox_holds(graded: Any) -> None:
    batch, _, _ = graded
    mischief = records(graded)["mischief"]
    assert "NETWORK ip: blocked" in mischief.output
    assert "NETWORK dns: blocked" in mischief.output
    assert "TAMPER my copy: blocked" in mischief.output
    if batch.sandbox != "full":
        pytest.skip(f"sandbox level here is {batch.sandbox!r}, not 'full'")
    assert "WRITE citylib-escape.txt in etc : blocked" in mischief.output
    for place in ESCAPES:
        assert not Path(place, "citylib-escape.txt").exists(), f"escaped into {place}"


def test_root_gets_the_full_sandbox(graded: Any) -> None:
    batch, _, _ = graded
    if os.geteuid() != 0:
        pytest.skip("the full sandbox needs root")
    assert batch.sandbox == "full"
    assert {r.sandbox for r in batch.records} == {"full"}


def test_grades_csv_has_a_column_per_check(graded: Any) -> None:
    _, out, _ = graded
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:5] == ("submission", "sha256", "status", "score", "max_score")
    by_name = {Path(r["submission"]).stem: r for r in rows}
    assert by_name["sequential_awaits"]["overlap"] == "0"
    assert by_name["sequential_awaits"]["payloads"] == "1"
    assert by_name["endless_loop"]["overlap"] == ""
    assert by_name["correct_taskgroup"]["bonus"] == "1"
    assert {r["sandbox"] for r in rows} == {graded[0].sandbox}


def test_grades_json_records_everything(graded: Any) -> None:
    batch, out, _ = graded
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert data["sandbox"] == batch.sandbox and data["workers"] == batch.workers
    assert [c["id"] for c in data["checks"]] == [c.id for c in CHECKS]
    assert len(data["submissions"]) == len(SUBMISSIONS)
    assert data["counts"] == batch.counts()


def test_feedback_gives_each_learner_hints(graded: Any) -> None:
    _, out, _ = graded
    page = (out / "feedback.md").read_text(encoding="utf-8")
    for path in SUBMISSIONS:
        assert f"## {path.name}" in page
        assert (out / "feedback" / f"{path.name}.md").is_file()
    one_lane = (out / "feedback" / "sequential_awaits.ipynb.md").read_text(encoding="utf-8")
    assert "❌ runs the calls at the same time" in one_lane
    assert "💡 Start every call before awaiting any of them" in one_lane
    assert "🔒 locked" in one_lane
    untouched = (out / "feedback" / "untouched.ipynb.md").read_text(encoding="utf-8")
    assert "⏳ not attempted yet" in untouched and "NotImplementedError" in untouched
    endless = (out / "feedback" / "endless_loop.ipynb.md").read_text(encoding="utf-8")
    assert "a loop that never ends" in endless
    flood = (out / "feedback" / "output_flood.ipynb.md").read_text(encoding="utf-8")
    assert "more characters not shown" in flood


def test_a_second_run_gives_the_same_verdicts(graded: Any, tmp_path: Path) -> None:
    names = ["blocking_sleep", "hard_coded_latency", "missing_source", "sequential_awaits"]
    again = grade_batch([HERE / "submissions" / f"{n}.ipynb" for n in names], timeout=TIMEOUT)
    first = records(graded)
    for record in again.records:
        before = first[Path(record.submission).stem]
        assert (record.status, record.checks) == (before.status, before.checks)


def test_without_namespaces_it_still_grades_and_says_so() -> None:
    batch = grade_batch([HERE / "submissions" / "correct_gather.ipynb"], sandbox=Sandbox("limits"))
    (record,) = batch.records
    assert (batch.sandbox, record.sandbox, record.status) == ("limits", "limits", "ok")
    assert record.score == len(CHECKS)


def test_detect_falls_back_when_namespaces_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxes.shutil, "which", lambda name: None)
    found = sandboxes.detection.__wrapped__(Limits())
    assert found.sandbox.level == "limits"
    assert "unshare and ip not found on PATH" in found.why
    assert found.summary().startswith("sandbox: limits only — unshare and ip not found")


def test_the_sandbox_command_line() -> None:
    full = Sandbox("full").wrap(["python", "-m", "w"], slot=2, timeout=30)
    assert full[:4] == ["timeout", "-k", "3", "30"]
    assert "--net" in full and "--pid" in full and "--mount" in full
    assert f"--reuid={sandboxes.BASE_UID + 2}" in full and "--nproc=128" in full
    script = full[full.index("-c") + 1]
    assert "ip link set lo up" in script and "mount -t tmpfs" in script
    assert full[-3:] == ["python", "-m", "w"]
    limits = Sandbox("limits").wrap(["python"], slot=0, timeout=30)
    assert "unshare" not in limits and any(a.startswith("--as=") for a in limits)
    user = Sandbox("namespaces").wrap(["python"], slot=0, timeout=30)
    assert "--user" in user and not any(a.startswith("--reuid") for a in user)


def test_the_cli_grades_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    untouched = HERE / "submissions" / "untouched.ipynb"
    assert cli.main(["grade", str(untouched), "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr()
    out = printed.out
    assert "not_attempted 1" in out and "Sandbox:" in out
    # Which sandbox it got, and (below full) why, before grading starts.
    (said,) = [line for line in printed.err.splitlines() if line.startswith("sandbox: ")]
    assert "In force: " in said
    if os.geteuid() != 0:
        assert " — " in said  # not root: it says why not the full sandbox
    assert (tmp_path / "grades.csv").is_file() and (tmp_path / "feedback.md").is_file()


def test_the_cli_rejects_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
