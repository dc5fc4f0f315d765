"""The grader's reports and batch, attacked: every file name, printed string, error
text and number a submission controls must land as inert text, and never stop a class.

One module-scoped class folder of hostile files is graded once through the command
line (its pages are also opened in Chromium by tests/browser/test_report_pages.py);
the rest of the tests write reports from records made here, which costs no grading.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from citylib import _cli as cli
from citylib.grading import DEFAULTS, BatchReport, merge
from citylib.grading._batch import labels, submission_seed
from citylib.grading._messages import CallSpan, CheckOutcome, DriveReport, GradeRecord
from citylib.grading._report import feedback_page, page_name, write_reports
from citylib.grading._safe import CSV_CELL_CHARS, csv_cell, printable, strict_json

HERE = Path(__file__).parent
SUBMISSIONS = HERE / "submissions"
SOLUTION = HERE.parent / "solutions" / "05_parallel_fetch_sprint.ipynb"
SEED = 271828
TIMEOUT = 6.0

#: Markup a student may put anywhere: if any of it is ever parsed, an element appears.
HOSTILE = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    '"><svg onload="window.__pwned=3"></svg></pre></style></title></textarea>'
    "<a href='javascript:window.__pwned=4'>x</a>"
)


def _spec() -> Any:
    script = SUBMISSIONS / "make_submissions.py"
    spec = importlib.util.spec_from_file_location("make_submissions", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook(answer: str) -> str:
    """The learner's notebook with ``answer`` as its Sprint cell."""
    return json.dumps(_spec().build("x", answer, None))


RAISES_SURROGATE = """async def parallel_fetch(sources=None) -> dict:
    raise RuntimeError("a lone surrogate: \\ud800 and \\udce9 " + chr(0xDFFF))
"""
RAISES_FORMULA_CLASS = """Evil = type('=HYPERLINK("http://evil.example/","go")', (Exception,), {})


async def parallel_fetch(sources=None) -> dict:
    raise Evil("=1+2")
"""
PRINTS_HOSTILE = (
    "import asyncio\n\nfrom citylib import clock, sprint\n\n"
    f"print({HOSTILE!r})\n\n\n" + _spec().GATHER.split("\n\n\n", 1)[1]
)


def tags(page: str) -> list[str]:
    """Every element the page really holds, as a browser's parser would see them."""
    found: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append(tag)
            for name, value in attrs:
                assert not name.startswith("on"), (tag, name, value)
                assert not (value or "").lstrip().lower().startswith("javascript:"), (tag, value)

    Tags().feed(page)
    return found


def assert_inert(page: str) -> None:
    """No element a student's text could have made: no script, no handler, no
    javascript: link, no foreign image, and the page's own CSP in force."""
    found = tags(page)
    assert "script" not in found and "iframe" not in found and "textarea" not in found
    assert "window.__pwned" not in page.replace("window.__pwned=", "")  # only as text
    assert not re.search(r"<img(?![^>]*src=\"data:image/png;base64,)", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


# ------------------------------------------------------------- the hostile class


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "class"
    folder.mkdir()
    untouched = SUBMISSIONS / "untouched.ipynb"
    shutil.copy(SUBMISSIONS / "correct_gather.ipynb", folder / "alice.ipynb")
    os.symlink(folder / "alice.ipynb", folder / "mallory.ipynb")  # graded as Alice?
    os.symlink(SOLUTION, folder / "peek.ipynb")  # the teacher's solution, 10/10?
    shutil.copy(untouched, folder / "=1+2.ipynb")
    shutil.copy(untouched, Path(os.fsdecode(bytes(folder) + b"/caf\xe9.ipynb")))
    shutil.copy(untouched, folder / "evil\u202egnp.ipynb")
    shutil.copy(untouched, folder / "<img src=x onerror=alert(1)>.ipynb")
    shutil.copy(untouched, folder / "a b.ipynb")
    shutil.copy(untouched, folder / "a_b.ipynb")
    (folder / "surrogate.ipynb").write_text(notebook(RAISES_SURROGATE), encoding="utf-8")
    (folder / "hyperlink.ipynb").write_text(notebook(RAISES_FORMULA_CLASS), encoding="utf-8")
    (folder / "prints.ipynb").write_text(notebook(PRINTS_HOSTILE), encoding="utf-8")
    (folder / "nested.ipynb").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    (folder / "folder.ipynb").mkdir()  # a folder that looks like a notebook
    os.mkfifo(folder / "pipe.ipynb")  # never opened for reading: it would wait forever
    for sub in ("a", "b"):  # two x.ipynb, one roster entry "x"
        (folder / sub).mkdir()
        shutil.copy(untouched, folder / sub / "x.ipynb")
    os.symlink(SOLUTION.parent, folder / "linked")  # a folder linked to the solutions
    roster = root / "roster.csv"
    roster.write_text(
        "submission,Student,ID,SIS User ID,SIS Login ID,Section\n"
        "x,Xavier,7,S7,xav,A\nalice,Alice,1,S1,alice,A\nmallory,Mallory,2,S2,mal,A\n",
        encoding="utf-8",
    )
    paths = sorted(str(p) for p in folder.rglob("*.ipynb"))
    paths.append(str(folder / "linked" / SOLUTION.name))  # as the shell's */*.ipynb finds it
    paths.append(str(folder / "alice.ipynb"))  # given twice
    out = root / "out"
    argv = ["grade", *paths, "--out", str(out), "--roster", str(roster), "--quiet",
            "--seed", str(SEED), "--timeout", str(TIMEOUT)]  # fmt: skip
    return {"folder": folder, "out": out, "argv": argv}


@pytest.fixture(scope="module")
def graded(hostile_class: dict[str, Any]) -> dict[str, Any]:
    import contextlib
    import io

    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = cli.main(hostile_class["argv"])
    out = hostile_class["out"]
    report = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    records = {r["submission"]: r for r in report["submissions"]}
    return {**hostile_class, "code": code, "err": err.getvalue(), "std": std.getvalue(),
            "report": report, "records": records}  # fmt: skip


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_the_hostile_class_finishes_with_every_report(graded: dict[str, Any]) -> None:
    assert graded["code"] == 0, graded["err"]
    out, records = graded["out"], graded["records"]
    for name in ("grades.csv", "grades.json", "class.html", "canvas.csv"):
        (out / name).read_bytes().decode("utf-8")  # written, and valid UTF-8
    rows = read_csv(out / "grades.csv")
    assert len(rows) == 1 + len(records)
    # Every file that is a file has its row, labelled by its own path, once.
    expected = {"alice.ipynb", "mallory.ipynb", "peek.ipynb", "'=1+2.ipynb", "caf\\xe9.ipynb",
                "evil\\u202egnp.ipynb", "<img src=x onerror=alert(1)>.ipynb", "a b.ipynb",
                "a_b.ipynb", "surrogate.ipynb", "hyperlink.ipynb", "prints.ipynb",
                "nested.ipynb", "a/x.ipynb", "b/x.ipynb"}  # fmt: skip
    assert {row[0] for row in rows[1:]} == expected
    assert len(list((out / "feedback").iterdir())) == len(records)


def test_a_symlink_is_refused_never_graded_as_its_target(graded: dict[str, Any]) -> None:
    records = graded["records"]
    assert records["alice.ipynb"]["status"] == "ok" and records["alice.ipynb"]["score"] == 10
    for link in ("mallory.ipynb", "peek.ipynb"):  # to alice; to the solution notebook
        record = records[link]
        assert record["status"] == "error" and record["score"] == 0 and record["bonus"] == 0
        assert "symbolic link" in record["error"] and record["sha256"] == ""
    page = (graded["out"] / "feedback" / "peek.html").read_text(encoding="utf-8")
    assert "refused: the file is a symbolic link" in page and "0/10 points" in page
    canvas = read_csv(graded["out"] / "canvas.csv")
    assert ["Alice", "1", "S1", "alice", "A", "10"] in canvas
    assert ["Mallory", "2", "S2", "mal", "A", "0"] in canvas
    assert sum(row[0] == "Alice" for row in canvas) == 1


def test_what_is_not_a_notebook_file_is_skipped_with_a_message(graded: dict[str, Any]) -> None:
    err = graded["err"]
    assert "folder.ipynb: skipped, a folder, not a notebook file" in err
    assert "pipe.ipynb: skipped, not a regular file" in err
    assert "alice.ipynb: skipped, the same file as" in err  # given twice, graded once
    assert f"linked/{SOLUTION.name}: skipped, its folder" in err and "is a symbolic link" in err
    page = (graded["out"] / "class.html").read_text(encoding="utf-8")
    assert "Needs your attention" in page and "folder.ipynb: skipped" in page
    nested = graded["records"]["nested.ipynb"]
    assert nested["status"] == "error" and "nested too deeply" in nested["error"]


def test_odd_bytes_and_lone_surrogates_cost_nobody_their_grade(graded: dict[str, Any]) -> None:
    records = graded["records"]
    assert records["caf\\xe9.ipynb"]["status"] == "not_attempted"
    surrogate = records["surrogate.ipynb"]
    assert surrogate["status"] == "error" and surrogate["score"] == 0
    text = (graded["out"] / "grades.json").read_text(encoding="utf-8")
    assert not re.search("[\ud800-\udfff]", text)
    assert "\\\\ud800" in text or "\\\\udce9" in text or "\\\\xe9" in text  # seen, escaped


def test_nothing_lands_as_a_formula(graded: dict[str, Any]) -> None:
    out = graded["out"]
    for name in ("grades.csv", "canvas.csv"):
        rows = read_csv(out / name)
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(rows)  # one row, one line: no newline inside a cell
    hyperlink = next(r for r in read_csv(out / "grades.csv") if r[0] == "hyperlink.ipynb")
    error = hyperlink[-1]
    assert error.startswith("'=HYPERLINK(") or "=HYPERLINK(" in error[1:]


def test_a_roster_entry_matched_twice_is_reported(graded: dict[str, Any]) -> None:
    assert "roster entry 'x' matches 2 submissions: a/x.ipynb, b/x.ipynb" in graded["err"]
    canvas = read_csv(graded["out"] / "canvas.csv")
    assert not any(row[0] == "Xavier" for row in canvas)  # the teacher settles it
    page = (graded["out"] / "class.html").read_text(encoding="utf-8")
    assert "roster entry &#39;x&#39; matches 2 submissions" in page


def test_the_hostile_pages_hold_no_student_markup(graded: dict[str, Any]) -> None:
    out = graded["out"]
    pages = [*sorted((out / "feedback").glob("*.html")), out / "class.html"]
    for path in pages:
        assert_inert(path.read_text(encoding="utf-8"))
    prints = (out / "feedback" / "prints.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in prints  # shown, as text
    names = {p.name for p in (out / "feedback").iterdir()}
    assert {"a_b.html", "a_b_.html"} <= names  # "a b" and "a_b": two pages
    assert "img_src_x_onerror_alert_1.html" in names
    assert "\u202e" not in (out / "class.html").read_text(encoding="utf-8")


def test_the_seed_stays_on_the_teachers_files(graded: dict[str, Any]) -> None:
    out = graded["out"]
    for path in (out / "feedback").iterdir():
        text = path.read_text(encoding="utf-8")
        assert str(SEED) not in text and "seed" not in re.sub(r"<[^>]+>", " ", text)
    assert str(SEED) in (out / "class.html").read_text(encoding="utf-8")
    assert graded["report"]["seed"] == SEED


# ------------------------------------------------------------- written from records


def report_of(*records: GradeRecord, shard: str = "", seed: int = 1) -> BatchReport:
    return BatchReport("0.1.0", seed, "full", True, 1, 1.0, 60.0, 8.0, 20.0, shard=shard,
                       counts={"ok": len(records)}, submissions=list(records))  # fmt: skip


def hostile_record(name: str = "x.ipynb") -> GradeRecord:
    """A record with the student's text in every field a page or a cell shows."""
    drive = DriveReport(
        0, HOSTILE, {"weather": 1.0}, [CallSpan(HOSTILE, 0.0, 0.1, 1.0)], elapsed=1.1,
        reported=math.nan, outcome="returned", calls_span=1.0,
    )  # fmt: skip (an outcome is one of the judge's typed words: never the student's text)
    check = CheckOutcome("overlap", HOSTILE, False, HOSTILE, HOSTILE, 0, 5)
    return GradeRecord(
        name, name, "0" * 64, status="ok", score=5, error="=cmd|' /C calc'!A0\n" + HOSTILE,
        failing_line=HOSTILE, notes=[HOSTILE], output=HOSTILE, diagnosis=[HOSTILE],
        details=[check], stretch="fail", stretch_details=[check], stretch_drives=[drive],
        drives=[drive], sandbox=HOSTILE, grader_version=HOSTILE,
    )  # fmt: skip


def test_every_field_a_student_controls_is_escaped(tmp_path: Path) -> None:
    written = write_reports(report_of(hostile_record()), tmp_path)
    page = (tmp_path / "feedback" / "x.html").read_text(encoding="utf-8")
    assert_inert(page)
    assert page.count("&lt;script&gt;") >= 8  # each field shown, as text
    assert_inert(written["class"].read_text(encoding="utf-8"))


def test_stretch_and_error_formulas_are_quoted() -> None:
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\t=1", '=HYPERLINK("x")'):
        assert csv_cell(text) == "'" + text
    assert csv_cell("\r=1") == " ⏎ =1"  # a carriage return: a line break, shown
    assert csv_cell("ok") == "ok" and csv_cell(5) == 5 and csv_cell(None) is None
    assert csv_cell("a\n=1+2\r\nb") == "a ⏎ =1+2 ⏎ b"
    assert len(csv_cell("x" * 10**6)) < CSV_CELL_CHARS + 40  # a huge string, capped


def test_a_stretch_status_a_name_and_an_error_are_never_formulas(tmp_path: Path) -> None:
    record = GradeRecord("=1+2.ipynb", "=1+2.ipynb", "0" * 64, status="ok", score=3,
                         stretch="fail",
                         error="@SUM(1+1)*cmd|' /C calc'!A0", sandbox="-2+3")  # fmt: skip
    report = report_of(record)
    report.sandbox = "bwrap-of-the-future"  # a level this version does not know
    write_reports(report, tmp_path)
    header, values = read_csv(tmp_path / "grades.csv")
    row = dict(zip(header, values, strict=True))
    assert row["submission"] == "'=1+2.ipynb" and row["stretch"] == "fail"
    assert row["error"].startswith("'@SUM") and row["sandbox"] == "'-2+3"
    assert row["score"] == "3"  # numbers stay numbers
    canvas = read_csv(tmp_path / "canvas.csv")
    assert canvas[2] == ["'=1+2.ipynb", "", "", "", "", "3"]
    assert "sandbox bwrap-of-the-future" in (tmp_path / "class.html").read_text("utf-8")


def test_grades_json_is_strict_and_says_why(tmp_path: Path) -> None:
    record = hostile_record()
    record.drives[0].held = math.inf  # the judge's own number, should one ever be
    write_reports(report_of(record), tmp_path)

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    data = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"),
                      parse_constant=refuse)  # fmt: skip
    (saved,) = data["submissions"]
    assert saved["drives"][0]["reported"] is None and saved["drives"][0]["held"] is None
    notes = " ".join(saved["notes"])
    assert "your total_latency was nan" in notes and "held was inf" in notes
    page = (tmp_path / "feedback" / "x.html").read_text(encoding="utf-8")
    assert "your total_latency was nan" in page and "no <code>total_latency</code> number" in page
    assert strict_json({"a": math.nan, "b": ["\ud800"]}) == '{"a": null, "b": ["\\\\ud800"]}'


def test_output_names_never_leave_the_feedback_folder(tmp_path: Path) -> None:
    names = ["../../x.ipynb", "/etc/passwd", "..", ".ipynb", "a/" * 200 + "deep.ipynb",
             "Alice.ipynb", "alice.ipynb", "con.ipynb", "\u202ex.ipynb", "😀.ipynb"]  # fmt: skip
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,120}", page_name(name)), name
        assert not page_name(name).startswith(".")
    records = [GradeRecord(n, n, "0" * 64, status="ok") for n in names]
    write_reports(report_of(*records), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    pages = list((tmp_path / "out" / "feedback").iterdir())
    assert len(pages) == len(names)  # Alice and alice apart, even where case is ignored
    assert len({p.name.casefold() for p in pages}) == len(names)


def test_bidi_and_control_characters_are_shown_not_obeyed() -> None:
    assert printable("evil\u202egnp.ipynb") == "evil\\u202egnp.ipynb"
    assert printable("a\x1b[31mred\x07") == "a\\x1b[31mred\\x07"
    assert printable("caf\udce9") == "caf\\xe9" and printable("\ud800") == "\\ud800"
    assert printable("line\nnext", keep_newlines=False) == "line\\nnext"
    assert labels([Path("/c/a\n=1+2.ipynb")]) == ["a\\n=1+2.ipynb"]  # one CSV line
    assert labels([Path(os.fsdecode(b"/c/caf\xe9.ipynb"))]) == ["caf\\xe9.ipynb"]


def test_a_regrade_cannot_be_predicted_from_a_page() -> None:
    """A page shows each drive's latencies. The same seed regrading a changed file
    must draw new ones (else a total_latency written in from the page passes)."""
    first = submission_seed(SEED, "a" * 64)
    assert submission_seed(SEED, "a" * 64) == first  # the same file: the same verdict
    assert submission_seed(SEED, "b" * 64) != first
    assert submission_seed(SEED + 1, "a" * 64) != first


def test_a_changed_file_regraded_with_the_same_seed_gets_new_latencies(tmp_path: Path) -> None:
    original = SUBMISSIONS / "hard_coded_latency.ipynb"
    changed = tmp_path / "again" / "hard_coded_latency.ipynb"
    changed.parent.mkdir()
    changed.write_text(original.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    seen = []
    for path in (original, changed):
        code = cli.main(["grade", str(path), "--out", str(tmp_path / path.parent.name),
                         "--quiet", "--seed", str(SEED), "--timeout", str(TIMEOUT)])  # fmt: skip
        assert code == 0
        data = json.loads((tmp_path / path.parent.name / "grades.json").read_text("utf-8"))
        seen.append([d["latencies"] for d in data["submissions"][0]["drives"]])
    assert seen[0] and seen[0] != seen[1]


def test_merge_names_what_is_wrong(tmp_path: Path) -> None:
    def slice_(name: str, shard: str, seed: int = 1) -> Path:
        record = GradeRecord(f"{name}.ipynb", f"{name}.ipynb", "0" * 64, status="ok", score=1)
        write_reports(report_of(record, shard=shard, seed=seed), tmp_path / name)
        return tmp_path / name

    one, two, three = slice_("a", "1/3"), slice_("b", "2/3"), slice_("c", "3/3")
    half = slice_("d", "1/2")
    other_seed = slice_("e", "3/3", seed=2)
    whole = slice_("f", "")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"slice 3/3 is missing"):
        merge([one, two], out)
    with pytest.raises(ValueError, match=r"slices 2/3, 3/3 are missing"):
        merge([one], out)
    with pytest.raises(ValueError, match=r"is slice 1/2, .* a slice of 3"):
        merge([one, two, three, half], out)
    with pytest.raises(ValueError, match=r"slice 1/3 is given twice"):
        merge([one, one, two, three], out)
    with pytest.raises(ValueError, match=r"graded with seed 2, .* with 1"):
        merge([one, two, other_seed], out)
    with pytest.raises(ValueError, match=r"holds a whole class, not a slice"):
        merge([one, two, three, whole], out)
    assert not out.exists()  # nothing written
    merged = merge([three, one, two], out)
    assert [r.submission for r in merged.submissions] == ["a.ipynb", "b.ipynb", "c.ipynb"]
    assert merge([whole], tmp_path / "alone").submissions[0].submission == "f.ipynb"


def test_a_lanes_chart_escapes_what_it_draws() -> None:
    from citylib._views.report_charts import lanes_svg

    svg = lanes_svg([(HOSTILE, 0.0, 0.1, 1.0), (HOSTILE, 0.0, None, None)], 1.0,
                    reported=0.5, title=HOSTILE)  # fmt: skip
    assert tags(svg).count("svg") == 1 and "script" not in tags(svg)


def test_a_huge_error_is_cut_on_the_pages(tmp_path: Path) -> None:
    record = GradeRecord("x.ipynb", "x.ipynb", "0" * 64, status="error", error="E" * 10**6)
    page = feedback_page(record, report_of(record))
    assert len(page) < 20_000 and "more characters" in page
    write_reports(report_of(record), tmp_path)
    assert (tmp_path / "class.html").stat().st_size < 200_000
    assert (tmp_path / "grades.csv").stat().st_size < 2 * CSV_CELL_CHARS + 1000
    assert DEFAULTS.max_score == 10


def test_a_lone_surrogate_is_refused_by_the_judge_and_a_status_word_must_be_one() -> None:
    """Encoding a lone surrogate (an exception's text) never crashes the child, and the
    judge refuses such a frame, as it refuses an outcome or stretch status that is not
    one of its typed words: the child escapes its text before sending (test_grading)."""
    from citylib.grading._messages import FrameError, FrameReader, Hello, encode_frame

    frame = encode_frame(Hello(1, 3, "bad \ud800 and \udce9 text"))
    with pytest.raises(FrameError, match="lone surrogate"):
        FrameReader().feed(frame)
    with pytest.raises(FrameError, match="not one of its words"):
        report = report_of(hostile_record())
        report.submissions[0].drives[0].outcome = HOSTILE  # type: ignore[assignment]
        BatchReport.from_json(report.to_json())


def test_a_huge_total_latency_is_shown_short(tmp_path: Path) -> None:
    drive = DriveReport(0, "parallel_fetch", {"weather": 1.0}, elapsed=1.1, reported=1e308)
    record = GradeRecord("x.ipynb", "x.ipynb", "0" * 64, status="ok", drives=[drive])
    page = feedback_page(record, report_of(record))
    assert "said <b>1e+308</b>" in page and "inf" not in page


def test_nothing_but_folders_is_a_clear_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.ipynb").mkdir()
    assert cli.main(["grade", str(tmp_path / "x.ipynb"), "--out", str(tmp_path / "o")]) == 2
    assert "nothing to grade" in capsys.readouterr().err
