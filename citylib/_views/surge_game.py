"""Stabilize AI City! 1,000 users connect at once; the learner picks the routing system.

:class:`SurgeGame` offers the four routing systems of :mod:`citylib._lessons.server`. A pick
opens a fresh AI City on 127.0.0.1 (a :class:`~citylib._lessons.server.ManagedServer`), sends
the surge (:func:`citylib._lessons.surge.surge`), shows a live status line, and ends with the
chart of requests over time and a one-line summary. Picking again calls the surge
in flight off and closes its server. Every run is bounded: users give up after
``patience`` seconds, so even the worst system ends within a minute, its timeouts
counted.

The surge runs in real time by default (``speed=1``), whatever ``CITYLIB_SPEED``
says: a thousand connections cost real CPU that no clock can speed up, so on a
faster clock even the Async Highway would look jammed.
"""

from __future__ import annotations

import ipywidgets as widgets

from citylib._core import clock
from citylib._lessons.server import SYSTEMS
from citylib._lessons.surge import MAX_USERS, Progress, SurgeResult, surge_system
from citylib._views.lesson_charts import surge_chart
from citylib._views.live import LiveWidget, paint, picture, status_html
from citylib._views.style import to_png

__all__ = ["SurgeGame", "progress_line"]


def progress_line(title: str, progress: Progress) -> str:
    """The live status, such as ``"⚡ async def + await: 612 served · 388 waiting · 0.9 s"``."""
    line = f"{title}: {progress.ok:,} of {progress.users:,} served · {progress.waiting:,} waiting"
    if progress.timeouts:
        line += f" · {progress.timeouts:,} gave up"
    if progress.errors:
        line += f" · {progress.errors:,} errors"
    return f"🚗 {line} · {progress.elapsed:.1f} s"


class SurgeGame(LiveWidget):
    """Pick a routing system and watch 1,000 users hit a real AI-City server at once.

    Args:
        users: Users in the surge (1 to 20,000).
        latency: The weather service's latency, in seconds.
        patience: Seconds a user waits before giving up.
        speed: The clock speed the surge runs at (default 1: real time).

    Attributes:
        route: The routing-system picker; setting ``value`` starts a surge.
        picture: The last surge's chart (hidden until one ends).
        result_line: The last surge's one-line summary.
        result: The last finished :class:`~citylib._lessons.surge.SurgeResult`, or ``None``.
        results: The last result of each routing system tried, by name.
    """

    plain_text = "pick a routing system and send 1,000 users into AI City at once (live)"

    def __init__(
        self,
        users: int = 1000,
        *,
        latency: float = 1.0,
        patience: float = 30.0,
        speed: float = 1.0,
    ) -> None:
        self.route = widgets.ToggleButtons(
            options=[(s.label, s.name) for s in SYSTEMS.values()],
            value=None,
            tooltips=[s.story for s in SYSTEMS.values()],
            style={"button_width": "auto"},
        )
        self.route.add_class("citylib-route")
        self.picture = picture()
        self.picture.layout.display = "none"
        self.result_line = widgets.HTML(status_html(""))
        self.result_line.add_class("citylib-result")
        super().__init__([self.route, self.picture, self.result_line])
        # The live status belongs right under the picker, above the chart.
        self.children = (self.route, self.status, self.picture, self.result_line)
        self.add_class("citylib-surge")
        self.result: SurgeResult | None = None
        self.results: dict[str, SurgeResult] = {}
        try:
            self.users = _check_users(users)
            self.latency = _check_positive("latency", latency, allow_zero=True)
            self.patience = _check_positive("patience", patience)
            self.speed = clock.validate_speed(speed)
        except ValueError as exc:
            self.route.disabled = True
            self.say(f"⚠️ {exc}", warning=True)
            return
        self.say(
            f"🚨 {self.users:,} users just connected at once. Pick a routing system to keep "
            "the city alive!"
        )
        self.route.observe(self._on_pick, names="value")

    def _on_pick(self, change: dict[str, object]) -> None:
        if isinstance(change["new"], str):
            self.start(self._surge(change["new"]))

    def play(self, system: str) -> None:
        """Pick ``system`` (as a click would) and start its surge, calling off any in flight."""
        if self.route.disabled:
            return
        if system not in SYSTEMS:
            self.say(
                f"⚠️ AI City has no routing system {system!r}; pick one of {', '.join(SYSTEMS)}.",
                warning=True,
            )
            return
        if self.route.value == system:
            self.start(self._surge(system))  # the same pick again: the picker stays put
        else:
            self.route.value = system  # _on_pick starts it

    async def _surge(self, system: str) -> None:
        title = SYSTEMS[system].label
        self.result_line.value = status_html("")
        self.say(f"🏙️ Opening AI City with {title}: {self.users:,} users head there at once…")
        result = await surge_system(
            system,
            self.users,
            latency=self.latency,
            patience=self.patience,
            speed=self.speed,
            on_progress=lambda p: self.say(progress_line(title, p)),
        )
        self.result = self.results[system] = result
        self.picture.value = await paint(lambda: to_png(surge_chart(result)))
        self.picture.layout.display = None
        self.result_line.value = status_html(result.summary(), warning=not result.alive)
        self.say(f"{SYSTEMS[system].emoji} {SYSTEMS[system].story} Pick another system to compare.")


def _check_users(users: int) -> int:
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise ValueError(f"users is a whole number from 1 to {MAX_USERS:,}, not {users!r}")
    return users


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is a number of seconds, not {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < float("inf")):
        raise ValueError(f"{name} is a positive number of seconds, not {value!r}")
    return float(value)
