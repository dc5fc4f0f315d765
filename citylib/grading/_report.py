"""A graded batch on disk: grades.csv and .json, feedback pages, the class page, canvas.csv.

* ``grades.csv``: one row per submission, a column per check.
* ``grades.json``: a :class:`~._messages.BatchReport`, everything (the seed, the
  sandbox, every drive's observed calls); ``citylib grade --merge`` reads it back.
* ``feedback/<submission>.html``: one self-contained page to send each student
  (no external URL): the student's own lanes as the judge saw them, measured time
  against their ``total_latency``, the speed-up over one lane, the failing line,
  each check with its hint and points, and what they printed, escaped.
* ``class.html``: the score distribution and each check's pass rate as charts, and
  the table of submissions, linking to their pages.
* ``canvas.csv``: Canvas's gradebook import format; ``roster`` maps submissions to
  students (without one, the rows carry only the submission's name).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from citylib import __version__
from citylib._lessons.judge import CHECKS
from citylib._lessons.sprint_contract import SPRINT_TAG
from citylib._views import report_charts
from citylib.grading import _misconceptions
from citylib.grading._batch import Batch
from citylib.grading._messages import (
    DEFAULTS,
    BatchReport,
    DriveReport,
    GradeRecord,
)
from citylib.grading._rubric import DEFAULT as DEFAULT_RUBRIC
from citylib.grading._safe import csv_cell, json_ready, printable
from citylib.grading._sandbox import describe

__all__ = [
    "CANVAS_COLUMNS",
    "CSV_COLUMNS",
    "Roster",
    "batch_report",
    "class_page",
    "feedback_page",
    "page_name",
    "read_roster",
    "summary",
    "write_reports",
]

#: The columns of ``grades.csv``, in order (one per check after ``max_score``).
CSV_COLUMNS = (
    "submission", "sha256", "status", "score", "max_score", *(c.id for c in CHECKS),
    "stretch", "bonus", "sandbox", "verified", "seed", "grader_version", "seconds", "error",
)  # fmt: skip

#: Canvas's gradebook columns before the assignment's.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")

#: A roster: submission name -> Canvas's columns for that student.
Roster = dict[str, dict[str, str]]

_STATUS_LINE = {
    "ok": "✅ graded",
    "not_attempted": "⏳ not attempted yet",
    "timeout": "⏱ timed out: nothing ran to the end, so no points",
    "child_died": "💥 your code ended its own process: no points",
    "error": "⚠️ your code stopped with an error: no points",
    "grader_fault": "🛠 the grader failed, not you: no score yet (your teacher will regrade)",
}

_STRETCH_LINE = {
    "pass": "🌟 passed: one bonus point.",
    "fail": "❌ not yet: see below.",
    "locked": "🔒 locked. Complete the deliverable first, then unlock the stretch goal.",
    "not_attempted": "not attempted.",
    "error": "⚠️ the stretch cell raised an error (see the notes).",
}


def batch_report(batch: Batch) -> BatchReport:
    """The batch as the typed report ``grades.json`` holds."""
    return BatchReport(
        grader_version=__version__,
        seed=batch.seed,
        sandbox=batch.sandbox,
        verified=batch.verified,
        workers=batch.workers,
        seconds=round(batch.seconds, 3),
        per_minute=round(batch.per_minute, 1),
        speed=batch.speed,
        timeout=batch.timeout,
        shard=batch.shard,
        checks=_check_table(batch.rubric.points),
        counts=batch.counts(),
        submissions=list(batch.records),
        rubric=batch.rubric.record(),
    )


def _check_table(points: dict[str, int] | Any = DEFAULTS.weights) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "title": c.title, "points": points[c.id], "hint": c.hint} for c in CHECKS
    ]


def _rubric(report: BatchReport) -> dict[str, Any]:
    """The rubric the report was counted by (a report from before rubrics: the default)."""
    return report.rubric or DEFAULT_RUBRIC.record()


def _max_score(report: BatchReport) -> int:
    points = _rubric(report).get("points", DEFAULTS.weights)
    return sum(max(int(p), 0) for p in points.values())


def _student_details(r: GradeRecord, rubric: dict[str, Any]) -> list[Any]:
    """The checks as the student sees them: a check the rubric hides keeps its mark and
    points but not its detail or hint; without hints, no hint."""
    hidden, hints = set(rubric.get("hidden", [])), rubric.get("hints", True)
    return [
        dataclasses.replace(c, detail="", hint="")
        if c.id in hidden
        else (c if hints else dataclasses.replace(c, hint=""))
        for c in r.details
    ]


def page_name(label: str) -> str:
    """The feedback page's file name for a submission (``alice/05.ipynb`` → ``alice__05``):
    letters, digits, ``.``, ``_`` and ``-`` only, so never a path of its own, at most
    :data:`_PAGE_CHARS` characters (a hash of the label keeps long names apart)."""
    stem = label[: -len(".ipynb")] if label.endswith(".ipynb") else label
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("_.") or "submission"
    if len(name) > _PAGE_CHARS:
        digest = hashlib.sha256(label.encode("utf-8", "backslashreplace")).hexdigest()[:12]
        name = f"{name[: _PAGE_CHARS - 13]}-{digest}"
    return name


#: The longest feedback page name (file systems allow 255 bytes; a label of nested
#: folders joined by ``__`` could go past it).
_PAGE_CHARS = 120

#: Characters of an error shown on the class page, and on a feedback page.
_CLASS_ERROR_CHARS, _PAGE_ERROR_CHARS = 120, 4000

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("citylib.grading", "templates"),
    autoescape=True,  # every value is text unless marked otherwise: a student's too
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def _render(template: str, **values: Any) -> str:
    return _templates.get_template(template).render(**values)


def _cut(text: str, limit: int) -> str:
    return (
        text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    )


def _score_text(r: GradeRecord) -> str:
    if r.score is None:
        return "no score"
    return f"{r.score}/{r.max_score} points" + (f" · bonus {r.bonus}" if r.bonus else "")


def _hint_kind(record: GradeRecord) -> str:
    """Which hint the page gives (its words are in the template)."""
    if record.status in ("not_attempted", "timeout", "child_died", "grader_fault"):
        return record.status
    if record.status != "error":
        return ""
    if any(w in record.error for w in ("as a notebook", "nbformat", "symbolic link")):
        return "not_a_notebook"
    if record.error.startswith("SyntaxError"):
        return "syntax"
    if "grader's channel" in record.error:
        return "channel"
    if "parallel_fetch" in record.error or "tagged" in record.error:
        return "tagged"
    return "rerun"


def _in_city_seconds(reported: float | None, d: DriveReport, speed: float) -> float | None:
    """The function's own ``total_latency`` in city seconds: it may have timed itself in
    real seconds (``time.perf_counter()``), which the check accepts too."""
    if reported is None or speed <= 0:
        return reported
    return (
        reported * speed
        if abs(reported * speed - d.elapsed) < abs(reported - d.elapsed)
        else reported
    )


def _number(value: float) -> str:
    """A number a student wrote in, as the page shows it (``1e+300`` stays short)."""
    return f"{value:.2f}" if abs(value) < 1e9 else f"{value:.3g}"


def _drive_view(d: DriveReport, speed: float) -> dict[str, Any]:
    """What the page says about one drive (the template words it)."""
    lanes = [(s.source, s.invoked, s.started, s.ended) for s in d.spans]
    ordinal = d.drive + 1
    city = _in_city_seconds(d.reported, d, speed)
    svg = report_charts.lanes_svg(
        lanes, d.elapsed, reported=city, title=f"Drive {ordinal}: {d.elapsed:.2f} s measured"
    )
    return {
        # lanes_svg escapes every text it draws (tested in test_reports).
        "svg": markupsafe.Markup(svg),
        "ordinal": ordinal,
        "function": d.function,
        "elapsed": d.elapsed,
        "calls_span": d.calls_span,
        "reported": d.reported,
        "reported_text": "" if d.reported is None else _number(d.reported),
        "city": city,
        "one_lane": d.one_lane,
        "speed_up": (
            d.one_lane / d.calls_span if d.calls_span and d.outcome == "returned" else None
        ),
        "held": d.held if d.held > d.block_limit else None,
        "outcome_text": (
            ""
            if d.outcome == "returned"
            else {"raised": "it raised an error", "timeout": "it did not finish"}.get(
                d.outcome, d.outcome
            )
        ),
        "slowest": max(d.latencies.values(), default=0.0),
    }


def feedback_page(r: GradeRecord, report: BatchReport) -> str:
    """One submission's feedback, a self-contained HTML page (no seed: see the README)."""
    error = _cut(r.error, _PAGE_ERROR_CHARS)
    return _render(
        "feedback.html.j2",
        title=f"Feedback: {r.submission}",
        r=r,
        status_line=_STATUS_LINE.get(r.status, r.status),
        score_text=_score_text(r),
        error=error,
        where=bool(r.error and r.line and "line" not in r.error),
        hint="" if r.diagnosis and r.status == "error" else _hint_kind(r),
        timeout=report.timeout,
        sprint_tag=SPRINT_TAG,
        drives=[_drive_view(d, report.speed) for d in r.drives],
        stretch_line=(
            f"🌟 passed: {r.bonus} bonus point{'s' if r.bonus != 1 else ''}."
            if r.stretch == "pass"
            else _STRETCH_LINE.get(r.stretch, r.stretch)
        ),
        details=_student_details(r, _rubric(report)),
        rubric=_rubric(report),
        stretch_failed=[c for c in r.stretch_details if not c.passed],
        stretch_drives=(
            [_drive_view(d, report.speed) for d in r.stretch_drives] if r.stretch == "fail" else []
        ),
    )


def class_page(report: BatchReport, pages: dict[str, str], problems: Sequence[str] = ()) -> str:
    """The class at a glance: the two charts, what needs the teacher's attention
    (``problems``), and the table of submissions."""
    records = report.submissions
    scored = [r.score for r in records if r.score is not None]
    ungraded = sum(r.score is None for r in records)
    judged = [r for r in records if r.status == "ok"]
    rates = [
        (c.id, sum(bool(r.checks.get(c.id)) for r in judged) / len(judged) if judged else 0.0)
        for c in CHECKS
    ]
    histogram = report_charts.png_data_uri(
        report_charts.score_histogram_png(scored, _max_score(report), ungraded)
    )
    passing = report_charts.png_data_uri(report_charts.pass_rate_png(rates))
    rows = [
        {
            "r": r,
            "page": pages[r.submission],
            "score": _score_text(r),
            "error": _cut(r.error, _CLASS_ERROR_CHARS),
        }
        for r in records
    ]
    return _render(
        "class.html.j2",
        title="Parallel Fetch Sprint: the class",
        report=report,
        records=records,
        counts=" · ".join(f"{s} {n}" for s, n in report.counts.items() if n),
        mean=sum(scored) / len(scored) if scored else 0.0,
        max_score=_max_score(report),
        rubric=_rubric(report),
        misconceptions=_misconception_rows(records, report.speed),
        judged_or_error=sum(r.status in ("ok", "error") for r in records),
        scored=len(scored),
        judged=len(judged),
        sandbox_text=describe(report.sandbox),
        histogram=histogram,
        passing=passing,
        alt_rates=", ".join(f"{name} {100 * rate:.0f}%" for name, rate in rates),
        problems=list(problems),
        rows=rows,
    )


def _misconception_rows(records: Sequence[GradeRecord], speed: float) -> list[dict[str, Any]]:
    """The misconceptions table: each slip, its count, the notebook section that teaches
    it, and one example's first drive drawn as lanes under no name but the drive's."""
    rows = []
    for m in _misconceptions.count(records):
        example = None
        if m.example is not None and m.example.drives and m.example.drives[0].spans:
            drive = m.example.drives[0]
            example = _drive_view(drive, speed)
            example["svg"] = markupsafe.Markup(
                report_charts.lanes_svg(
                    [(s.source, s.invoked, s.started, s.ended) for s in drive.spans],
                    drive.elapsed,
                    reported=example["city"],
                    title=f"An example: {drive.elapsed:.2f} s measured",
                )
            )
        rows.append({"m": m, "example": example, "section": m.section.lstrip("# ").strip()})
    return rows


def summary(batch: Batch | BatchReport) -> str:
    """The console summary: the sandbox, the pace, then one line per submission."""
    report = batch if isinstance(batch, BatchReport) else batch_report(batch)
    counts = " · ".join(f"{status} {n}" for status, n in report.counts.items() if n)
    records = report.submissions
    width = max((len(r.submission) for r in records), default=0)
    lines = [
        f"Graded {len(records)} submission(s) in {report.seconds:.1f} s "
        f"({report.per_minute:.0f}/min, {report.workers} workers): {counts or 'none'}",
        f"Sandbox: {report.sandbox} ({describe(report.sandbox)}); verified: "
        f"{'yes' if report.verified else 'no'}; seed {report.seed}",
    ]
    for r in records:
        stretch = " +1 stretch" if r.bonus else ""
        score = "—" if r.score is None else f"{r.score}/{r.max_score}"
        lines.append(f"  {r.submission.ljust(width)}  {r.status:<13} {score}{stretch}")
    return "\n".join(lines)


def read_roster(path: str | Path) -> Roster:
    """A roster CSV: a ``submission`` column, then any of Canvas's student columns.

    Raises:
        ValueError: The file has no ``submission`` column, or names one twice.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "submission" not in reader.fieldnames:
            raise ValueError(f"{path}: a roster needs a 'submission' column")
        roster: Roster = {}
        for row in reader:
            name = (row.get("submission") or "").strip()
            if not name:
                continue
            if name in roster:
                raise ValueError(f"{path}: submission {name!r} is listed twice")
            roster[name] = {k: (row.get(k) or "").strip() for k in CANVAS_COLUMNS}
    return roster


def _roster_key(roster: Roster, label: str) -> str | None:
    """The roster entry a submission is: its label, its stem, or its file's name."""
    stem = label[: -len(".ipynb")] if label.endswith(".ipynb") else label
    for key in (label, stem, Path(label).name, Path(stem).name):
        if key in roster:
            return key
    return None


def _canvas_rows(
    report: BatchReport, roster: Roster | None
) -> tuple[list[list[Any]], list[str], list[str]]:
    """canvas.csv's student rows, the submissions the roster does not name, and the
    roster entries more than one submission matched (``a/x.ipynb`` and ``b/x.ipynb``
    are both ``x``): those are left out, for the teacher to settle, never guessed."""
    if roster is None:
        rows = [
            [r.submission, "", "", "", "", "" if r.score is None else r.score + r.bonus]
            for r in report.submissions
        ]
        return rows, [], []
    matched: dict[str, list[GradeRecord]] = {}
    unmatched = []
    for r in report.submissions:
        key = _roster_key(roster, r.submission)
        if key is None:
            unmatched.append(r.submission)
        else:
            matched.setdefault(key, []).append(r)
    rows, twice = [], []
    for key, records in matched.items():
        if len(records) > 1:
            names = ", ".join(r.submission for r in records)
            twice.append(f"roster entry {key!r} matches {len(records)} submissions: {names}")
            continue
        (r,) = records
        score = "" if r.score is None else r.score + r.bonus
        rows.append([*(roster[key].get(k, "") for k in CANVAS_COLUMNS), score])
    return rows, unmatched, twice


def _write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """Rows into ``path``, every cell through :func:`~._safe.csv_cell` (no formula,
    one line each)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([csv_cell(v) for v in row] for row in rows)


def _csv_row(record: GradeRecord) -> list[Any]:
    row: dict[str, Any] = {k: getattr(record, k) for k in CSV_COLUMNS if hasattr(record, k)}
    row["score"] = "" if record.score is None else record.score
    row["verified"] = int(record.verified)
    for check, passed in record.checks.items():
        if check in row or check in CSV_COLUMNS:
            row[check] = "" if passed is None else int(passed)
    return [row.get(k, "") for k in CSV_COLUMNS]


def _safe_report(report: BatchReport) -> BatchReport:
    """A copy of ``report`` safe to write anywhere: every string encodable and free of
    bidi tricks (:func:`~._safe.printable`), and a ``total_latency`` that was NaN or
    infinite shown as no number, with a note saying so."""
    data = report.to_dict()
    for record in data["submissions"]:
        for kind, what in (("drives", "drive"), ("stretch_drives", "stretch drive")):
            for drive in record[kind]:
                value = drive["reported"]
                if isinstance(value, float) and not math.isfinite(value):
                    drive["reported"] = None
                    record["notes"].append(
                        f"{what} {drive['drive'] + 1}: your total_latency was {value!r}, "
                        "not a number of seconds"
                    )
    ready, _ = json_ready(data, nulls=False)
    safe: BatchReport = BatchReport.from_dict(ready)
    return safe


def _json_text(report: BatchReport) -> str:
    """grades.json's text: strict JSON. A value that is no JSON number is ``null``, and
    its record's notes say which and why."""
    data = report.to_dict()
    records = data.pop("submissions")
    data, _ = json_ready(data)
    data["submissions"] = []
    for record in records:
        ready, reasons = json_ready(record)
        ready["notes"].extend(reasons)
        data["submissions"].append(ready)
    # allow_nan=False: had anything slipped past json_ready, this raises, never writes NaN.
    return json.dumps(data, ensure_ascii=False, allow_nan=False)


def write_reports(
    batch: Batch | BatchReport,
    out: str | Path,
    *,
    roster: Roster | None = None,
    problems: Sequence[str] = (),
) -> dict[str, Any]:
    """Write every report into ``out``.

    Args:
        batch: The graded batch, or a report read back.
        out: The folder (made when missing).
        roster: Submission name -> Canvas's columns, for canvas.csv.
        problems: What else the teacher should know (files skipped), shown on
            class.html beside the roster's.

    Returns:
        The paths written by kind (``csv``, ``json``, ``class``, ``canvas``,
        ``feedback``: the folder), ``unmatched``: submissions the roster lacks, and
        ``twice``: roster entries more than one submission matched.
    """
    report = _safe_report(batch if isinstance(batch, BatchReport) else batch_report(batch))
    report.misconceptions = [m.to_dict() for m in _misconceptions.count(report.submissions)]
    folder = Path(out)
    pages_dir = folder / "feedback"
    pages_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {
        "csv": folder / "grades.csv",
        "json": folder / "grades.json",
        "class": folder / "class.html",
        "canvas": folder / "canvas.csv",
        "feedback": pages_dir,
    }
    _write_csv(written["csv"], [CSV_COLUMNS, *(_csv_row(r) for r in report.submissions)])
    written["json"].write_text(_json_text(report) + "\n", encoding="utf-8")
    pages: dict[str, str] = {}
    used: set[str] = set()
    for r in report.submissions:
        name = page_name(r.submission)
        # "a b.ipynb" and "a_b.ipynb" would share a page, and "Alice" and "alice" on a
        # file system that ignores case.
        while name.casefold() in used:
            name += "_"
        used.add(name.casefold())
        pages[r.submission] = name
        (pages_dir / f"{name}.html").write_text(feedback_page(r, report), encoding="utf-8")
    rows, unmatched, twice = _canvas_rows(report, roster)
    _write_csv(
        written["canvas"],
        [
            [*CANVAS_COLUMNS, DEFAULTS.assignment],
            ["Points Possible", "", "", "", "", _max_score(report)],
            *rows,
        ],
    )
    written["unmatched"], written["twice"] = unmatched, twice
    skipped = batch.skipped if isinstance(batch, Batch) else []
    notes = [*skipped, *problems, *twice]
    if unmatched:
        notes.append(f"canvas.csv leaves out {len(unmatched)} submission(s) the roster does "
                     f"not name: {', '.join(unmatched)}")  # fmt: skip
    written["class"].write_text(
        class_page(report, pages, [printable(p) for p in notes]), encoding="utf-8"
    )
    return written
