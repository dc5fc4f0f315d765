"""``citylib grade SUBMISSION.ipynb... --out DIR`` (and ``--shard``, ``--merge``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from citylib.grading._api import merge
from citylib.grading._batch import GradeRecord, default_workers, grade_batch
from citylib.grading._messages import DEFAULTS
from citylib.grading._report import Roster, read_roster, summary, write_reports
from citylib.grading._rubric import DEFAULT, Rubric, RubricError, default_toml, load
from citylib.grading._sandbox import Limits, detection

__all__ = ["add_cli", "parse_shard"]


def _progress(done: int, total: int, record: GradeRecord) -> None:
    score = "—" if record.score is None else f"{record.score}/{record.max_score}"
    print(
        f"[{done}/{total}] {record.submission}: {record.status} {score} ({record.seconds:.1f} s)",
        file=sys.stderr,
    )


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``, K from 1 to N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard wants K/N, such as 2/8, not {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be from 1 to N")
    return k, n


def _wrote(written: dict[str, Any]) -> None:
    print(
        f"Wrote {written['csv']}, {written['json']}, {written['class']}, {written['canvas']} "
        f"and {written['feedback']}/."
    )
    for message in written.get("twice", []):
        print(f"canvas.csv leaves out the {message}", file=sys.stderr)
    if written["unmatched"]:
        shown = ", ".join(written["unmatched"][:5])
        more = f" and {len(written['unmatched']) - 5} more" if len(written["unmatched"]) > 5 else ""
        print(
            f"canvas.csv leaves out {len(written['unmatched'])} submission(s) the roster does "
            f"not name: {shown}{more}",
            file=sys.stderr,
        )


def _writable(folder: str) -> str:
    """Why the reports could not be written into ``folder`` ("": they can), asked
    before grading, so a class's grades are never computed only to be lost."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / ".citylib-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        return f"cannot write the reports into {folder}: {exc.strerror or exc}"
    return ""


def _rubric(path: str | None) -> Rubric | None:
    """The teacher's rubric (``None``: refused, and why was said), its warnings said."""
    if not path:
        return DEFAULT
    try:
        found = load(path)
    except RubricError as exc:
        print(f"citylib grade --rubric: {exc}", file=sys.stderr)
        return None
    for warning in found.warnings:
        print(f"citylib grade: warning: the rubric breaks a teaching rule: {warning}",
              file=sys.stderr)  # fmt: skip
    return found


def _run(args: argparse.Namespace) -> int:
    if args.show_rubric:
        print(default_toml(), end="")
        return 0
    if not args.out:
        print("citylib grade: --out DIR is required", file=sys.stderr)
        return 2
    rubric = _rubric(args.rubric)
    if rubric is None:
        return 2
    if args.rubric and args.merge:
        print("citylib grade: --merge keeps the slices' own rubric; give --rubric when "
              "grading them", file=sys.stderr)  # fmt: skip
        return 2
    problem = _writable(args.out)
    if problem:
        print(f"citylib grade: {problem}", file=sys.stderr)
        return 2
    roster: Roster | None = None
    if args.roster:
        try:
            roster = read_roster(args.roster)
        except (OSError, ValueError) as exc:
            print(f"citylib grade: {exc}", file=sys.stderr)
            return 2
    if args.merge:
        if args.submissions:
            print("citylib grade: give submissions or --merge, not both", file=sys.stderr)
            return 2
        try:
            report = merge(args.merge, args.out, roster=roster)
        except ValueError as exc:
            print(f"citylib grade --merge: {exc}", file=sys.stderr)
            return 2
        print(summary(report))
        _wrote({
            "csv": Path(args.out) / "grades.csv", "json": Path(args.out) / "grades.json",
            "class": Path(args.out) / "class.html", "canvas": Path(args.out) / "canvas.csv",
            "feedback": Path(args.out) / "feedback", "unmatched": [],
        })  # fmt: skip
        return 0
    if not args.submissions:
        print("citylib grade: no submissions (or --merge DIR...) given", file=sys.stderr)
        return 2
    limits = Limits(memory_mb=args.memory)
    found = None
    if any(Path(s).is_file() for s in args.submissions):  # else grade_batch says why not
        # Which sandbox, and why not a stronger one: a teacher on a hub is rarely root.
        found = detection(limits)
        print(found.summary(), file=sys.stderr, flush=True)
    batch = grade_batch(
        args.submissions,
        workers=args.workers,
        timeout=args.timeout,
        seed=args.seed,
        speed=args.speed,
        limits=limits,
        sandbox=None if found is None else found.sandbox,
        shard=args.shard,
        progress=None if args.quiet else _progress,
        rubric=rubric,
    )
    for message in batch.skipped:
        print(f"citylib grade: {message}", file=sys.stderr)
    written = write_reports(batch, args.out, roster=roster)
    print(summary(batch))
    _wrote(written)
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``citylib`` command line."""
    parser = subparsers.add_parser(
        "grade",
        help="grade Parallel Fetch Sprint notebooks, the judge outside every sandbox",
        description="Grade Parallel Fetch Sprint submissions. Each runs in a plain Python "
        "child in its own sandbox; the judge runs here. Writes DIR/grades.csv, "
        "DIR/grades.json, DIR/feedback/<submission>.html, DIR/class.html and DIR/canvas.csv.",
    )
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION.ipynb")
    parser.add_argument("--out", metavar="DIR", help="folder for the reports (required)")
    parser.add_argument(
        "--rubric",
        metavar="FILE",
        help="the teacher's rubric, TOML: points per check, what depends on what, the "
        "bonus, what students see (default: today's weights)",
    )
    parser.add_argument(
        "--show-rubric",
        action="store_true",
        help="print the default rubric as a TOML file to edit, and stop",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="DIR",
        help="combine the reports of slices graded with --shard into --out",
    )
    parser.add_argument(
        "--shard",
        type=parse_shard,
        default=None,
        metavar="K/N",
        help="grade only slice K of N (K from 1), chosen by a hash of each name",
    )
    parser.add_argument(
        "--roster",
        metavar="FILE",
        help="CSV mapping 'submission' to Canvas's Student, ID, SIS User ID, SIS Login ID, "
        "Section columns, for canvas.csv",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"submissions graded at once (default: {default_workers()})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULTS.timeout,
        metavar="S",
        help="seconds each submission may run (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the judge's latencies, mixed with each file's hash (default: a fresh "
        "secret one, kept in grades.json; give one seed to every --shard of a class)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULTS.speed,
        help="city clock speed in graded children (default: %(default)s)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=Limits().memory_mb,
        metavar="MB",
        help="address space of each child, MiB (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=_run)
