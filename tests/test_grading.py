"""The grader: one batch of deliberately varied submissions, graded once, checked many ways.

The submissions in tests/submissions/ (written by make_submissions.py) are right,
wrong, hostile or forged on purpose. One module-scoped batch grades them all, each
in its sandboxed child with the judge outside; the tests read its records and reports.
Every forgery must score exactly what its honest behaviour earns.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from citylib import _cli as cli
from citylib._lessons.sprint_contract import DRIVE_OUTCOMES, STRETCH_STATUSES
from citylib.grading import (
    CHECKS,
    CSV_COLUMNS,
    DEFAULTS,
    GRADE_STATUSES,
    Batch,
    BatchReport,
    grade,
    grade_batch,
    merge,
)
from citylib.grading import _sandbox as sandboxes
from citylib.grading._batch import in_shard
from citylib.grading._messages import GradeRecord
from citylib.grading._sandbox import Limits, Sandbox

HERE = Path(__file__).parent
SUBMISSIONS = sorted((HERE / "submissions").glob("*.ipynb"))
ALL_PASS = {c.id: True for c in CHECKS}
NOT_JUDGED = {c.id: None for c in CHECKS}
TIMEOUT = 6.0
SEED = 314159

#: submission -> (status, checks that fail (None: not judged at all), score)
EXPECTED: dict[str, tuple[str, set[str] | None, int]] = {
    "correct_gather": ("ok", set(), 10),
    "correct_taskgroup": ("ok", set(), 10),
    "nbgrader_only": ("ok", set(), 10),
    "output_flood": ("ok", set(), 10),
    "mischief": ("ok", set(), 10),
    # The misconception the Sprint exists to catch: half the points at most.
    "sequential_awaits": ("ok", {"overlap"}, 5),
    "blocking_sleep": ("ok", {"non_blocking"}, 9),
    "hard_coded_latency": ("ok", {"total_latency"}, 9),
    # Merged no answer of one source: what depends on the answers earns nothing.
    "missing_source": ("ok", {"calls_once", "payloads"}, 5),
    # Its merge keeps the second weather call, made after the others ended: the calls
    # whose answers it returned took turns (and a source called twice).
    "source_twice": ("ok", {"calls_once", "overlap"}, 4),
    # The sources handed to gather uncalled: it raises on every drive, one cause named.
    "uncalled_sources": ("error", None, 0),
    # Nothing earns points that did not run.
    "untouched": ("not_attempted", None, 0),
    "syntax_error": ("error", None, 0),
    "not_a_notebook": ("error", None, 0),
    "endless_loop": ("timeout", None, 0),
    "kernel_exit": ("child_died", None, 0),
    "kernel_killed": ("child_died", None, 0),
    # Forgeries: each scores what its plain code earns.
    "forged_verdict": ("ok", {"overlap"}, 5),  # one lane + a displayed verdict
    "forged_patched_judge": ("ok", {"overlap"}, 5),  # one lane + patched judge and rules
    "forged_rewrites_records": ("ok", {"overlap"}, 5),  # one lane + gc/frame rewriting
    "forged_cancels_watchers": ("ok", {"non_blocking"}, 9),  # cancels tasks, then blocks
    "forged_helper_answers": ("ok", {"non_blocking"}, 9),  # thread/fork/signal echoes
    # Drive 1's tokens in drive 2: drive 2's calls were thrown away, so they earn nothing.
    "forged_replayed_tokens": ("ok", {"payloads", "calls_once", "overlap"}, 0),
    "forged_frames": ("error", None, 0),  # writes frames of its own onto the channel
    # Floods the channel with raw frames (its call ids used again in drive 2).
    "forged_flood": ("error", None, 0),
}

#: The judge's attacks (tests/submissions/judge_attacks.py): each its honest score.
EXPECTED_ATTACKS: dict[str, tuple[str, set[str] | None, int]] = {
    # Calls whose answers never reached the returned value earn nothing.
    "attack_discarded_calls": ("ok", {"calls_once", "payloads", "overlap", "total_latency"}, 0),
    # Called twice (the cancelled ping counts as a call); the merge's calls took turns.
    "attack_pings_then_one_lane": ("ok", {"calls_once", "overlap"}, 4),
    "attack_pings_kept_aside": ("ok", {"calls_once", "overlap"}, 4),
    # The stretch is graded apart and from its own drives: no bonus, the deliverable kept.
    "attack_stretch_says_pass": ("ok", set(), 10),
    "attack_stretch_hangs": ("ok", set(), 10),
    "attack_stretch_forges_frames": ("ok", set(), 10),
    "attack_stretch_dies": ("ok", set(), 10),
    # A word the child may not say is a forged frame: its own error, never the grader's.
    "attack_relabels_grader_fault": ("error", None, 0),
    "attack_patched_outcome": ("error", None, 0),
    # Held in the loop's own epoll (a task or a callback polling it): as time.sleep.
    "attack_epoll_hold": ("ok", {"non_blocking"}, 9),
    "attack_callback_polls": ("ok", {"non_blocking"}, 9),
    # Numbers no stopwatch gives: total_latency fails, nothing breaks.
    "attack_huge_latency": ("ok", {"total_latency"}, 9),
    "attack_digits_latency": ("ok", {"total_latency"}, 9),
    "attack_eleven_calls": ("ok", {"calls_once"}, 9),
    # The grader's own limit, named: not a crash.
    "attack_huge_cell": ("over_limit", None, 0),
    # Errors the child can always describe.
    "attack_unprintable_error": ("error", None, 0),
    "attack_giant_error": ("error", None, 0),
    "attack_surrogate_error": ("error", None, 0),
    "attack_unreadable_key": ("ok", set(), 10),
}
EXPECTED.update(EXPECTED_ATTACKS)
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
    batch = grade(SUBMISSIONS, out, timeout=TIMEOUT, seed=SEED)
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
    assert batch.counts()["grader_fault"] == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_its_verdict(graded: Any, name: str) -> None:
    record = records(graded)[name]
    status, failing, score = EXPECTED[name]
    assert record.status == status, (record.error, record.notes)
    if failing is None:
        assert record.checks == NOT_JUDGED
    else:
        assert record.checks == {c: c not in failing for c in ALL_PASS}, record.details
    assert record.score == score
    assert record.max_score == DEFAULTS.max_score == 10


def test_without_overlap_at_most_half(graded: Any) -> None:
    for record in records(graded).values():
        if record.checks.get("overlap") is False:
            assert record.score is not None and record.score <= record.max_score // 2


def test_errors_say_what_happened(graded: Any) -> None:
    got = records(graded)
    assert got["syntax_error"].error.startswith("SyntaxError: expected ':' (line 6 of the cell)")
    assert "cannot read the file as a notebook" in got["not_a_notebook"].error
    assert got["endless_loop"].error.startswith(("did not finish within", "still running after"))
    assert got["kernel_exit"].error == "its process exited with code 3"
    assert "SIGKILL" in got["kernel_killed"].error
    assert "grader's channel" in got["forged_frames"].error
    assert "grader's channel" in got["forged_flood"].error


def test_the_judges_attacks_say_what_happened(graded: Any) -> None:
    got = records(graded)
    stretch = {name: (got[name].stretch, got[name].bonus) for name in got if "stretch" in name}
    assert stretch == {
        "attack_stretch_says_pass": ("error", 0),
        "attack_stretch_hangs": ("timeout", 0),
        "attack_stretch_forges_frames": ("error", 0),
        "attack_stretch_dies": ("child_died", 0),
    }
    for name in ("attack_relabels_grader_fault", "attack_patched_outcome"):
        assert "grader's channel" in got[name].error and "<script>" not in got[name].error
        assert got[name].verified == got["correct_gather"].verified  # the batch's stays
    assert "256 KB" in got["attack_huge_cell"].error and "not run" in got["attack_huge_cell"].error
    assert got["attack_unprintable_error"].error.startswith("Unprintable")
    assert got["attack_giant_error"].error.startswith("ValueError: xxx")
    assert len(got["attack_giant_error"].error) < 3000
    assert got["attack_surrogate_error"].error.startswith("ValueError: bad \\udcff byte")
    assert "digits" in got["attack_digits_latency"].details[4].detail
    overlap = got["attack_discarded_calls"].details[3]
    assert overlap.detail == "fewer than two answers reached the returned value"
    _, out, _ = graded
    for report in out.rglob("*"):  # the patched outcome is in no report, escaped or not
        if report.is_file():
            text = report.read_text(encoding="utf-8", errors="replace")
            assert "alert('outcome')" not in text and "alert(&#39;outcome" not in text
    for record in got.values():  # nothing a child said became a status or an outcome
        assert record.stretch in STRETCH_STATUSES
        assert all(d.outcome in DRIVE_OUTCOMES for d in record.drives + record.stretch_drives)


def test_the_failing_line_is_named(graded: Any) -> None:
    exits = records(graded)["kernel_exit"]
    syntax = records(graded)["syntax_error"]
    assert syntax.line == 6 and syntax.failing_line.startswith("async def parallel_fetch")
    assert exits.status == "child_died"


def test_the_stretch_goal_scores_apart(graded: Any) -> None:
    got = records(graded)
    assert (got["correct_taskgroup"].stretch, got["correct_taskgroup"].bonus) == ("pass", 1)
    assert got["correct_taskgroup"].score == DEFAULTS.max_score
    assert got["correct_gather"].stretch == "not_attempted"
    assert got["sequential_awaits"].stretch == "locked"
    assert got["untouched"].stretch == "" and got["endless_loop"].stretch == ""
    assert got["correct_taskgroup"].stretch_drives  # judged outside too


def test_the_judge_observed_the_lanes(graded: Any) -> None:
    """Each drive's calls, timed on the judge's clock: overlapping for gather, not for one lane."""
    gather, one_lane = records(graded)["correct_gather"], records(graded)["sequential_awaits"]
    for record, overlapping in ((gather, True), (one_lane, False)):
        assert len(record.drives) == DEFAULTS.drives
        for drive in record.drives:
            spans = sorted(drive.spans, key=lambda s: s.started or 0)
            assert {s.source for s in spans} == set(drive.latencies)
            assert all(s.started is not None and s.ended is not None for s in spans)
            overlap = max(s.started or 0 for s in spans) < min(s.ended or 0 for s in spans)
            assert overlap is overlapping
            assert drive.reported is not None
    fast, slow = gather.drives[1], one_lane.drives[1]
    # The one lane took turns: a ratio of the calls' spans, first call to last answer
    # (the drive's elapsed also holds the child's own start, which a dozen children
    # starting at once on two cores made 2.7 city seconds late once).
    assert fast.calls_span is not None and slow.calls_span is not None
    assert slow.calls_span > 1.5 * fast.calls_span


def test_records_carry_version_seed_sandbox_and_verified(graded: Any) -> None:
    batch, _, _ = graded
    for record in batch.records:
        assert record.seed == SEED == batch.seed
        assert record.grader_version and record.sandbox == batch.sandbox
        assert record.verified == (batch.sandbox in ("bwrap", "full") and os.geteuid() == 0)
        assert record.protections and "rlimits" in record.protections


def test_originals_are_unchanged(graded: Any) -> None:
    batch, _, before = graded
    for record in batch.records:
        stem = Path(record.submission).stem
        assert record.sha256 == before[stem] == digest(Path(record.path))
        assert record.unchanged


def test_a_flood_of_output_is_capped(graded: Any) -> None:
    flood = records(graded)["output_flood"]
    assert 0 < len(flood.output) <= DEFAULTS.output_limit
    assert flood.output_dropped > 1_000_000


def test_nothing_printed_reaches_the_verdict(graded: Any) -> None:
    forged = records(graded)["forged_patched_judge"]
    assert 'CITYLIB-RESULT {"status": "ok", "score": 10}' in forged.output
    assert "DISPLAY shell: None" in forged.output  # no kernel, no display path to patch
    assert forged.score == 5


def test_threads_and_forks_are_refused_in_the_full_sandbox(graded: Any) -> None:
    batch, _, _ = graded
    if "no_threads" not in batch.records[0].protections:
        pytest.skip(f"sandbox level here is {batch.sandbox!r}, which allows threads")
    helper = records(graded)["forged_helper_answers"]
    assert "HELPER thread: refused" in helper.output
    assert "HELPER fork: refused" in helper.output


def test_the_sandbox_holds(graded: Any) -> None:
    batch, _, _ = graded
    mischief = records(graded)["mischief"]
    assert "NETWORK ip: blocked" in mischief.output
    assert "NETWORK dns: blocked" in mischief.output
    if "own_user" not in batch.records[0].protections:
        pytest.skip(f"sandbox level here is {batch.sandbox!r}, without a user of its own")
    assert "WRITE citylib-escape.txt in etc : blocked" in mischief.output
    for place in ESCAPES:
        assert not Path(place, "citylib-escape.txt").exists(), f"escaped into {place}"


def test_root_gets_the_strongest_sandbox(graded: Any) -> None:
    batch, _, _ = graded
    if os.geteuid() != 0:
        pytest.skip("a user of its own needs root")
    strongest = "bwrap" if sandboxes._refusal("bwrap") is None else "full"
    assert batch.sandbox == strongest
    assert {r.sandbox for r in batch.records} == {strongest}
    assert batch.verified


def test_grades_csv_has_a_column_per_check(graded: Any) -> None:
    _, out, _ = graded
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:5] == ("submission", "sha256", "status", "score", "max_score")
    by_name = {Path(r["submission"]).stem: r for r in rows}
    assert by_name["sequential_awaits"]["overlap"] == "0"
    assert by_name["sequential_awaits"]["payloads"] == "1"
    assert by_name["sequential_awaits"]["score"] == "5"
    assert by_name["endless_loop"]["overlap"] == ""
    assert by_name["correct_taskgroup"]["bonus"] == "1"
    assert {r["sandbox"] for r in rows} == {graded[0].sandbox}
    assert {r["seed"] for r in rows} == {str(SEED)}


def test_grades_json_is_the_typed_report(graded: Any) -> None:
    batch, out, _ = graded
    report = BatchReport.from_json((out / "grades.json").read_text(encoding="utf-8"))
    assert report.sandbox == batch.sandbox and report.workers == batch.workers
    assert report.seed == SEED and report.grader_version
    assert [c["id"] for c in report.checks] == [c.id for c in CHECKS]
    assert sum(c["points"] for c in report.checks) == DEFAULTS.max_score
    assert report.submissions == batch.records
    assert report.counts == batch.counts()


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


def test_feedback_pages_are_self_contained_and_say_enough(graded: Any) -> None:
    _, out, _ = graded
    for path in SUBMISSIONS:
        page = (out / "feedback" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), path.stem
        assert "<script" not in page
    one_lane = (out / "feedback" / "sequential_awaits.html").read_text(encoding="utf-8")
    assert "5/10 points" in one_lane
    assert "❌" in one_lane and "runs the calls at the same time" in one_lane
    assert "💡 Start every call before you await any of them" in one_lane
    assert "What to fix" in one_lane  # the self-check's diagnosis, cause first
    assert "Each await waited for its source&#39;s answer before the next call" in one_lane
    assert one_lane.count("<svg") == DEFAULTS.drives  # the student's own lanes, per drive
    assert "speed-up over one lane" in one_lane and "total_latency" in one_lane
    assert "🔒 locked" in one_lane
    # The seed is the teacher's: a student who knew it could compute every latency.
    assert str(SEED) not in one_lane and "seed" not in _text(one_lane) and "verified" in one_lane
    untouched = (out / "feedback" / "untouched.html").read_text(encoding="utf-8")
    assert "⏳ not attempted yet" in untouched and "NotImplementedError" in untouched
    endless = (out / "feedback" / "endless_loop.html").read_text(encoding="utf-8")
    assert "a loop that never ends" in _text(endless) and "0/10 points" in endless
    flood = (out / "feedback" / "output_flood.html").read_text(encoding="utf-8")
    assert "more characters not shown" in flood
    uncalled = _text((out / "feedback" / "uncalled_sources.html").read_text(encoding="utf-8"))
    assert "You handed gather the sources, not calls of them" in uncalled
    assert uncalled.count("handed gather the sources") == 1  # one mistake, one message
    assert "answers = await asyncio.gather(*sources.values())" in uncalled  # their line
    syntax = (out / "feedback" / "syntax_error.html").read_text(encoding="utf-8")
    assert "async def parallel_fetch(sources=None) -&gt; dict" in syntax  # the line, escaped
    # The 3.0 written in is marked on both drives' lanes, the short first drive's too.
    written_in = (out / "feedback" / "hard_coded_latency.html").read_text(encoding="utf-8")
    assert written_in.count("<title>your total_latency</title>") == DEFAULTS.drives


def test_printed_output_is_escaped(tmp_path: Path) -> None:
    from citylib.grading._report import feedback_page

    record = GradeRecord("x.ipynb", "x.ipynb", "0" * 64, status="ok", score=0)
    record.output = "<script>alert(1)</script><img src=http://evil.example/x>"
    report = BatchReport("0", 1, "full", True, 1, 1.0, 60.0, 8.0, 20.0)
    page = feedback_page(record, report)
    assert "<script>" not in page and "<img src=http" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_class_page_and_canvas_csv(graded: Any) -> None:
    batch, out, _ = graded
    page = (out / "class.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2  # two charts, inline
    assert "Score distribution" in page and "Pass rates among the" in page
    for record in batch.records:
        assert f"feedback/{Path(record.submission).stem}.html" in page
    with open(out / "canvas.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        DEFAULTS.assignment,
    ]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == str(DEFAULTS.max_score)
    assert len(rows) == 2 + len(batch.records)


AGAIN = ["blocking_sleep", "hard_coded_latency", "missing_source", "sequential_awaits",
         "forged_helper_answers", "correct_gather"]  # fmt: skip
SOLUTION = HERE.parent / "notebooks" / "solutions" / "05_parallel_fetch_sprint.ipynb"


@pytest.fixture(scope="module")
def second_batch() -> dict[str, GradeRecord]:
    """A second batch with the same seed: six of the set again, and the Sprint's own
    solution notebook beside them (one batch of children at once, not two in turn)."""
    paths = [*(HERE / "submissions" / f"{n}.ipynb" for n in AGAIN), SOLUTION]
    batch = grade_batch(paths, timeout=TIMEOUT, seed=SEED)
    return {Path(r.submission).stem: r for r in batch.records}


def test_a_second_run_with_the_same_seed_gives_the_same_verdicts(
    graded: Any, second_batch: dict[str, GradeRecord]
) -> None:
    assert list(second_batch) == [*AGAIN, SOLUTION.stem]
    first = records(graded)
    for name in AGAIN:
        record, before = second_batch[name], first[name]
        assert (record.status, record.checks, record.score) == (
            before.status,
            before.checks,
            before.score,
        )
        assert [d.latencies for d in record.drives] == [d.latencies for d in before.drives]


def test_the_sprint_s_solution_notebook_earns_every_point(
    second_batch: dict[str, GradeRecord],
) -> None:
    """The teacher's notebook itself, graded whole (the benchmarks' quick run grades a
    one-cell answer instead, so this is where the real notebook goes through the grader)."""
    record = second_batch[SOLUTION.stem]
    assert record.status == "ok", (record.error, record.notes)
    assert record.checks == ALL_PASS, record.details
    assert (record.score, record.stretch, record.bonus) == (DEFAULTS.max_score, "pass", 1)


def test_a_fresh_seed_each_batch_unless_given() -> None:
    one = grade_batch([HERE / "submissions" / "untouched.ipynb"], timeout=TIMEOUT)
    two = grade_batch([HERE / "submissions" / "untouched.ipynb"], timeout=TIMEOUT)
    assert one.seed != two.seed
    assert one.records[0].seed == one.seed


def test_without_namespaces_it_still_grades_and_says_so() -> None:
    batch = grade_batch(
        [
            HERE / "submissions" / "correct_gather.ipynb",
            HERE / "submissions" / "sequential_awaits.ipynb",
        ],
        sandbox=Sandbox("limits"),
        seed=SEED,
    )
    gather, one_lane = batch.records
    assert (batch.sandbox, gather.sandbox, gather.status) == ("limits", "limits", "ok")
    assert gather.score == DEFAULTS.max_score and one_lane.score == 5
    assert not gather.verified and not batch.verified  # the child runs as the grader's user


def test_a_grader_fault_is_not_the_students(tmp_path: Path) -> None:
    """A sandbox that cannot start the child: no score, its own status, never 0 points."""

    class Broken(Sandbox):
        def wrap(self, argv: Any, *, slot: int, timeout: float) -> list[str]:
            return ["sh", "-c", "echo the sandbox broke >&2; exit 1"]

    batch = grade(
        [HERE / "submissions" / "correct_gather.ipynb"], tmp_path, sandbox=Broken("limits")
    )
    (record,) = batch.records
    assert record.status == "grader_fault" and record.score is None
    assert "the sandbox broke" in record.error
    assert not record.verified
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["score"] == ""
    page = (tmp_path / "feedback" / "correct_gather.html").read_text(encoding="utf-8")
    assert "no score" in page and "the grader failed, not you" in page
    with open(tmp_path / "canvas.csv", newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[2][-1] == ""  # Canvas keeps whatever it had


def test_shards_cover_the_class_once_and_merge_back(tmp_path: Path) -> None:
    names = ["correct_gather", "sequential_awaits", "untouched", "syntax_error", "not_a_notebook"]
    paths = [HERE / "submissions" / f"{n}.ipynb" for n in names]
    slices = []
    for k in (1, 2, 3):
        folder = tmp_path / f"shard{k}"
        slices.append(grade(paths, folder, timeout=TIMEOUT, seed=SEED, shard=(k, 3)))
    graded_names = [r.submission for b in slices for r in b.records]
    assert sorted(graded_names) == sorted(f"{n}.ipynb" for n in names)  # each exactly once
    for b, k in zip(slices, (1, 2, 3), strict=True):
        assert all(in_shard(r.submission, (k, 3)) for r in b.records) and b.shard == f"{k}/3"
    merged = merge([tmp_path / f"shard{k}" for k in (1, 2, 3)], tmp_path / "all")
    assert [r.submission for r in merged.submissions] == sorted(graded_names)
    assert merged.seed == SEED and merged.counts["ok"] == 2
    assert (tmp_path / "all" / "class.html").is_file()
    assert (tmp_path / "all" / "feedback" / "sequential_awaits.html").is_file()
    with pytest.raises(ValueError, match="slice 1/3 is given twice"):
        merge([tmp_path / "shard1", tmp_path / "shard1"], tmp_path / "twice")
    other = grade([paths[2]], tmp_path / "other", timeout=TIMEOUT, seed=SEED + 1)
    assert other.seed != SEED
    with pytest.raises(ValueError, match="seed"):
        merge([tmp_path / "shard1", tmp_path / "other"], tmp_path / "mixed")
    with pytest.raises(ValueError, match=r"no grades\.json"):
        merge([tmp_path / "nowhere"], tmp_path / "none")


def test_the_roster_maps_submissions_to_canvas_students(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "submission,Student,ID,SIS User ID,SIS Login ID,Section\n"
        'untouched.ipynb,"Lovelace, Ada",101,S101,ada,A\n',
        encoding="utf-8",
    )
    paths = [str(HERE / "submissions" / n) for n in ("untouched.ipynb", "syntax_error.ipynb")]
    code = cli.main(["grade", *paths, "--out", str(tmp_path / "g"), "--roster", str(roster),
                     "--quiet", "--seed", str(SEED)])  # fmt: skip
    assert code == 0
    with open(tmp_path / "g" / "canvas.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[2] == ["Lovelace, Ada", "101", "S101", "ada", "A", "0"]
    assert len(rows) == 3  # syntax_error is not on the roster: left out, and said so


def test_detect_falls_back_when_namespaces_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxes.shutil, "which", lambda name: None)
    found = sandboxes.detection.__wrapped__(Limits())
    assert found.sandbox.level == "limits"
    assert "unshare and ip not found on PATH" in found.why
    assert found.summary().startswith("sandbox: limits only — unshare and ip not found")


def test_the_sandbox_command_line() -> None:
    full = Sandbox("full", root=True).wrap(["python", "-m", "w"], slot=2, timeout=30)
    assert full[:4] == ["timeout", "-k", "3", "30"]
    assert "--net" in full and "--pid" in full and "--mount" in full
    assert f"--reuid={sandboxes.BASE_UID + 2}" in full and "--nproc=1" in full
    script = full[full.index("-c") + 1]
    assert "ip link set lo up" in script and "mount -t tmpfs" in script
    assert full[-3:] == ["python", "-m", "w"]
    limits = Sandbox("limits").wrap(["python"], slot=0, timeout=30)
    assert "unshare" not in limits and any(a.startswith("--as=") for a in limits)
    user = Sandbox("namespaces").wrap(["python"], slot=0, timeout=30)
    assert "--user" in user and not any(a.startswith("--reuid") for a in user)
    assert "--ipc" in full and "--ipc" in user  # SysV objects die with the child


def test_the_bwrap_command_line() -> None:
    as_root = Sandbox("bwrap", root=True).wrap(["python", "-m", "w"], slot=1, timeout=30)
    assert as_root[:4] == ["timeout", "-k", "3", "30"]
    for flag in ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--die-with-parent"):
        assert flag in as_root
    assert "--unshare-user" not in as_root and f"--reuid={sandboxes.BASE_UID + 1}" in as_root
    size = as_root[as_root.index("--tmpfs", as_root.index("--size")) - 1]
    assert as_root[as_root.index("--size") + 1] == str(Limits().workspace_mb * 2**20), size
    # The checkout itself is never bound: only citylib's package, at a neutral path.
    checkout = str(Path(sandboxes.__file__).resolve().parents[2])
    binds = [as_root[i + 1 : i + 3] for i, a in enumerate(as_root) if a == "--ro-bind"]
    assert [checkout + "/citylib", "/opt/citylib/lib/citylib"] in binds
    assert not any(src == checkout or dst == checkout for src, dst in binds), binds
    assert as_root[-3:] == ["python", "-m", "w"] and "--nproc=1" in as_root
    unprivileged = Sandbox("bwrap", root=False).wrap(["python"], slot=0, timeout=30)
    assert "--unshare-user" in unprivileged and "--disable-userns" in unprivileged
    assert not any(a.startswith("--reuid") for a in unprivileged)
    assert "own_user" not in Sandbox("bwrap", root=False).protections
    assert "minimal_filesystem" not in Sandbox("full", root=True).protections


def test_the_cli_grades_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    untouched = HERE / "submissions" / "untouched.ipynb"
    assert cli.main(["grade", str(untouched), "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr()
    out = printed.out
    assert "not_attempted 1" in out and "Sandbox:" in out and "seed " in out
    # Which sandbox it got, and (below full) why, before grading starts.
    (said,) = [line for line in printed.err.splitlines() if line.startswith("sandbox: ")]
    assert "In force: " in said
    if os.geteuid() != 0:
        assert " — " in said  # not root: it says why not the full sandbox
    for name in ("grades.csv", "grades.json", "class.html", "canvas.csv"):
        assert (tmp_path / name).is_file()
    seed = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))["seed"]
    assert isinstance(seed, int)


def test_the_cli_merges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    untouched = str(HERE / "submissions" / "untouched.ipynb")
    for k in (1, 2):
        assert cli.main(["grade", untouched, "--out", str(tmp_path / f"s{k}"), "--quiet",
                         "--seed", "5", "--shard", f"{k}/2"]) == 0  # fmt: skip
    capsys.readouterr()
    assert cli.main(["grade", "--merge", str(tmp_path / "s1"), str(tmp_path / "s2"),
                     "--out", str(tmp_path / "all")]) == 0  # fmt: skip
    assert "Graded 1 submission(s)" in capsys.readouterr().out
    assert cli.main(["grade", "--merge", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no grades.json" in capsys.readouterr().err


def test_the_cli_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["grade", "x.ipynb", "--out", str(tmp_path), "--shard", "3/2"])
    assert "K must be from 1 to N" in capsys.readouterr().err
    assert cli.main(["grade", "--out", str(tmp_path)]) == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    untouched = str(HERE / "submissions" / "untouched.ipynb")
    assert cli.main(["grade", untouched, "--out", str(blocker / "grades")]) == 2
    assert "cannot write the reports" in capsys.readouterr().err


def test_an_answer_may_import_citylib_s_modules_either_way(tmp_path: Path) -> None:
    """``from citylib.sprint import default_sources`` and ``import citylib.clock`` in the
    graded cell work in the grader's child as ``from citylib import sprint`` does."""
    answer = (
        "import asyncio\n\nimport citylib.clock\nfrom citylib.sprint import default_sources\n\n\n"
        "async def parallel_fetch(sources=None) -> dict:\n"
        "    if sources is None:\n"
        "        sources = default_sources()\n"
        "    start = citylib.clock.now()\n"
        "    names = list(sources)\n"
        "    answers = await asyncio.gather(*(sources[name]() for name in names))\n"
        "    merged = dict(zip(names, answers))\n"
        "    merged['total_latency'] = citylib.clock.now() - start\n"
        "    return merged\n"
    )
    nb = json.loads((HERE / "submissions" / "correct_gather.ipynb").read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if "parallel-fetch-sprint" in c["metadata"].get("tags", [])]
    cell["source"] = answer
    path = tmp_path / "either_import.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    (record,) = grade_batch([path], timeout=TIMEOUT, seed=SEED).records
    assert (record.status, record.score) == ("ok", DEFAULTS.max_score), record
