"""Your own lanes, drawn: one row per lane, running and awaiting apart, stalls marked.

A running stretch (the lane holds the loop) is vermillion, an awaiting one (suspended
at an ``await``, the loop free for the others) blue, as in notebook 02's heartbeat
chart. Each stall is a shaded band across every lane, labelled with the line that
held the loop. The axis counts city seconds, like every chart of the course (the
recording's real seconds times its speed); a stall's length is given in real time,
the one place real time is the point. All the bars of one kind are one collection,
so a thousand lanes draw in well under a second (``make bench``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citylib._core.lanes import Recording
from citylib._views.style import TEXT, new_figure, tidy, without_emoji

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AWAITING", "RUNNING", "STALL", "WAITING", "lanes_chart"]

RUNNING = ("running (holding the loop)", "#D55E00")
AWAITING = ("awaiting (suspended; the loop is free)", "#0072B2")
STALL = ("the loop was held", "#C0392B")

WAITING = ("started, waiting for the loop", "#D9D9D9")

#: Rows that still get a name each; past this the chart labels every n-th lane.
_NAMED_ROWS = 20


def lanes_chart(recording: Recording[Any], *, title: str | None = None) -> Figure:
    """Draw a recording: one row per lane, in start order, the block's own lane first.

    Args:
        recording: What :func:`citylib.lanes.record` (or ``run``) recorded.
        title: Heading (default: how many lanes, how long, and whether the loop was held).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    lanes = recording.lanes
    rows = max(len(lanes), 1)
    fig = new_figure(8, min(1.6 + rows * 0.38, 8.0))
    ax = fig.add_subplot()
    height = 0.6 if rows <= _NAMED_ROWS else 0.9
    boxes: dict[str, list[list[tuple[float, float]]]] = {
        "waiting": [],
        "running": [],
        "awaiting": [],
    }

    k = recording.speed  # recorded real seconds -> the city seconds a learner reads

    def box(a: float, b: float, y: float) -> list[tuple[float, float]]:
        a, b = a * k, b * k
        return [(a, y - height / 2), (b, y - height / 2), (b, y + height / 2), (a, y + height / 2)]

    for y, lane in enumerate(lanes):
        if lane.spans and lane.spans[0].start > lane.start:
            boxes["waiting"].append(box(lane.start, lane.spans[0].start, y))
        for span in lane.spans:
            boxes[span.kind].append(box(span.start, max(span.end, span.start), y))
    ax.add_collection(
        PolyCollection(
            boxes["waiting"], facecolors=WAITING[1], edgecolors="#9A9A9A", hatch="///", linewidths=0
        )
    )
    for kind, (_, colour) in (("awaiting", AWAITING), ("running", RUNNING)):
        # A step of a few microseconds still shows: an edge of the bar's own colour.
        ax.add_collection(
            PolyCollection(boxes[kind], facecolors=colour, edgecolors=colour, linewidths=0.6)
        )
    end = max(recording.makespan, recording.duration, 1e-3) * k
    for stall in recording.stalls:
        ax.axvspan(
            stall.start * k,
            (stall.start + stall.duration) * k,
            color=STALL[1],
            alpha=0.15,
            lw=0,
            zorder=0,
        )
        label = f"held {stall.duration:.2f} s of real time: {stall.where}"
        if stall.code:
            label += f"  {without_emoji(stall.code)}"
        ax.annotate(
            label,
            (stall.start * k, 1),
            xytext=(3, -3),
            textcoords="offset points",
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color="#8B1A1A",
            va="top",
            bbox={
                "boxstyle": "round,pad=0.2",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.85,
            },
        )
    for y, lane in enumerate(lanes[:_NAMED_ROWS]):
        if lane.status != "done":
            ax.text(lane.end * k, y, f" {lane.status}", va="center", fontsize=8, color=TEXT)
    step = 1 if rows <= _NAMED_ROWS else -(-rows // _NAMED_ROWS)
    ticks = list(range(0, len(lanes), step))
    ax.set_yticks(ticks, [without_emoji(lanes[i].name) or "lane" for i in ticks])
    # Room above the first lane for the stalls' labels.
    ax.set_ylim(rows - 0.4, -1.2 if recording.stalls else -0.6)
    ax.set_xlim(0, end * 1.12)
    ax.set_xlabel("city seconds since the recording began")
    if title is None:
        count = len(recording.stalls)
        held = (
            "the loop was never held"
            if not count
            else "the loop was held once"
            if count == 1
            else f"the loop was held {count} times"
        )
        title = f"Your lanes: {len(lanes)} in {recording.city(recording.makespan):.2f} s; {held}"
    ax.set_title(title, loc="left", fontsize=10)
    tidy(ax)
    handles = [Patch(color=c, label=label) for label, c in (RUNNING, AWAITING)]
    if boxes["waiting"]:
        handles.insert(
            0, Patch(facecolor=WAITING[1], hatch="///", edgecolor="#9A9A9A", label=WAITING[0])
        )
    if recording.stalls:
        handles.append(Patch(color=STALL[1], alpha=0.3, label=STALL[0]))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 2),
        fontsize=8,
        frameon=False,
    )
    return fig
