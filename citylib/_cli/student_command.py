"""``citylib student``: write the learner's Sprint notebook from the teacher's solution."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from citylib.grading._notebook import write_student

__all__ = ["add_cli", "run_cli"]


def add_cli(subparsers: Any) -> None:
    """Add the ``student`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "student",
        help="write the learner's notebook from a teacher's solution notebook",
        description="Clear every ### BEGIN SOLUTION ... ### END SOLUTION region of SOLUTION "
        "and write the learner's notebook to LEARNER.",
    )
    parser.add_argument("solution", help="the teacher's notebook (with solutions)")
    parser.add_argument("learner", help="where to write the learner's notebook")
    parser.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    """Write the learner's notebook and say how many regions were cleared."""
    cleared = write_student(args.solution, args.learner)
    print(f"wrote {args.learner}: {cleared} solution region(s) cleared", file=sys.stderr)
    return 0
