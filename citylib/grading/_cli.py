"""``citylib grade SUBMISSION.ipynb... --out DIR``: grade a class from a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from citylib._lessons.judge import JudgeSettings
from citylib.grading._batch import DEFAULT_SPEED, GradeRecord, default_workers, grade_batch
from citylib.grading._report import summary, write_reports
from citylib.grading._sandbox import Limits, detection

__all__ = ["add_cli"]


def _progress(done: int, total: int, record: GradeRecord) -> None:
    print(
        f"[{done}/{total}] {record.submission}: {record.status} "
        f"{record.score}/{record.max_score} ({record.seconds:.1f} s)",
        file=sys.stderr,
    )


def _run(args: argparse.Namespace) -> int:
    limits = Limits(memory_mb=args.memory)
    found = None
    if all(Path(s).is_file() for s in args.submissions):  # else grade_batch says which is not
        # Which sandbox, and why not a stronger one: a teacher on a hub is rarely root.
        found = detection(limits)
        print(found.summary(), file=sys.stderr, flush=True)
    batch = grade_batch(
        args.submissions,
        workers=args.workers,
        timeout=args.timeout,
        settings=JudgeSettings(seed=args.seed),
        speed=args.speed,
        limits=limits,
        sandbox=None if found is None else found.sandbox,
        progress=None if args.quiet else _progress,
    )
    written = write_reports(batch, args.out)
    print(summary(batch))
    print(f"Wrote {written['csv']}, {written['json']} and {written['feedback']}.")
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``citylib`` command line."""
    parser = subparsers.add_parser(
        "grade",
        help="grade Parallel Fetch Sprint notebooks, each in its own sandboxed kernel",
        description="Grade Parallel Fetch Sprint submissions. Each runs in its own sandboxed "
        "kernel; writes DIR/grades.csv, DIR/grades.json and DIR/feedback.md.",
    )
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the reports")
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
        default=20.0,
        metavar="S",
        help="seconds each submission may run (default: 20)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=JudgeSettings().seed,
        help="seed of the judge's latencies (default: %(default)s)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help="city clock speed in graded kernels (default: %(default)s)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=Limits().memory_mb,
        metavar="MB",
        help="address space per process, MiB (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=_run)
