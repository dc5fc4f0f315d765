"""Charts for the grader's HTML reports: a student's own lanes, and the class at a glance.

A feedback page is written for every submission (ten thousand in a large class), so
its lane chart is a small inline SVG drawn here by hand (well under a millisecond, no
matplotlib), in the course's colours (:mod:`citylib._views.style`). The class page's two
charts are drawn once per batch with the course's matplotlib style and embedded as
PNG. Both take plain values: the views know nothing of the grader's records.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from citylib._views.style import GRID, TEXT, WAIT, colour, new_figure, tidy, to_png

__all__ = ["Lane", "lanes_svg", "pass_rate_png", "png_data_uri", "score_histogram_png"]

#: One call of a source: (source, invoked, started or None, ended or None), city seconds.
Lane = tuple[str, float, float | None, float | None]

_ROW, _LEFT, _WIDTH, _TOP = 26, 92, 560, 24


def lanes_svg(lanes: Sequence[Lane], horizon: float, *, reported: float | None, title: str) -> str:
    """One drive's calls as lanes: hatched while called but not awaited, solid while driving.

    Args:
        lanes: The calls, in the order made.
        horizon: City seconds the axis spans (the drive's measured time, at least).
        reported: The function's own ``total_latency`` (a dashed marker), if a number.
            The axis stretches to show it up to three times the drive's time, so a
            number written in shows how far off it is; beyond that the text says it.
        title: The heading, drawn above the lanes.
    """
    span = max(horizon, *(e or s or i for _, i, s, e in lanes), 0.1) if lanes else max(horizon, 0.1)
    if reported is not None and not 0 <= reported <= 3 * span:
        reported = None
    span = max(span, reported or 0.0) * 1.08
    scale = _WIDTH / span
    height = _TOP + _ROW * max(len(lanes), 1) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LEFT + _WIDTH + 20}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}" '
        'font-family="sans-serif" font-size="12">',
        '<defs><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{WAIT}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#aaa" stroke-width="2"/></pattern></defs>',
        f'<text x="{_LEFT}" y="14" fill="{TEXT}" font-weight="bold">{html.escape(title)}</text>',
    ]
    ticks = _ticks(span)
    bottom = _TOP + _ROW * max(len(lanes), 1)
    for t in ticks:
        x = _LEFT + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" fill="{TEXT}" text-anchor="middle">{t:g} s</text>'
        )
    for row, (source, invoked, started, ended) in enumerate(lanes):
        y = _TOP + row * _ROW + 4
        label = html.escape(source)
        out.append(
            f'<text x="{_LEFT - 8}" y="{y + 13}" fill="{TEXT}" text-anchor="end">{label}</text>'
        )
        wait_end = started if started is not None else (ended if ended is not None else span)
        if wait_end - invoked > 0:
            out.append(
                f'<rect x="{_LEFT + invoked * scale:.1f}" y="{y}" '
                f'width="{max((wait_end - invoked) * scale, 1):.1f}" height="18" fill="url(#wait)">'
                f"<title>{label}: called, not yet awaited</title></rect>"
            )
        if started is not None:
            end = ended if ended is not None else span
            tip = f"{label}: {started:.2f} s to {end:.2f} s" + ("" if ended else " (no answer)")
            out.append(
                f'<rect x="{_LEFT + started * scale:.1f}" y="{y}" '
                f'width="{max((end - started) * scale, 1):.1f}" height="18" '
                f'fill="{colour(source)}" opacity="{1 if ended is not None else 0.4}">'
                f"<title>{tip}</title></rect>"
            )
    if reported is not None:
        x = _LEFT + reported * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 4}" x2="{x:.1f}" y2="{bottom}" stroke="{TEXT}" '
            'stroke-dasharray="4 3"><title>your total_latency</title></line>'
        )
    out.append("</svg>")
    return "".join(out)


def _ticks(span: float) -> list[float]:
    step = next(s for s in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 1e9) if span / s <= 8)
    return [round(i * step, 2) for i in range(int(span / step) + 1)]


def score_histogram_png(scores: Sequence[int], max_score: int, ungraded: int) -> bytes:
    """How many submissions earned each score (a bar for those with no score)."""
    fig = new_figure(6.4, 2.6)
    ax = fig.add_subplot()
    counts = [sum(s == k for s in scores) for k in range(max_score + 1)]
    labels = [str(k) for k in range(max_score + 1)]
    colours = ["#0072B2"] * len(counts)
    if ungraded:
        counts.append(ungraded)
        labels.append("no score")
        colours.append("#999999")
    ax.bar(range(len(counts)), counts, color=colours)
    ax.set_xticks(range(len(counts)), labels)
    ax.set_xlabel(f"points (of {max_score})")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution", color=TEXT)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    tidy(ax, grid="y")
    return to_png(fig)


def pass_rate_png(rates: Sequence[tuple[str, float]]) -> bytes:
    """Each check's pass rate among the submissions that were judged, as bars."""
    fig = new_figure(6.4, 0.5 + 0.38 * max(len(rates), 1))
    ax = fig.add_subplot()
    names = [name for name, _ in rates][::-1]
    values = [100 * rate for _, rate in rates][::-1]
    ax.barh(range(len(values)), values, color="#009E73")
    ax.set_yticks(range(len(values)), names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of judged submissions passing")
    ax.set_title("Pass rate of each check", color=TEXT)
    for i, v in enumerate(values):
        ax.text(min(v + 1, 92), i, f"{v:.0f}%", va="center", color=TEXT, fontsize=9)
    tidy(ax, grid="x")
    return to_png(fig)


def png_data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so a page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
