"""Notebook 07's pictures: first words, streams as lanes, a queue's depth, retries.

Each takes a result of :mod:`citylib._lessons.streaming` and returns a
``matplotlib.figure.Figure`` in the course's one style; ``charts.show(result)``
displays it beside the result's one-line summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from citylib._lessons.streaming import FirstWords, Pipeline, RetryRun, StreamRush
from citylib._views.style import TEXT, WAIT, colour, new_figure, tidy, without_emoji

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["first_words_chart", "pipeline_chart", "retry_chart", "streams_chart"]

_CHAT = colour("chat")
_FAILED = "#D55E00"
#: More lanes than this and a rush is drawn as its first users only.
MAX_LANES = 24


def _waiting_bar(ax: Axes, y: float, start: float, end: float) -> None:
    if end > start:
        ax.barh(y, end - start, left=start, height=0.6, color=WAIT, hatch="///",
                edgecolor="#9A9A9A", linewidth=0)


def _token_ticks(ax: Axes, y: float, times: Sequence[float]) -> None:
    ax.plot(times, [y] * len(times), linestyle="none", marker="|", markersize=11,
            markeredgewidth=1.3, color=_CHAT)


def _legend(ax: Axes, *extra: tuple[str, dict[str, object]]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=WAIT, hatch="///", label="waiting: nothing to read yet"),
        Line2D([], [], linestyle="none", marker="|", markersize=10, color=_CHAT,
               label="a token arrives"),
    ]
    handles += [Patch(label=label, **style) for label, style in extra]  # type: ignore[arg-type]
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                     fontsize=8, frameon=False)


def first_words_chart(result: FirstWords) -> Figure:
    """One-shot against streamed: when the reader sees the first word and the last."""
    fig = new_figure(8, 2.6)
    ax = fig.add_subplot()
    _waiting_bar(ax, 0, 0, result.first_token)
    _token_ticks(ax, 0, result.tokens)
    ax.annotate(f"first word {result.first_token:.1f} s", (result.first_token, 0),
                xytext=(0, 14), textcoords="offset points", ha="left", fontsize=8)
    _waiting_bar(ax, 1, 0, result.one_shot)
    ax.barh(1, 0.08, left=result.one_shot - 0.04, height=0.6, color=_CHAT)
    ax.annotate(f"everything at once, {result.one_shot:.1f} s", (result.one_shot, 1),
                xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks([0, 1], ["streamed\n(async for)", "one-shot\n(await)"])
    ax.set_ylim(1.6, -0.8)
    ax.set_xlim(0, max(result.one_shot, result.streamed_total) * 1.35)
    ax.set_xlabel("city seconds since the question")
    ax.set_title("The same reply, two ways to receive it", loc="left", fontsize=11)
    tidy(ax)
    _legend(ax)
    return fig


def streams_chart(results: StreamRush | Sequence[StreamRush]) -> Figure:
    """Many users' streams as lanes, one panel per rush on one time axis."""
    rushes = [results] if isinstance(results, StreamRush) else list(results)
    if not rushes:
        raise ValueError("streams_chart() needs at least one stream rush")
    rows = min(max(r.users for r in rushes), MAX_LANES)
    horizon = max(r.finish for r in rushes)
    fig = new_figure(4.6 * len(rushes) + 1.2, 1.6 + 0.3 * rows)
    axes = fig.subplots(1, len(rushes), sharey=True, squeeze=False)[0]
    for ax, rush in zip(axes, rushes, strict=True):
        shown = rush.trips[:MAX_LANES]
        for y, trip in enumerate(shown):
            first = trip.tokens[0] if trip.tokens else trip.end
            _waiting_bar(ax, y, trip.sent, first)
            _token_ticks(ax, y, trip.tokens)
            if trip.status != "ok":
                ax.text(trip.end, y, f" {trip.status}", va="center", fontsize=7, color=_FAILED)
        ax.set_ylim(rows - 0.4, -0.6)
        ax.set_xlim(0, horizon * 1.08 + 0.2)
        ax.set_xlabel("city seconds")
        more = f" (first {MAX_LANES} of {rush.users:,})" if rush.users > MAX_LANES else ""
        heading = without_emoji(rush.title)
        ax.set_title(f"{heading}{more}\nlast stream ends at {rush.finish:.1f} s",
                     loc="left", fontsize=10)
        tidy(ax)
    axes[0].set_yticks(range(rows), [f"user {i + 1}" for i in range(rows)], fontsize=8)
    _legend(axes[0])
    return fig


def pipeline_chart(result: Pipeline) -> Figure:
    """The queue's depth over time, and the producers blocked waiting for room."""
    fig = new_figure(8, 3.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    xs, ys = zip(*[*result.depth, (result.done, result.depth[-1][1])], strict=True)
    top.step(xs, ys, where="post", color="#0072B2", linewidth=2, label="items waiting")
    if result.maxsize:
        top.axhline(result.maxsize, color="black", linestyle="--", linewidth=1)
        top.annotate(f"maxsize={result.maxsize}", (0, result.maxsize), xytext=(2, 3),
                     textcoords="offset points", fontsize=8)
    top.set_ylabel("in the queue")
    top.set_ylim(0, max(result.peak_depth, result.maxsize, 1) * 1.25)
    top.set_title(f"{result.title}: {result.producers} producers, {result.workers} workers",
                  loc="left", fontsize=11)
    bx, by = zip(*[*result.blocked, (result.done, 0)], strict=True)
    bottom.step(bx, by, where="post", color=_FAILED, linewidth=2, linestyle="-.")
    bottom.fill_between(bx, by, step="post", color=_FAILED, alpha=0.15)
    bottom.set_ylabel("producers\nwaiting to put")
    bottom.set_ylim(0, result.producers + 0.5)
    bottom.set_yticks(range(result.producers + 1))
    bottom.set_xlabel("city seconds")
    bottom.set_xlim(0, result.done * 1.02)
    for ax in (top, bottom):
        tidy(ax, grid="both")
    if not result.peak_blocked:
        bottom.text(result.done / 2, result.producers / 2, "no producer ever waited",
                    ha="center", fontsize=9, color=TEXT)
    return fig


def retry_chart(result: RetryRun) -> Figure:
    """One lane per request: each try a bar (a failed one hatched), the backoff between.

    The time axis spans the retry policy's slowest request (``result.horizon``), so
    the runs of one policy, with jitter and without, are drawn on the same axis.
    """
    fig = new_figure(8, 1.3 + 0.42 * len(result.requests))
    ax = fig.add_subplot()
    rows = {name: i for i, name in enumerate(result.requests)}
    previous: dict[str, float] = {}
    for a in result.attempts:
        y = rows[a.request]
        if a.request in previous:
            ax.plot([previous[a.request], a.start], [y, y], color="#9A9A9A", linewidth=1.2,
                    linestyle=":")
        style: dict[str, object] = (
            {"color": colour("translate")}
            if a.ok
            else {"color": colour("translate"), "hatch": "xx", "edgecolor": "black",
                  "linewidth": 1.0, "alpha": 0.55}
        )
        ax.barh(y, a.end - a.start, left=a.start, height=0.6, **style)  # type: ignore[arg-type]
        previous[a.request] = a.end
    for name, y in rows.items():
        mark = " ✓" if name in result.answered else " gave up"
        ax.text(previous.get(name, 0.0), y, mark, va="center", fontsize=8, color=TEXT)
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_ylim(len(rows) - 0.4, -0.6)
    # Room past the policy's slowest request for a busy machine's late wake-ups, so
    # both runs of one policy keep the same axis; a run later than that still fits.
    shared = result.horizon * 1.2 + 0.5
    ax.set_xlim(0, shared if result.finish <= shared else result.finish * 1.1 + 0.5)
    ax.set_xlabel("city seconds")
    ax.set_title(f"Retries, {result.title}: done after {result.finish:.1f} s",
                 loc="left", fontsize=11)
    tidy(ax)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color=colour("translate"), label="a try that answered"),
            Patch(facecolor=colour("translate"), hatch="xx", edgecolor="black", alpha=0.55,
                  label="a try that failed"),
            Line2D([], [], color="#9A9A9A", linestyle=":", label="backing off"),
        ],
        loc="outside lower center", ncols=3, fontsize=8, frameon=False,
    )
    return fig
