"""What every benchmark shares: samples, figures, the table and the JSON record.

A :class:`Figure` is one row of the table: citylib's number and its baseline's,
both measured in the same run (this machine is shared and noisy, so a ratio of two
numbers taken side by side says more than either alone), each the median of
several repeats with its spread.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    """Repeated measurements of one thing, in ``unit``."""

    values: list[float]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """Half the range as a fraction of the median (0.03 = ±3 %)."""
        if len(self.values) < 2 or self.median == 0:
            return 0.0
        return (max(self.values) - min(self.values)) / 2 / abs(self.median)

    def text(self) -> str:
        """Median and spread, such as ``1.27 s ±3%``."""
        out = f"{_number(self.median)} {self.unit}".rstrip()
        if len(self.values) > 1:
            out += f" ±{self.spread * 100:.{1 if self.spread < 0.1 else 0}f}%"
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "spread": self.spread,
            "repeats": len(self.values),
            "unit": self.unit,
            "values": self.values,
        }


@dataclass
class Figure:
    """One row of the table.

    Attributes:
        key: The benchmark it belongs to (``--only KEY``).
        name: The figure, as the table says it.
        citylib: citylib's measurement.
        baseline: The baseline's measurement, taken in the same run.
        baseline_name: What the baseline is.
        goal: The goal in words, such as ``"≤ 50 ms"``.
        met: Whether the goal was met (``None`` when there was nothing to judge).
        notes: One or two sentences: how it was measured, what bounds it.
        extra: Further figures for the JSON record.
        paired: citylib over baseline, one ratio per round where both were measured
            back to back; its median is steadier on a busy machine than the ratio of
            the two medians, and becomes :attr:`ratio` when given.
    """

    key: str
    name: str
    citylib: Sample
    baseline: Sample
    baseline_name: str
    goal: str
    met: bool | None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    paired: list[float] | None = None

    @property
    def ratio(self) -> float:
        """citylib over the baseline: the median paired ratio, else the medians' ratio."""
        if self.paired:
            return statistics.median(self.paired)
        base = self.baseline.median
        return self.citylib.median / base if base else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "figure": self.name,
            "citylib": self.citylib.as_dict(),
            "baseline": {"name": self.baseline_name, **self.baseline.as_dict()},
            "ratio": self.ratio,
            "ratio_of_medians": (
                self.citylib.median / self.baseline.median if self.baseline.median else None
            ),
            "paired_ratios": self.paired,
            "goal": self.goal,
            "met": self.met,
            "notes": self.notes,
            "extra": self.extra,
        }


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


@contextmanager
def fresh_heap(paused: bool = False) -> Iterator[None]:
    """One contender's turn from a full collection (untimed), the collector paused if asked.

    Without it, the garbage collector's debt moves between contenders: what one turn
    builds after its timed part (a recording's lanes or trips) calls for a full
    collection that falls in the next turn, often the bare one's.
    """
    gc.collect()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        gc.enable()


def turns(names: Sequence[str], rounds: int) -> Iterator[str]:
    """Whose turn it is to be measured: every name each round, order reversed every round.

    Taking turns spreads the machine's slow moments over every contender, and the
    reversal cancels any advantage of going first (a warm cache, a fresh heap).
    """
    for round_ in range(rounds):
        yield from (names if round_ % 2 == 0 else reversed(names))


def interleave(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Measure several things in :func:`turns`; what each measured, by name."""
    out: dict[str, list[float]] = {name: [] for name in measures}
    for name in turns(list(measures), rounds):
        out[name].append(measures[name]())
    return out


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "commit": commit,
        "load_average_at_start": load,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(figures: Iterable[Figure]) -> str:
    """The figures as a Markdown table (it reads as plain text too)."""
    head = ("figure", "citylib", "baseline", "ratio", "goal", "met?")
    rows = [
        (
            f.name,
            f.citylib.text(),
            f"{f.baseline.text()} ({f.baseline_name})",
            f"{f.ratio:.3f}×" if 0.5 <= f.ratio < 10 else f"{f.ratio:.3g}×",
            f.goal,
            {True: "yes", False: "**no**", None: "–"}[f.met],
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in rows)])
