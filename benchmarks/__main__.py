"""``python -m benchmarks``: every performance goal beside its baseline, one run.

Prints the table (figure, citylib, baseline, ratio, goal, met?) and writes
``benchmarks/results.json`` with the machine it ran on. ``--only chart,import``
measures some figures alone (and updates just those in the results file);
``--quick`` is a smoke run in seconds whose figures are not comparable with the
goals (it writes nothing unless ``--out`` says where).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._core import ROOT, Figure, machine, table

#: Benchmark key → (module, rough real seconds a full run takes), in the table's order.
BENCHMARKS: dict[str, tuple[str, int]] = {
    "race": ("benchmarks.race", 50),
    "recording": ("benchmarks.recording", 20),
    "lanes": ("benchmarks.lanes", 30),
    "stepper": ("benchmarks.stepper", 20),
    "surge": ("benchmarks.surge", 110),
    "streaming": ("benchmarks.streaming", 40),
    "chart": ("benchmarks.chart", 10),
    "grader": ("benchmarks.grader", 100),
    "import": ("benchmarks.startup", 3),
    "learner": ("benchmarks.learner", 300),
}
RESULTS = ROOT / "benchmarks" / "results.json"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure citylib's performance goals against their baselines.",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEYS",
        help=f"comma-separated figures to measure: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: fewer rounds, smaller loads"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default: benchmarks/results.json; none with --quick)",
    )
    args = parser.parse_args(argv)
    keys = [k.strip() for chunk in args.only for k in chunk.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.keys = [k for k in BENCHMARKS if k in keys] if keys else list(BENCHMARKS)
    if args.out is None and not args.quick:
        args.out = RESULTS
    return args


def measure(key: str, quick: bool) -> list[Figure]:
    """Run one benchmark module."""
    module = importlib.import_module(BENCHMARKS[key][0])
    figures: list[Figure] = module.run(quick=quick)
    if quick:  # smaller loads and scaled clocks: nothing to judge against the goals
        for f in figures:
            f.met = None
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, write the results; 1 if a benchmark failed."""
    args = parse(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    where = machine()
    started = time.perf_counter()
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    for key in args.keys:
        guess = "" if args.quick else f" (about {BENCHMARKS[key][1]} s)"
        print(f"measuring {key}{guess}…", file=sys.stderr, flush=True)
        begun, load = time.perf_counter(), _load()
        try:
            for f in measure(key, args.quick):
                f.extra["load_average_before"] = load  # how busy the shared machine was
                figures.append(f)
        except Exception as exc:  # one broken benchmark must not hide the others
            errors[key] = "".join(traceback.format_exception_only(exc)).strip()
            traceback.print_exc()
        print(f"  {key}: {time.perf_counter() - begun:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    where["load_average_at_end"] = _load()

    print()
    print(table(figures))
    print()
    for f in figures:
        if f.notes:
            print(f"- {f.name}: {f.notes}")
    for key, error in errors.items():
        print(f"- {key}: FAILED: {error}")
    quick = " (quick: not comparable with the goals)" if args.quick else ""
    print(
        f"\n{where['cpu_count']} cores ({where['cpu']}), Python {where['python']}, "
        f"{where['platform']}, {where['date']}; {seconds:.0f} s{quick}; load average "
        f"{where['load_average_at_start']} at the start, {where['load_average_at_end']} at the end."
    )
    if args.out is not None:
        write(args.out, where, figures, errors, args.quick, seconds)
        print(f"results: {args.out}")
    return 1 if errors else 0


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write(
    path: Path,
    where: dict[str, Any],
    figures: Sequence[Figure],
    errors: dict[str, str],
    quick: bool,
    seconds: float,
) -> None:
    """Write the results file; figures measured now replace the same figures' old ones."""
    measured = {f.key for f in figures} | set(errors)
    kept: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            kept = [f for f in old.get("figures", []) if f.get("key") not in measured]
        except (OSError, ValueError):
            kept = []
    new = [{**f.as_dict(), "measured": where["date"]} for f in figures]
    order = list(BENCHMARKS)
    rows = sorted([*kept, *new], key=lambda f: order.index(f["key"]) if f["key"] in order else 99)
    record = {
        "machine": where,
        "quick": quick,
        "seconds": round(seconds, 1),
        "figures": rows,
        "errors": errors,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
