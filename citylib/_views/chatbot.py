"""The chatbot rush's views: users answered over time, drawn and live, and the toggle.

The lesson (:mod:`citylib._lessons.chatbot`) measures a rush; :func:`rush_chart` draws
finished rushes, :class:`RushBoard` redraws one live on the one live board, and
:class:`ChatbotToggle` connects them.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from citylib._core.timeline import Timeline
from citylib._lessons.chatbot import (
    SERVERS,
    ChatRush,
    check_rush,
    default_horizon,
    rush_status,
    serve_chat,
)
from citylib._views.board import LiveBoard
from citylib._views.live import ToggleWidget, follow, paint, picture, toggle_buttons
from citylib._views.style import new_figure, tidy, without_emoji

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLOURS", "ChatbotToggle", "RushBoard", "rush_chart"]

#: Each server's line colour, by mode.
COLOURS = {"sync": "#D55E00", "async": "#0072B2"}

#: Answers few enough to get a zoomed view: on a 1,000-user axis they read as none.
_FEW = 5


def _steps(answered: Sequence[float], now: float) -> tuple[list[float], list[float]]:
    """A step line of users answered over time, from 0 to ``now``."""
    xs, ys = [0.0], [0.0]
    for i, t in enumerate(answered, 1):
        xs += [t, t]
        ys += [i - 1, i]
    xs.append(max(now, xs[-1]))
    ys.append(ys[-1])
    return xs, ys


def rush_chart(rushes: Sequence[ChatRush]) -> Figure:
    """Users answered over time, one line per server."""
    if not rushes:
        raise ValueError("rush_chart() needs at least one rush")
    fig = new_figure(8, 3.4)
    ax = fig.add_subplot()
    _axes(ax, max(r.users for r in rushes), max(r.horizon for r in rushes))
    # The one lane last, on top: its flat line along the bottom is the point.
    for r in sorted(rushes, key=lambda r: r.mode != "async"):
        answered = r.answered_at
        colour = COLOURS[r.mode]
        xs, ys = _steps(answered, r.horizon)
        ax.plot(xs, ys, color=colour, linewidth=2.2, label=without_emoji(SERVERS[r.mode]))
        ax.annotate(
            f"{len(answered):,} answered",
            (xs[-1], ys[-1]),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color=colour,
        )
    _mark_the_few(ax, rushes)
    ax.legend(loc="center right", fontsize=9, frameon=False)
    return fig


def _mark_the_few(ax: Axes, rushes: Sequence[ChatRush]) -> None:
    """A server that answered only a handful: its line again, zoomed in, in an inset.

    On a 1,000-user axis the one-lane server's line hugs the bottom and reads as "no
    one answered"; the inset's own axis (0 to a few users) shows each step, the dots
    each answer, and the note who they were.
    """
    few = [r for r in rushes if r.answered_at and len(r.answered_at) <= _FEW]
    if not few:
        return
    inset = ax.inset_axes((0.3, 0.3, 0.36, 0.4))
    top = max(len(r.answered_at) for r in few)
    horizon = max(r.horizon for r in rushes)
    notes = []
    for r in few:
        answered = sorted(r.answered_at)
        colour = COLOURS[r.mode]
        xs, ys = _steps(answered, r.horizon)
        inset.plot(xs, ys, color=colour, linewidth=2.0)
        inset.plot(answered, range(1, len(answered) + 1), "o", color=colour, markersize=5)
        times = ", ".join(f"#{i} at {t:.1f} s" for i, t in enumerate(answered, 1))
        notes.append(
            f"{without_emoji(SERVERS[r.mode])}, zoomed in: user {times}; "
            f"{r.users - len(answered):,} still in line"
        )
    inset.set_xlim(0, horizon * 1.02)
    inset.set_ylim(-0.2, top + 1)
    inset.set_yticks(range(top + 2))
    inset.tick_params(labelsize=7)
    inset.set_title("\n".join(notes), fontsize=7.5, loc="left", color=COLOURS[few[0].mode])
    inset.set_facecolor("white")
    tidy(inset, grid="both")


def _axes(ax: Axes, users: int, horizon: float) -> None:
    ax.set_xlim(0, horizon * 1.02)
    ax.set_ylim(-users * 0.03, users * 1.1)
    ax.set_xlabel("city seconds")
    ax.set_ylabel("users answered")
    ax.set_title(f"{users:,} chat users, one slow OpenAI reply", loc="left", fontsize=11)
    tidy(ax, grid="both")


class RushBoard(LiveBoard):
    """The users-answered chart, redrawn live: each server's line and the clock move.

    Args:
        users: How many users the rush has (the y axis).
        horizon: City seconds the x axis spans.
    """

    def __init__(self, users: int, horizon: float) -> None:
        super().__init__(8, 3.4)
        self.ax = ax = self.fig.add_subplot()
        _axes(ax, users, horizon)
        self.lines = {
            mode: ax.plot(
                [], [], color=COLOURS[mode], linewidth=2.2, label=without_emoji(name), animated=True
            )[0]
            for mode, name in SERVERS.items()
        }
        self.clock = ax.axvline(0, color="#444444", linewidth=0.8, alpha=0.6, animated=True)
        ax.legend(loc="center right", fontsize=9, frameon=False)
        # The one lane answers a handful on a 1,000-user axis, a line flat at 0 there:
        # an inset with its own 0-to-few axis shows each of its answers as it comes.
        self.zoom = zoom = ax.inset_axes((0.3, 0.3, 0.36, 0.4))
        zoom.set_xlim(0, horizon * 1.02)
        zoom.set_ylim(-0.2, _FEW + 0.5)
        zoom.set_yticks(range(_FEW + 1))
        zoom.tick_params(labelsize=7)
        zoom.set_title(
            f"{without_emoji(SERVERS['sync'])}, zoomed in: its first {_FEW} users",
            fontsize=7.5,
            loc="left",
            color=COLOURS["sync"],
        )
        tidy(zoom, grid="both")
        self.zoom_line = zoom.plot([], [], color=COLOURS["sync"], linewidth=2.0, animated=True)[0]
        self.freeze()

    def frame(
        self, curves: Mapping[str, tuple[Sequence[float], float]], now: float | None
    ) -> bytes:
        """Draw each server's ``(answered_at, until)`` curve, and the clock at ``now``."""
        self._moving = []  # in the curves' order: the run under way comes last, on top
        for mode, curve in curves.items():
            line = self.lines[mode]
            line.set_data(*_steps(*curve))
            self.moving(self.ax, line)
            if mode == "sync":
                self.zoom_line.set_data(*_steps(*curve))
                self.moving(self.zoom, self.zoom_line)
        if now is not None:
            self.clock.set_xdata([now, now])
            self.moving(self.ax, self.clock)
        return self.render()


class ChatbotToggle(ToggleWidget):
    """Flip between a one-lane chatbot server and an async one, with 1,000 users.

    Each flip lets the users message the chosen server at once and draws users
    answered over time, live; the other server's last curve stays for comparison.
    Flipping again mid-run calls the run off.

    Args:
        users: How many users message at once (1 to 10,000).
        slow_reply: City seconds user #1's slow OpenAI reply takes (0 to 60).

    Attributes:
        toggle: The server toggle (``None`` until the first flip).
        picture: The live chart.
        rushes: The last finished rush per server, by mode.
    """

    plain_text = "flip between 🐢 a one-lane chatbot server and ⚡ an async one (live)"

    def __init__(self, users: int = 1000, slow_reply: float = 12.0) -> None:
        self.toggle = toggle_buttons(
            [(name, mode) for mode, name in SERVERS.items()],
            ["Answers one user at a time", "Awaits every reply at once"],
        )
        self.picture = picture()
        super().__init__([self.toggle, self.picture])
        self.rushes: dict[str, ChatRush] = {}
        try:
            self.users, self.slow_reply = check_rush(users, slow_reply)
        except ValueError as exc:
            self.toggle.disabled = True
            self.say(f"⚠️ {exc}", warning=True)
            return
        self.horizon = default_horizon(self.slow_reply)
        self._chart = RushBoard(self.users, self.horizon)
        self.picture.value = self._chart.frame({}, None)
        self.say(f"👆 Pick a server: {self.users:,} users are about to message the chatbot.")
        self._listen()

    def _run(self, mode: str) -> Coroutine[Any, Any, None]:
        return self._serve(mode)

    async def _serve(self, mode: str) -> None:
        tl = Timeline(name=mode)
        live = ChatRush(mode, self.users, self.slow_reply, self.horizon, tl)
        self.say(rush_status(live, 0.0))

        async def frame(finished: bool) -> None:
            now = self.horizon if finished else min(tl.elapsed(), self.horizon)
            curves = {m: (r.answered_at, r.horizon) for m, r in self.rushes.items() if m != mode}
            curves[mode] = (live.answered_at, now)
            self.say(rush_status(live, now, finished))
            self.picture.value = await paint(self._chart.frame, curves, None if finished else now)

        run = serve_chat(
            mode,
            users=self.users,
            slow_reply=self.slow_reply,
            horizon=self.horizon,
            record_into=tl,
        )
        self.rushes[mode] = await follow(run, frame)
