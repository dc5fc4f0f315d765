"""The lessons' own pictures: a crash lesson's lanes, a surge's users over time.

Each takes a lesson's plain result and returns a ``matplotlib.figure.Figure`` in the
course's one style (:mod:`citylib._views.style`); :func:`citylib._views.charts.show`
displays any of them beside the result's one-line summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from citylib._core import clock
from citylib._core.watch import held_threshold, silences
from citylib._lessons.crashes import HEARTBEAT, Lesson
from citylib._lessons.surge import SurgeResult
from citylib._views import race_charts as charts
from citylib._views.style import TEXT, new_figure, tidy, without_emoji

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

__all__ = ["lesson_chart", "surge_chart"]

#: A surge's lines: Okabe-Ito colours, with a line style each so the chart reads
#: without colour too.
_SURGE_LINES: dict[str, dict[str, Any]] = {
    "ok": {"color": "#009E73", "linestyle": "-", "label": "served"},
    "waiting": {"color": "#0072B2", "linestyle": "--", "label": "still waiting"},
    "timeout": {"color": "#D55E00", "linestyle": "-.", "label": "gave up (timeout)"},
    "error": {"color": "#CC79A7", "linestyle": ":", "label": "errors"},
}


def lesson_chart(lesson: Lesson, *, horizon: float | None = None) -> Figure:
    """A crash lesson's lane chart: :func:`~citylib._views.charts.gantt` plus its marks.

    Args:
        lesson: What to draw.
        horizon: City seconds the x axis spans; give several lessons the same one
            to compare them by eye.
    """
    tl = lesson.timeline
    fig = charts.gantt(tl, title=f"{lesson.title}: {tl.makespan:.1f} s")
    ax = fig.axes[0]
    if lesson.heartbeat is not None:
        _draw_heartbeat(ax, lesson.heartbeat)
    rows = {label.get_text(): i for i, label in enumerate(ax.get_yticklabels())}
    for request, when, label in lesson.notes:
        if request in rows:
            y = rows[request]
            ax.plot([when, when], [y - 0.38, y + 0.38], color="black", linewidth=1.2)
            ax.text(when, y - 0.36, f" {label}", va="bottom", fontsize=7, color=TEXT)
    if lesson.marks:
        # A free band above the first row, so a mark's label never sits on a bar.
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top - 0.6)
        for when, label in lesson.marks:
            ax.axvline(when, color="#555555", linestyle=":", linewidth=1.4)
            ax.text(when, top - 0.3, f" {label}", va="center", fontsize=8, color=TEXT)
    if horizon is not None:
        ax.set_xlim(0, horizon * 1.12 + 0.5)
    return fig


def _draw_heartbeat(ax: Axes, beats: Sequence[float]) -> None:
    """A bottom row of ticks, one per heartbeat; a held loop leaves a gap, marked."""
    labels = [label.get_text() for label in ax.get_yticklabels()]
    row = len(labels)
    ax.set_yticks(range(row + 1), [*labels, "loop heartbeat"])
    ax.set_ylim(row + 0.6, -0.6)
    ax.plot(beats, [row] * len(beats), linestyle="none", marker="|", markersize=12, color="black")
    if not list(pairwise(beats)):
        return
    # The loop watcher's rule decides what counts as held, not the jitter of a busy loop.
    held = silences(beats, HEARTBEAT, at_least=held_threshold() * clock.speed())
    if not held:
        return
    start, gap = max(held, key=lambda h: h[1])
    end = start + gap
    ax.annotate(
        "",
        xy=(end, row),
        xytext=(start, row),
        arrowprops={"arrowstyle": "<->", "color": "#D55E00", "linewidth": 1.5},
    )
    ax.text(
        (start + end) / 2,
        row - 0.35,
        f"no heartbeat for {gap:.1f} s",
        ha="center",
        fontsize=8,
        color="#D55E00",
    )


def surge_chart(result: SurgeResult) -> Figure:
    """Requests over time in a surge: served, still waiting, gave up, errors."""
    fig = new_figure(7.5, 3.4)
    _plot_surge(fig.add_subplot(), result)
    return fig


def _mark_phases(ax: Axes, result: SurgeResult) -> list[Patch]:
    """Shade the surge's shape on the chart: accepting, awaiting, answering.

    Measured, not assumed: accepting lasts until the last user was sent, awaiting until
    the first answer, answering until the last. Drawn only when the three follow one
    another (the async route); a jammed route's phases overlap and are not named.
    The names go in the legend, each with its span: written on the chart they crossed
    the lines, and two short phases' names ran into each other.
    """
    from matplotlib.patches import Patch

    s = result.speed
    served = [h.end * s for h in result.hits if h.status == "ok"]
    if not served or not result.hits:
        return []
    sent, first, last = max(h.start * s for h in result.hits), min(served), max(served)
    if not 0 < sent < first < last:
        return []
    phases = (
        (0.0, sent, "accepting", "#4C72B0"),
        (sent, first, "awaiting the service", "#999999"),
        (first, last, "answering", "#2CA02C"),
    )
    handles = []
    for start, end, label, colour in phases:
        ax.axvspan(start, end, color=colour, alpha=0.1, linewidth=0, zorder=0)
        handles.append(
            Patch(color=colour, alpha=0.25, label=f"{label}, {start:.2f} to {end:.2f} s")
        )
    return handles


def _plot_surge(ax: Axes, result: SurgeResult) -> None:
    s = result.speed
    horizon = max(result.completion, 1e-3)
    for status in ("ok", "timeout", "error"):
        ends = sorted(h.end * s for h in result.hits if h.status == status)
        if ends or status == "ok":
            ax.step(
                [0.0, *ends, horizon],
                [0, *range(1, len(ends) + 1), len(ends)],
                where="post",
                linewidth=2,
                **_SURGE_LINES[status],
            )
    # Users waiting: +1 when a request is sent, -1 when it ends.
    events = sorted(
        [(h.start * s, 1) for h in result.hits] + [(h.end * s, -1) for h in result.hits]
    )
    xs, ys, level = [0.0], [0], 0
    for x, step in events:
        level += step
        xs.append(x)
        ys.append(level)
    ax.step(xs, ys, where="post", linewidth=1.5, **_SURGE_LINES["waiting"])
    if result.patience <= horizon * 1.05:
        ax.axvline(result.patience, color="#555555", linestyle=":", linewidth=1)
        ax.annotate(
            f"users give up ({result.patience:g} s)",
            (result.patience, 1),
            xytext=(-3, -2),
            xycoords=("data", "axes fraction"),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=8,
        )
    phases = _mark_phases(ax, result)
    ax.set_xlim(0, horizon * 1.05)
    ax.set_ylim(0, result.users * 1.05)
    ax.set_xlabel("city seconds since the surge began")
    ax.set_ylabel("users")
    heading = without_emoji(result.title) or urlsplit(result.url).path
    ax.set_title(f"{heading}: {result.users:,} users", loc="left", fontsize=11)
    tidy(ax, grid="both")
    lines, _ = ax.get_legend_handles_labels()
    ax.legend(
        handles=[*lines, *phases],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        frameon=False,
    )
