"""``citylib race``: the Concurrency Race in a terminal."""

from __future__ import annotations

import argparse
from typing import Any

from citylib._core import clock
from citylib._core.race import MODES, check_mode, race_blocking

__all__ = ["add_cli", "run_cli"]


def add_cli(subparsers: Any) -> None:
    """Add the ``race`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "race",
        help="race 6 AI requests through one lane, a thread pool and the Async Highway",
        description="Six AI requests enter the city at once. Watch each routing system cope.",
    )
    parser.add_argument(
        "--mode",
        choices=[*MODES, "all"],
        default="all",
        help="routing system to race (default: all three)",
    )
    parser.add_argument(
        "--lanes", type=int, default=2, help="lanes for the thread pool (default 2)"
    )
    parser.add_argument("--png", metavar="FILE", help="also write the lane chart as a PNG")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help=f"clock speed, like {clock.ENV_VAR} (default: 1, real time)",
    )
    parser.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    """Run the race(s), print the text lane chart and makespans, maybe write a PNG."""
    modes = list(MODES) if args.mode == "all" else [args.mode]
    check_mode(modes[0], args.lanes)
    if args.speed is not None:
        clock.validate_speed(args.speed)
    if args.png and not args.png.lower().endswith(".png"):
        raise ValueError(f"--png needs a file name ending in .png, not {args.png!r}")
    with clock.scaled(args.speed if args.speed is not None else clock.speed()):
        results = []
        for mode in modes:
            print(f"🚦 racing: {mode} …", flush=True)
            results.append(race_blocking(mode, lanes=args.lanes))
    from citylib._views import charts  # matplotlib only once the racing is done

    horizon = max(r.makespan for r in results)
    for r in results:
        print()
        print(charts.text_chart(r, horizon=horizon))
    print()
    print(charts.describe(results if len(results) > 1 else results[0]))
    if args.png:
        fig = charts.compare(results) if len(results) > 1 else charts.gantt(results[0])
        with open(args.png, "wb") as f:
            f.write(charts.to_png(fig))
        print(f"lane chart written to {args.png}")
    return 0
