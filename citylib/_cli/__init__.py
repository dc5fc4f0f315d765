"""``citylib``: the course's powers from a terminal.

Each subcommand lives beside the code it drives: a module in :data:`COMMANDS`
exposes ``add_cli(subparsers)``, which adds its parser and sets ``func`` (taking
the parsed args, returning an exit code). Modules are imported only when the
command line is parsed, so ``citylib --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: Modules that add a subcommand, in the order ``--help`` lists them.
COMMANDS = (
    "citylib._cli.race_command",
    "citylib._cli.serve_command",
    "citylib.grading._cli",
    "citylib.grading._gradescope",
    "citylib._cli.student_command",
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``citylib`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="citylib",
        description="Async Highways: race requests, serve AI City, surge it, grade the Sprint.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValueError as exc:  # bad input gets a clear message, not a traceback
        print(f"citylib {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
