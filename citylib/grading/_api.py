"""The teachers' two verbs: grade a class (or one slice of it), merge the slices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citylib.grading._batch import Batch, grade_batch
from citylib.grading._messages import BatchReport, FrameError
from citylib.grading._report import Roster, write_reports
from citylib.grading._sandbox import LEVELS

__all__ = ["grade", "merge", "read_report"]


def grade(
    submissions: Sequence[str | Path],
    out: str | Path,
    *,
    roster: Roster | None = None,
    **options: Any,
) -> Batch:
    """Grade ``submissions`` and write every report into ``out``.

    Args:
        submissions: Notebook files.
        out: The folder for the reports (made when missing): grades.csv,
            grades.json, feedback/<submission>.html, class.html and canvas.csv.
        roster: Submission name -> Canvas student columns, for canvas.csv.
        **options: Passed to :func:`~citylib.grading._batch.grade_batch` (``workers``,
            ``timeout``, ``seed``, ``settings``, ``speed``, ``limits``, ``sandbox``,
            ``shard``, ``progress``).

    Returns:
        The graded :class:`Batch`.
    """
    batch = grade_batch(list(submissions), **options)
    write_reports(batch, out, roster=roster)
    return batch


def read_report(folder: str | Path) -> BatchReport:
    """The :class:`BatchReport` in ``folder``/grades.json (a clear ``ValueError`` if none)."""
    path = Path(folder) / "grades.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{folder}: no grades.json to merge ({exc.strerror})") from None
    try:
        report: BatchReport = BatchReport.from_json(text)
    except (FrameError, TypeError) as exc:
        raise ValueError(f"{path}: not a grades.json this grader wrote ({exc})") from None
    return report


def _check_slices(folders: Sequence[str | Path], reports: Sequence[BatchReport]) -> None:
    """That ``reports`` are the slices 1/N to N/N of one class, each once."""
    slices: dict[int, str] = {}
    total: tuple[int, str | Path] | None = None
    for folder, r in zip(folders, reports, strict=True):
        if not r.shard:
            if len(reports) > 1:
                raise ValueError(f"{folder} holds a whole class, not a slice (--shard K/N)")
            return
        try:
            k, n = (int(part) for part in r.shard.split("/"))
        except ValueError:
            raise ValueError(f"{folder}: its shard {r.shard!r} is not K/N") from None
        if total is None:
            total = (n, folder)
        elif n != total[0]:
            raise ValueError(
                f"{folder} is slice {r.shard}, {total[1]} a slice of {total[0]}: "
                "merge the slices of one N"
            )
        if k in slices:
            raise ValueError(f"slice {r.shard} is given twice: {slices[k]} and {folder}")
        slices[k] = str(folder)
    assert total is not None
    missing = [f"{k}/{total[0]}" for k in range(1, total[0] + 1) if k not in slices]
    if len(missing) == 1:
        raise ValueError(f"slice {missing[0]} is missing: grade it with --shard, then merge")
    if missing:
        raise ValueError(
            f"slices {', '.join(missing)} are missing: grade them with --shard, then merge"
        )


def merge(
    folders: Sequence[str | Path], out: str | Path, *, roster: Roster | None = None
) -> BatchReport:
    """Combine the reports of slices graded apart (``--shard K/N``) into one.

    The slices must share the grader's version, the seed, the clock's speed and the
    time allowed, be slices of the same N, each once and none missing, and no
    submission may appear in two of them: otherwise a clear ``ValueError`` naming
    what is wrong, and nothing is written.

    Returns:
        The merged report (also written into ``out``).
    """
    if not folders:
        raise ValueError("nothing to merge")
    reports = [read_report(f) for f in folders]
    first = reports[0]
    for folder, r in zip(folders, reports, strict=True):
        for what in ("grader_version", "seed", "speed", "timeout"):
            if getattr(r, what) != getattr(first, what):
                raise ValueError(
                    f"{folder} was graded with {what} {getattr(r, what)!r}, "
                    f"{folders[0]} with {getattr(first, what)!r}: regrade with the same"
                )
    for folder, r in zip(folders, reports, strict=True):
        if r.rubric.get("sha256") != first.rubric.get("sha256"):
            raise ValueError(
                f"{folder} was graded with the rubric {r.rubric.get('name', 'default')!r}, "
                f"{folders[0]} with {first.rubric.get('name', 'default')!r}: regrade with the same"
            )
    _check_slices(folders, reports)
    seen: dict[str, str] = {}
    records = []
    for folder, r in zip(folders, reports, strict=True):
        for record in r.submissions:
            if record.submission in seen:
                raise ValueError(
                    f"{record.submission} is in both {seen[record.submission]} and {folder}"
                )
            seen[record.submission] = str(folder)
            records.append(record)
    records.sort(key=lambda rec: rec.submission)
    counts = {s: 0 for s in first.counts}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    seconds = max(r.seconds for r in reports)
    merged = BatchReport(
        grader_version=first.grader_version,
        seed=first.seed,
        # As strong as its weakest slice.
        sandbox=max(
            (r.sandbox for r in reports),
            key=lambda lv: LEVELS.index(lv) if lv in LEVELS else len(LEVELS),
        ),
        verified=bool(records) and all(rec.verified for rec in records),
        workers=sum(r.workers for r in reports),
        seconds=seconds,
        per_minute=round(60 * len(records) / seconds, 1) if seconds > 0 else 0.0,
        speed=first.speed,
        timeout=first.timeout,
        shard="",
        checks=first.checks,
        counts=counts,
        submissions=records,
        rubric=first.rubric,
    )
    write_reports(merged, out, roster=roster)
    return merged
