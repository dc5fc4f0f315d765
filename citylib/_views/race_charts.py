"""Race charts: Gantt pictures of who drove when.

One row per request. A light hatched bar is time spent *waiting in line*; a solid
bar, coloured by service, is time spent *driving* (being served). A dashed line
marks the makespan. Every chart has a one-line text alternative (:func:`describe`).
The style is :mod:`citylib._views.style`; :class:`LaneBoard` is the live twin of
:func:`compare` on the one live board (:class:`~citylib._views.board.LiveBoard`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from citylib._core import services
from citylib._core.race import RaceResult, Request, speedup
from citylib._core.timeline import DRIVING, Timeline, Trip
from citylib._views.board import LiveBoard
from citylib._views.style import TEXT, WAIT, colour, new_figure, tidy

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LaneBoard", "LaneChart", "compare", "describe", "gantt", "text_chart"]

_STATUS_STYLE: dict[str, dict[str, Any]] = {
    "ok": {},
    DRIVING: {"alpha": 0.75},
    "error": {"hatch": "xx", "edgecolor": "black", "linewidth": 1.2},
    "timeout": {"hatch": "..", "edgecolor": "black", "linewidth": 1.2},
    "cancelled": {"alpha": 0.35, "linestyle": "--", "edgecolor": "black", "linewidth": 1.0},
    # A pending task the garbage collector destroyed: its coroutine was closed, not cancelled.
    "destroyed": {"alpha": 0.3, "linestyle": ":", "edgecolor": "black", "linewidth": 1.4},
}
# DejaVu Sans, matplotlib's font, has no ⏱: a missing glyph would warn on every chart.
_STATUS_MARK = {
    "error": " ✗ crashed",
    "timeout": " ◷ timed out",
    "cancelled": " cancelled",
    "destroyed": " destroyed by gc",
}
def _rows(trips: Sequence[Trip], requests: Sequence[Request] | None) -> list[str]:
    """Row order: the requests' arrival order, else first arrival on the timeline."""
    if requests is not None:
        return [r.name for r in requests]
    return list(dict.fromkeys(t.request for t in sorted(trips, key=lambda t: (t.queued, t.start))))


def _row_label(name: str, requests: Sequence[Request] | None) -> str:
    if requests is None:
        return name
    for r in requests:
        if r.name == name:
            return f"{r.service.title} ({r.service.latency:g} s)"
    return name


def _draw_lanes(
    ax: Axes,
    trips: Sequence[Trip],
    requests: Sequence[Request] | None,
    title: str,
    horizon: float | None,
    makespan: float | None,
) -> None:
    rows = _rows(trips, requests)
    index = {name: i for i, name in enumerate(rows)}
    for t in trips:
        y = index.get(t.request)
        if y is None:
            continue
        if t.wait > 0:
            ax.barh(
                y,
                t.wait,
                left=t.queued,
                height=0.6,
                color=WAIT,
                hatch="///",
                edgecolor="#9A9A9A",
                linewidth=0,
            )
        ax.barh(
            y,
            max(t.duration, 0.0),
            left=t.start,
            height=0.6,
            color=colour(t.service),
            **_STATUS_STYLE.get(t.status, {}),
        )
        ax.text(
            t.end + 0.1,
            y,
            f"{t.lane}{_STATUS_MARK.get(t.status, '')}",
            va="center",
            fontsize=8,
            color=TEXT,
        )
    ax.set_yticks(range(len(rows)), [_row_label(r, requests) for r in rows])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlabel("city seconds")
    ax.set_title(title, loc="left", fontsize=11)
    end = horizon if horizon is not None else max([t.end for t in trips] + [1.0])
    ax.set_xlim(0, end * 1.12 + 0.5)
    tidy(ax)
    if makespan:
        _makespan_marker(ax, makespan)


def _makespan_marker(ax: Axes, makespan: float) -> None:
    ax.axvline(makespan, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"makespan {makespan:.1f} s",
        (makespan, 0),
        xytext=(3, 2),
        xycoords=("data", "axes fraction"),
        textcoords="offset points",
        fontsize=8,
    )


def _legend(fig: Figure, service_names: Iterable[str]) -> None:
    from matplotlib.patches import Patch

    names = list(dict.fromkeys(service_names))
    handles = [Patch(color=WAIT, hatch="///", label="waiting in line")] + [
        Patch(color=colour(n), label=services.SERVICES[n].title if n in services.SERVICES else n)
        for n in names
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 7),
        fontsize=8,
        frameon=False,
    )


def _unpack(source: RaceResult | Timeline) -> tuple[list[Trip], list[Request] | None, str, float]:
    if isinstance(source, RaceResult):
        return list(source.timeline), source.requests, source.title, source.makespan
    return list(source), None, source.name, source.makespan


def gantt(source: RaceResult | Timeline, *, title: str | None = None) -> Figure:
    """A lane chart of one race or timeline.

    Args:
        source: A :class:`~citylib._core.race.RaceResult` or a bare timeline.
        title: Heading; defaults to the routing system and its makespan.
    """
    trips, requests, name, makespan = _unpack(source)
    rows = len(_rows(trips, requests))
    fig = new_figure(8, 1.2 + 0.42 * max(rows, 1))
    ax = fig.add_subplot()
    _draw_lanes(ax, trips, requests, title or f"{name}: {makespan:.1f} s", None, makespan)
    _legend(fig, (t.service for t in trips))
    return fig


def compare(results: Sequence[RaceResult]) -> Figure:
    """Races side by side on one time axis, the speed-up over the first in each title."""
    if not results:
        raise ValueError("compare() needs at least one race result")
    horizon = max(r.makespan for r in results)
    rows = max(len(r.requests) for r in results)
    fig = new_figure(4.2 * len(results) + 1.2, 1.5 + 0.42 * rows)
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)[0]
    base = results[0]
    for ax, r in zip(axes, results, strict=True):
        title = f"{r.title}\n{r.makespan:.1f} s"
        if r is not base:
            title += f" — {speedup(base, r):.1f}× faster"
        _draw_lanes(ax, list(r.timeline), r.requests, title, horizon, r.makespan)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    _legend(fig, (t.service for r in results for t in r.timeline))
    return fig


def describe(source: RaceResult | Sequence[RaceResult]) -> str:
    """The one-line text alternative of a chart."""
    if isinstance(source, RaceResult):
        return source.summary()
    results = list(source)
    parts = [f"{r.title} {r.makespan:.1f} s" for r in results]
    line = " vs ".join(parts)
    if len(results) > 1:
        best = min(results[1:], key=lambda r: r.makespan)
        line += f": {best.title} is {speedup(results[0], best):.1f}× faster than {results[0].title}"
    return line + "."


def text_chart(result: RaceResult, width: int = 60, horizon: float | None = None) -> str:
    """The race as text: ``·`` waiting in line, ``█`` driving, one row per request.

    Example row: ``Weather (1 s)   ··················█  lane 1``.

    Args:
        result: The race.
        width: Characters the ``horizon`` spans.
        horizon: City seconds across ``width``; give several races the same one to
            compare them by eye. Defaults to this race's own end.
    """
    trips = {t.request: t for t in result.timeline}
    if horizon is None:
        horizon = max([t.end for t in trips.values()] + [result.makespan])
    horizon = max(horizon, 1e-9)
    scale = width / horizon
    label_width = max(len(_row_label(r.name, result.requests)) for r in result.requests)
    lines = [f"{result.title} — {result.makespan:.1f} s  (· waiting in line, █ driving)"]
    for r in result.requests:
        label = _row_label(r.name, result.requests).ljust(label_width)
        t = trips.get(r.name)
        if t is None:
            lines.append(f"{label}  (never served)")
            continue
        lead = round(t.queued * scale)
        wait = round(t.start * scale) - lead
        drive = max(1, round(t.end * scale) - lead - wait)
        bar = " " * lead + "·" * wait + "█" * drive
        lines.append(f"{label}  {bar.ljust(width + 1)} {t.lane}{_STATUS_MARK.get(t.status, '')}")
    return "\n".join(lines)


class LaneChart:
    """A lane chart that redraws live while a race runs: a one-panel :class:`LaneBoard`.

    The axes, labels and legend are drawn once and cached; each :meth:`update` moves
    only the bars and blits them onto the cached background, which keeps a frame well
    under the 50 ms a smooth animation needs.

    Args:
        requests: The requests, one row each.
        horizon: City seconds the x axis spans (say, the sync makespan).
        title: Heading.
    """

    def __init__(self, requests: Sequence[Request], horizon: float, title: str = "") -> None:
        self.requests = list(requests)
        self._board = LaneBoard([(title, self.requests)], horizon, width=8)
        self.fig = self._board.fig
        self.canvas = self._board.canvas
        self.ax = self._board.panels[0].ax

    @property
    def artists(self) -> list[Any]:
        """Everything that moves."""
        return self._board.panels[0].artists

    def update(self, trips: Sequence[Trip], now: float, finished: bool = False) -> None:
        """Move the bars to show ``trips`` at city time ``now``.

        Requests with no trip yet are drawn waiting in line since time 0.
        """
        self._board.update(0, trips, now, finished)

    def render(self) -> bytes:
        """The current frame as PNG bytes (blitted, not re-plotted)."""
        return self._board.render()

    def frame(self, trips: Sequence[Trip], now: float, finished: bool = False) -> bytes:
        """:meth:`update` then :meth:`render`."""
        self.update(trips, now, finished)
        return self.render()


class LaneBoard(LiveBoard):
    """Several races side by side on one time axis, redrawn live while they run.

    The live twin of :func:`compare`: one panel per race, sharing the rows and the
    x axis. Like :class:`LaneChart` it draws the axes once and blits only the moving
    bars, so a frame of three panels stays well under the 50 ms a smooth animation
    needs.

    Args:
        panels: One ``(title, requests)`` pair per panel, left to right.
        horizon: City seconds the x axis spans (say, the slowest race's makespan).
        width: Figure width in inches (default: 4.2 a panel, plus room for labels).
    """

    def __init__(
        self,
        panels: Sequence[tuple[str, Sequence[Request]]],
        horizon: float,
        *,
        width: float | None = None,
    ) -> None:
        if not panels:
            raise ValueError("a LaneBoard needs at least one panel")
        rows = max(len(requests) for _, requests in panels)
        super().__init__(4.2 * len(panels) + 1.2 if width is None else width, 1.5 + 0.42 * rows)
        axes = self.fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        self.panels = [
            _LivePanel(ax, title, requests, horizon)
            for ax, (title, requests) in zip(axes, panels, strict=True)
        ]
        for p in self.panels:
            self.moving(p.ax, *p.artists)
        for ax in axes[1:]:
            ax.tick_params(labelleft=False)
        _legend(self.fig, (r.service.name for _, requests in panels for r in requests))
        self.freeze()

    def update(self, panel: int, trips: Sequence[Trip], now: float, finished: bool = False) -> None:
        """Move panel ``panel``'s bars to show ``trips`` at city time ``now``."""
        self.panels[panel].update(trips, now, finished)


class _LivePanel:
    """The moving bars of one live panel (one race) on a :class:`LaneBoard`."""

    def __init__(self, ax: Axes, title: str, requests: Sequence[Request], horizon: float) -> None:
        self.ax = ax
        self.requests = list(requests)
        _draw_lanes(ax, [], self.requests, title, horizon, None)
        self._wait = [
            ax.barh(
                i,
                0,
                height=0.6,
                color=WAIT,
                hatch="///",
                edgecolor="#9A9A9A",
                linewidth=0,
                animated=True,
            )[0]
            for i in range(len(self.requests))
        ]
        self._drive = [
            ax.barh(i, 0, height=0.6, color=colour(r.service.name), animated=True)[0]
            for i, r in enumerate(self.requests)
        ]
        self._labels = [
            ax.text(0, i, "", va="center", fontsize=8, color=TEXT, animated=True)
            for i in range(len(self.requests))
        ]
        self._clock = ax.axvline(0, color="#444444", linewidth=0.8, alpha=0.6, animated=True)
        self._marker = ax.axvline(
            0, color="black", linestyle="--", linewidth=1, animated=True, visible=False
        )
        # The running time sits in the corner: the title is baked into the background.
        self._time = ax.text(
            0.99,
            0.02,
            "",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            animated=True,
        )

    @property
    def artists(self) -> list[Any]:
        """Everything that moves."""
        return [*self._wait, *self._drive, *self._labels, self._clock, self._marker, self._time]

    def update(self, trips: Sequence[Trip], now: float, finished: bool) -> None:
        by_request = {t.request: t for t in trips}
        for i, r in enumerate(self.requests):
            t = by_request.get(r.name)
            wait, drive, label = self._wait[i], self._drive[i], self._labels[i]
            if t is None:  # not served yet: waiting in line since time 0
                wait.set_x(0)
                wait.set_width(0 if finished else now)
                drive.set_width(0)
                label.set_text("")
                continue
            wait.set_x(t.queued)
            wait.set_width(t.wait)
            drive.set_x(t.start)
            drive.set_width(max(t.duration, 0.0))
            style = _STATUS_STYLE.get(t.status, {})
            drive.set_alpha(style.get("alpha", 1.0))
            drive.set_hatch(style.get("hatch"))
            label.set_position((t.end + 0.1, i))
            label.set_text(f"{t.lane}{_STATUS_MARK.get(t.status, '')}")
        end = max([t.end for t in trips] + [0.0])
        self._clock.set_xdata([now, now])
        self._clock.set_visible(not finished)
        self._marker.set_xdata([end, end])
        self._marker.set_visible(finished)
        self._time.set_text(f"done in {end:.1f} s" if finished else f"{now:.1f} s")
