"""A graded batch on disk: ``grades.csv``, ``grades.json`` and Markdown feedback.

``feedback.md`` holds every submission's feedback (a summary table first); the
same sections, one per file, sit in ``feedback/`` to hand back to each learner.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from citylib._lessons.judge import CHECKS
from citylib._lessons.sprint_contract import SPRINT_TAG
from citylib.grading._batch import Batch, GradeRecord
from citylib.grading._sandbox import describe

__all__ = ["CSV_COLUMNS", "feedback", "summary", "write_reports"]

#: The columns of ``grades.csv``, in order (one per check after ``max_score``).
CSV_COLUMNS = (
    "submission", "sha256", "status", "score", "max_score", *(c.id for c in CHECKS),
    "stretch", "bonus", "sandbox", "seconds", "error",
)  # fmt: skip

#: Lines of a submission's printed output quoted in its feedback.
_OUTPUT_LINES = 15

_STATUS_LINE = {
    "ok": "✅ graded",
    "not_attempted": "⏳ not attempted yet",
    "timeout": "⏱ timed out",
    "kernel_died": "💥 the kernel died",
    "error": "⚠️ could not be graded",
}

_STRETCH_LINE = {
    "pass": "🌟 passed: one bonus point.",
    "fail": "❌ not yet: see below.",
    "locked": "🔒 locked. Complete the deliverable first, then unlock the stretch goal.",
    "not_attempted": "not attempted.",
    "error": "⚠️ the stretch cell raised an error (see the notes).",
}


def _status_hint(record: GradeRecord, timeout: float) -> str:
    if record.status == "not_attempted":
        return (
            "`parallel_fetch` still raises `NotImplementedError`. Replace "
            "`raise NotImplementedError()` with your code, then run "
            "`await sprint.check(parallel_fetch)`."
        )
    if record.status == "timeout":
        return (
            f"Your code was still running after {timeout:g} s. Look for a loop that "
            "never ends, or an `await` on something that never finishes."
        )
    if record.status == "kernel_died":
        return (
            "Your code ended its own Python process. Don't call `os._exit()` or "
            "`os.kill()`, and keep memory and files small."
        )
    if record.status == "error":
        if "as a notebook" in record.error or "nbformat" in record.error:
            return "Hand in the `.ipynb` file that Jupyter saved (File → Save Notebook)."
        if record.error.startswith("SyntaxError"):
            return "Fix the syntax error, run the cell to see that it is gone, then save."
        if "parallel_fetch" in record.error or "tagged" in record.error:
            return (
                f"Keep your answer in the cell tagged `{SPRINT_TAG}`, defining "
                "`async def parallel_fetch(sources=None) -> dict`."
            )
        return (
            "Restart your notebook and run it top to bottom: the same error should show "
            "up. Fix it, then run the self-check."
        )
    return ""


def _check_lines(details: list[dict[str, Any]]) -> list[str]:
    lines = []
    for c in details:
        if c["passed"]:
            lines.append(f"- ✅ {c['title']}")
        else:
            lines.append(f"- ❌ {c['title']}: *{c['detail']}*")
            lines.append(f"  💡 {c['hint']}")
    return lines


def _fenced(text: str) -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", text.rstrip("\n"), fence]


def feedback(record: GradeRecord, timeout: float = 20.0) -> str:
    """One submission's feedback as Markdown: status, each check with a hint, the stretch."""
    lines = [
        f"## {record.submission}",
        "",
        f"**{_STATUS_LINE[record.status]}**: {record.score}/{record.max_score} checks passed"
        + (f" · bonus {record.bonus}" if record.bonus else ""),
        "",
    ]
    if record.error and record.status != "timeout":  # the timeout hint says it all
        lines += [f"What happened: `{record.error}`", ""]
    hint = _status_hint(record, timeout)
    if hint:
        lines += [f"💡 {hint}", ""]
    if record.details:
        lines += [
            "Checks, judged on the grader's own sources:",
            "",
            *_check_lines(record.details),
            "",
        ]
    if record.stretch:
        line = _STRETCH_LINE.get(record.stretch, record.stretch)
        lines.append(f"**Stretch goal** (sequential vs async): {line}")
        if record.stretch == "fail":
            lines += ["", *_check_lines([c for c in record.stretch_details if not c["passed"]])]
        lines.append("")
    if record.notes:
        lines += ["Notes:", "", *(f"- {n}" for n in record.notes), ""]
    if record.output:
        shown = record.output.splitlines()[:_OUTPUT_LINES]
        hidden = len(record.output.rstrip("\n")) - len("\n".join(shown)) + record.output_dropped
        more = f" (the first {len(shown)} lines; {hidden:,} more characters not shown)"
        lines += [
            f"What your code printed{more if hidden > 0 else ''}:",
            "",
            *_fenced("\n".join(shown)),
            "",
        ]
    return "\n".join(lines)


def summary(batch: Batch) -> str:
    """The console summary: the sandbox, the pace, then one line per submission."""
    counts = " · ".join(f"{status} {n}" for status, n in batch.counts().items() if n)
    width = max(len(r.submission) for r in batch.records)
    lines = [
        f"Graded {len(batch.records)} submission(s) in {batch.seconds:.1f} s "
        f"({batch.per_minute:.0f}/min, {batch.workers} workers): {counts}",
        f"Sandbox: {batch.sandbox} ({describe(batch.sandbox)})",
    ]
    for r in batch.records:
        stretch = " +1 stretch" if r.bonus else ""
        lines.append(
            f"  {r.submission.ljust(width)}  {r.status:<13} {r.score}/{r.max_score}{stretch}"
        )
    return "\n".join(lines)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label.replace("/", "__")).strip("_") or "submission"


def _csv_row(record: GradeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {k: getattr(record, k) for k in CSV_COLUMNS if hasattr(record, k)}
    for check, passed in record.checks.items():
        row[check] = "" if passed is None else int(passed)
    return row


def write_reports(batch: Batch, out: str | Path) -> dict[str, Path]:
    """Write ``grades.csv``, ``grades.json``, ``feedback.md`` and ``feedback/*.md``.

    Returns:
        The paths written, by kind.
    """
    folder = Path(out)
    pages = folder / "feedback"
    pages.mkdir(parents=True, exist_ok=True)
    written = {
        "csv": folder / "grades.csv",
        "json": folder / "grades.json",
        "feedback": folder / "feedback.md",
    }
    with open(written["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_csv_row(r) for r in batch.records)
    record = {
        "sandbox": batch.sandbox,
        "sandbox_detail": describe(batch.sandbox),
        "workers": batch.workers,
        "seconds": round(batch.seconds, 3),
        "per_minute": round(batch.per_minute, 1),
        "speed": batch.speed,
        "timeout": batch.timeout,
        "settings": vars(batch.settings),
        "checks": [vars(c) for c in CHECKS],
        "counts": batch.counts(),
        "submissions": [r.to_dict() for r in batch.records],
    }
    written["json"].write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    sections = [feedback(r, batch.timeout) for r in batch.records]
    table = ["| submission | status | score | stretch |", "|---|---|---|---|"] + [
        f"| {r.submission} | {r.status} | {r.score}/{r.max_score} | {r.stretch} |"
        for r in batch.records
    ]
    head = [
        "# Parallel Fetch Sprint: feedback",
        "",
        f"{len(batch.records)} submission(s), sandbox `{batch.sandbox}` "
        f"({describe(batch.sandbox)}).",
        "",
        *table,
        "",
    ]
    written["feedback"].write_text("\n".join(head + sections), encoding="utf-8")
    used: set[str] = set()
    for r, text in zip(batch.records, sections, strict=True):
        name = _slug(r.submission)
        while name in used:  # "a b.ipynb" and "a_b.ipynb" would share a page
            name += "_"
        used.add(name)
        (pages / f"{name}.md").write_text(
            f"# Parallel Fetch Sprint: your feedback\n\n{text}", encoding="utf-8"
        )
    return written
