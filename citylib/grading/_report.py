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
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citylib import __version__
from citylib._lessons.judge import CHECKS
from citylib._lessons.sprint_contract import SPRINT_TAG
from citylib._views import report_charts
from citylib.grading._batch import Batch
from citylib.grading._messages import (
    DEFAULTS,
    BatchReport,
    CheckOutcome,
    DriveReport,
    GradeRecord,
)
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

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd}
.status{font-size:1.2rem;font-weight:600}.score{font-size:1.6rem;font-weight:700}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e4e4e4;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}.pass{color:#1a7f37}.fail{color:#b42318}
.hint{color:#555}pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;white-space:pre-wrap}
.meta{color:#666;font-size:.85rem}.drive{margin:1rem 0}code{background:#f3f3f3;padding:0 .2rem}
.n{white-space:nowrap}img{max-width:100%}
"""


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
        checks=_check_table(),
        counts=batch.counts(),
        submissions=list(batch.records),
    )


def _check_table() -> list[dict[str, Any]]:
    return [
        {"id": c.id, "title": c.title, "points": DEFAULTS.weights[c.id], "hint": c.hint}
        for c in CHECKS
    ]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page_name(label: str) -> str:
    """The feedback page's file name for a submission (``alice/05.ipynb`` → ``alice__05``)."""
    stem = label[: -len(".ipynb")] if label.endswith(".ipynb") else label
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("_") or "submission"


def _score_text(r: GradeRecord) -> str:
    if r.score is None:
        return "no score"
    return f"{r.score}/{r.max_score} points" + (f" · bonus {r.bonus}" if r.bonus else "")


def _status_hint(record: GradeRecord, timeout: float) -> str:
    if record.status == "not_attempted":
        return (
            "<code>parallel_fetch</code> still raises <code>NotImplementedError</code>. Replace "
            "<code>raise NotImplementedError()</code> with your code, then run "
            "<code>await sprint.check(parallel_fetch)</code>."
        )
    if record.status == "timeout":
        return (
            f"Your code was still running after its time ({timeout:g} s in all). Look for a "
            "loop that never ends, or an <code>await</code> on something that never finishes."
        )
    if record.status == "child_died":
        return (
            "Your code ended its own Python process. Don't call <code>os._exit()</code> or "
            "<code>os.kill()</code>, and keep memory and files small."
        )
    if record.status == "grader_fault":
        return "Nothing for you to fix: the grading machine had a problem."
    if record.status == "error":
        if "as a notebook" in record.error or "nbformat" in record.error:
            return "Hand in the <code>.ipynb</code> file that Jupyter saved (File → Save Notebook)."
        if record.error.startswith("SyntaxError"):
            return "Fix the syntax error, run the cell to see that it is gone, then save."
        if "grader's channel" in record.error:
            return "Use the sources you are given; don't write to the grader's connection."
        if "parallel_fetch" in record.error or "tagged" in record.error:
            return (
                f"Keep your answer in the cell tagged <code>{SPRINT_TAG}</code>, defining "
                "<code>async def parallel_fetch(sources=None) -&gt; dict</code>."
            )
        return (
            "Restart your notebook and run it top to bottom: the same error should show "
            "up. Fix it, then run the self-check."
        )
    return ""


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


def _drive_section(d: DriveReport, speed: float) -> str:
    lanes = [(s.source, s.invoked, s.started, s.ended) for s in d.spans]
    ordinal = d.drive + 1
    title = f"Drive {ordinal}: {d.elapsed:.2f} s measured"
    city = _in_city_seconds(d.reported, d, speed)
    svg = report_charts.lanes_svg(lanes, d.elapsed, reported=city, title=title)
    facts = [f"the grader measured <b>{d.elapsed:.2f} s</b>"]
    if d.calls_span is not None:
        facts.append(f"from your first call to the last answer: {d.calls_span:.2f} s")
    if d.reported is not None and city is not None and city != d.reported:
        facts.append(
            f"your <code>total_latency</code> said <b>{d.reported:.2f}</b> real seconds "
            f"({city:.2f} city seconds)"
        )
    elif d.reported is not None:
        facts.append(f"your <code>total_latency</code> said <b>{d.reported:.2f}</b>")
    else:
        facts.append("your result had no <code>total_latency</code> number")
    facts.append(f"one lane (each call after the last) takes {d.one_lane:.2f} s")
    if d.calls_span and d.outcome == "returned":
        facts.append(f"speed-up over one lane: <b>{d.one_lane / d.calls_span:.1f}×</b>")
    if d.held > d.block_limit:
        facts.append(f"your event loop was held for {d.held:.2f} s of real time")
    if d.outcome != "returned":
        facts.append({"raised": "it raised an error", "timeout": "it did not finish"}.get(
            d.outcome, d.outcome))  # fmt: skip
    slowest = max(d.latencies.values(), default=0.0)
    text = (
        f"Drive {ordinal} ({d.function}): " + "; ".join(facts) + ". "
        f"The slowest source alone takes {slowest:.2f} s."
    )
    return f'<div class="drive">{svg}<p>{text}</p></div>'


def _check_rows(details: Sequence[CheckOutcome], weighted: bool) -> str:
    rows = []
    for c in details:
        mark = '<span class="pass">✅</span>' if c.passed else '<span class="fail">❌</span>'
        what = _esc(c.title)
        if not c.passed:
            what += f'<br><i>{_esc(c.detail)}</i><br><span class="hint">💡 {_esc(c.hint)}</span>'
        points = f"<td>{c.points}/{c.max_points}</td>" if weighted else ""
        rows.append(f"<tr><td>{mark}</td><td>{what}</td>{points}</tr>")
    head = "<th>points</th>" if weighted else ""
    return f"<table><tr><th></th><th>check</th>{head}</tr>{''.join(rows)}</table>"


def feedback_page(r: GradeRecord, report: BatchReport) -> str:
    """One submission's feedback, a self-contained HTML page."""
    parts = [
        f"<h1>Parallel Fetch Sprint: feedback for {_esc(r.submission)}</h1>",
        f'<p class="status">{_esc(_STATUS_LINE.get(r.status, r.status))}</p>',
        f'<p class="score">{_esc(_score_text(r))}</p>',
    ]
    if r.error:
        where = f" (line {r.line} of your answer cell)" if r.line and "line" not in r.error else ""
        parts.append(f"<p>What happened: <code>{_esc(r.error)}</code>{where}</p>")
    if r.failing_line:
        parts.append(f"<p>The line:</p><pre>{_esc(r.failing_line)}</pre>")
    if r.diagnosis:  # the self-check's words: each mistake once, by its cause
        parts.append("<h2>What to fix</h2><ul>")
        parts.extend(f"<li>{_esc(d)}</li>" for d in r.diagnosis)
        parts.append("</ul>")
    hint = "" if r.diagnosis and r.status == "error" else _status_hint(r, report.timeout)
    if hint:
        parts.append(f"<p>💡 {hint}</p>")
    if r.drives:
        parts.append("<h2>Your lanes, as the grader saw them</h2>")
        parts.append(
            "<p>Each row is one call of a source: hatched while it was called but not yet "
            "awaited, coloured while it was driving. The dashed line is your "
            "<code>total_latency</code>. Times in city seconds.</p>"
        )
        parts.extend(_drive_section(d, report.speed) for d in r.drives)
    if r.details:
        parts.append("<h2>Checks, judged on the grader's own sources</h2>")
        parts.append(_check_rows(r.details, weighted=True))
    if r.stretch:
        parts.append("<h2>Stretch goal (sequential vs async)</h2>")
        parts.append(f"<p>{_esc(_STRETCH_LINE.get(r.stretch, r.stretch))}</p>")
        if r.stretch == "fail":
            parts.append(_check_rows([c for c in r.stretch_details if not c.passed], False))
        parts.extend(
            _drive_section(d, report.speed) for d in r.stretch_drives if r.stretch == "fail"
        )
    if r.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in r.notes))
        parts.append("</ul>")
    if r.output or r.output_dropped:
        more = f" ({r.output_dropped:,} more characters not shown)" if r.output_dropped else ""
        parts.append(f"<h2>What your code printed{more}</h2><pre>{_esc(r.output)}</pre>")
    verified = "yes" if r.verified else "no (the sandbox here could not isolate the judge)"
    parts.append(
        f'<p class="meta">Graded by citylib {_esc(r.grader_version)} · seed {r.seed} · '
        f"sandbox {_esc(r.sandbox)} · verified: {verified} · sha256 {_esc(r.sha256[:16])}…</p>"
    )
    return _page(f"Feedback: {r.submission}", "".join(parts))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def class_page(report: BatchReport, pages: dict[str, str]) -> str:
    """The class at a glance: the two charts and the table of submissions."""
    records = report.submissions
    scored = [r.score for r in records if r.score is not None]
    ungraded = sum(r.score is None for r in records)
    judged = [r for r in records if r.status == "ok"]
    rates = [
        (c.id, sum(bool(r.checks.get(c.id)) for r in judged) / len(judged) if judged else 0.0)
        for c in CHECKS
    ]
    histogram = report_charts.png_data_uri(
        report_charts.score_histogram_png(scored, DEFAULTS.max_score, ungraded)
    )
    passing = report_charts.png_data_uri(report_charts.pass_rate_png(rates))
    counts = " · ".join(f"{s} {n}" for s, n in report.counts.items() if n)
    mean = sum(scored) / len(scored) if scored else 0.0
    rows = []
    for r in records:
        link = f'<a href="feedback/{_esc(pages[r.submission])}.html">{_esc(r.submission)}</a>'
        rows.append(
            f"<tr><td>{link}</td><td>{_esc(r.status)}</td>"
            f'<td class="n">{_esc(_score_text(r))}</td>'
            f"<td>{_esc(r.stretch)}</td><td>{'yes' if r.verified else 'no'}</td>"
            f"<td>{_esc(r.error[:120])}</td></tr>"
        )
    alt_rates = ", ".join(f"{name} {100 * rate:.0f}%" for name, rate in rates)
    body = (
        "<h1>Parallel Fetch Sprint: the class</h1>"
        f"<p>{len(records)} submission(s): {_esc(counts)}. Mean score {mean:.1f}/"
        f"{DEFAULTS.max_score} over the {len(scored)} with a score.</p>"
        f'<p class="meta">citylib {_esc(report.grader_version)} · seed {report.seed} · sandbox '
        f"{_esc(report.sandbox)} ({_esc(describe(report.sandbox))}) · verified: "
        f"{'yes' if report.verified else 'no'}"
        + (f" · shard {_esc(report.shard)}" if report.shard else "")
        + "</p>"
        f'<img src="{histogram}" alt="Score distribution of {len(scored)} scored submissions">'
        f'<img src="{passing}" alt="Pass rates: {_esc(alt_rates)}">'
        f"<p>Pass rates among the {len(judged)} judged: {_esc(alt_rates)}.</p>"
        "<h2>Submissions</h2><table><tr><th>submission</th><th>status</th><th>score</th>"
        f"<th>stretch</th><th>verified</th><th>error</th></tr>{''.join(rows)}</table>"
    )
    return _page("Parallel Fetch Sprint: the class", body)


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


def _roster_entry(roster: Roster, label: str) -> dict[str, str] | None:
    stem = label[: -len(".ipynb")] if label.endswith(".ipynb") else label
    for key in (label, stem, Path(label).name, Path(stem).name):
        if key in roster:
            return roster[key]
    return None


def _write_canvas(path: Path, report: BatchReport, roster: Roster | None) -> list[str]:
    """Write ``canvas.csv``; returns the submissions the roster does not name."""
    column = f"{DEFAULTS.assignment}"
    unmatched = []
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_COLUMNS, column])
        writer.writerow(["Points Possible", "", "", "", "", DEFAULTS.max_score])
        for r in report.submissions:
            entry = _roster_entry(roster, r.submission) if roster is not None else None
            if roster is not None and entry is None:
                unmatched.append(r.submission)
                continue
            student = entry or {"Student": r.submission}
            score = "" if r.score is None else r.score + r.bonus
            writer.writerow([*(student.get(k, "") for k in CANVAS_COLUMNS), score])
    return unmatched


def _csv_row(record: GradeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {k: getattr(record, k) for k in CSV_COLUMNS if hasattr(record, k)}
    row["score"] = "" if record.score is None else record.score
    row["verified"] = int(record.verified)
    for check, passed in record.checks.items():
        row[check] = "" if passed is None else int(passed)
    return row


def write_reports(
    batch: Batch | BatchReport, out: str | Path, *, roster: Roster | None = None
) -> dict[str, Any]:
    """Write every report into ``out``.

    Returns:
        The paths written by kind (``csv``, ``json``, ``class``, ``canvas``,
        ``feedback``: the folder), and ``unmatched``: submissions the roster lacks.
    """
    report = batch if isinstance(batch, BatchReport) else batch_report(batch)
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
    with open(written["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_csv_row(r) for r in report.submissions)
    written["json"].write_text(report.to_json() + "\n", encoding="utf-8")
    pages: dict[str, str] = {}
    used: set[str] = set()
    for r in report.submissions:
        name = page_name(r.submission)
        while name in used:  # "a b.ipynb" and "a_b.ipynb" would share a page
            name += "_"
        used.add(name)
        pages[r.submission] = name
        (pages_dir / f"{name}.html").write_text(feedback_page(r, report), encoding="utf-8")
    written["class"].write_text(class_page(report, pages), encoding="utf-8")
    written["unmatched"] = _write_canvas(written["canvas"], report, roster)
    return written
