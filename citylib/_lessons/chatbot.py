"""Async powers AI systems: a chatbot with 1,000 users and one slow OpenAI reply.

A thousand users message the chatbot at the same moment. Each message needs a reply
from the AI upstream (an OpenAI-like service: AI City's 💬 chat, 3 city seconds),
and user #1 is unlucky: their reply is slow (12 city seconds). Scaled in time, not in
users: all 1,000 are real requests on the city clock.

* A one-lane (synchronous) server answers them one after another with a blocking
  call. The slow reply comes first, so everybody waits behind it; we stop watching
  at the horizon, since finishing would take about 50 city minutes.
* The async server awaits every reply at once: 999 users are answered after 3 s,
  the unlucky one after 12 s.

:func:`serve_chat` runs one server and returns a :class:`ChatRush` (its drawing and
widget are in :mod:`citylib._views.chatbot`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from citylib._core import clock
from citylib._core.race import Request, run_race
from citylib._core.services import SERVICES
from citylib._core.timeline import Timeline

__all__ = [
    "MAX_USERS",
    "SERVERS",
    "ChatRush",
    "chat_users",
    "check_rush",
    "default_horizon",
    "rush_status",
    "serve_chat",
]

#: The two servers' names, by mode (the modes are the race's).
SERVERS = {"sync": "🐢 One-lane server", "async": "⚡ Async server"}

#: Users a rush may have: enough to make the point, few enough for a laptop.
MAX_USERS = 10_000


def check_rush(users: object, slow_reply: object) -> tuple[int, float]:
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise ValueError(f"users is a whole number from 1 to {MAX_USERS:,}, not {users!r}")
    if isinstance(slow_reply, bool) or not isinstance(slow_reply, int | float):
        raise ValueError(f"slow_reply is a number of city seconds, not {slow_reply!r}")
    if not 0 < slow_reply <= 60:
        raise ValueError(f"slow_reply is between 0 and 60 city seconds, not {slow_reply!r}")
    return users, float(slow_reply)


def chat_users(users: int = 1000, slow_reply: float = 12.0) -> list[Request]:
    """One chat request per user; user #1's upstream reply takes ``slow_reply`` seconds."""
    users, slow_reply = check_rush(users, slow_reply)
    chat = SERVICES["chat"]
    slow = dataclasses.replace(chat, latency=slow_reply)
    return [Request(f"user {i}", slow if i == 1 else chat) for i in range(1, users + 1)]


def default_horizon(slow_reply: float) -> float:
    """How long we watch: the slow reply plus one and a half normal replies.

    Half a reply away from any answer on either server, so a busy computer's late
    wake-up cannot change who is counted.
    """
    return slow_reply + 1.5 * SERVICES["chat"].latency


@dataclass
class ChatRush:
    """One server's rush of chat users.

    Attributes:
        mode: ``"sync"`` (one lane) or ``"async"``.
        users: How many users messaged at once.
        slow_reply: City seconds user #1's slow reply took.
        horizon: City seconds we watched before stopping the clock.
        timeline: One trip per user the server started serving.
    """

    mode: str
    users: int
    slow_reply: float
    horizon: float
    timeline: Timeline

    @property
    def name(self) -> str:
        """The server's name, such as ``"⚡ Async server"``."""
        return SERVERS[self.mode]

    @property
    def answered_at(self) -> list[float]:
        """City seconds at which each answered user got their reply, in order."""
        return sorted(t.end for t in self.timeline.trips if t.status == "ok")

    @property
    def done(self) -> bool:
        """Whether every user was answered."""
        return len(self.answered_at) == self.users

    def full_time(self) -> float:
        """City seconds until the last user is answered (predicted for the one lane)."""
        normal = SERVICES["chat"].latency
        if self.mode == "sync":
            return self.slow_reply + (self.users - 1) * normal
        return max(self.slow_reply, normal if self.users > 1 else 0.0)

    def summary(self) -> str:
        """One line a learner (or a screen reader) can read instead of the chart."""
        return rush_status(self, finished=True)


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"about {seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"about {seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def rush_status(rush: ChatRush, now: float | None = None, finished: bool = False) -> str:
    """The status line for a rush at city time ``now`` (or at its end)."""
    answered = rush.answered_at
    k, n = len(answered), rush.users
    if rush.mode == "sync":
        if not finished:
            if k == 0:
                return (
                    f"🐢 User #1's OpenAI reply is slow… all {n:,} users are frozen behind it. "
                    f"⏳ Answered: 0 / {n:,}"
                )
            return f"🐢 One user at a time… ⏳ Answered: {k:,} / {n:,}"
        if k == n:
            return f"🐢 One-lane server: all {n:,} users answered in {answered[-1]:.1f} s."
        return (
            f"🐢 One-lane server: after {rush.horizon:.1f} s only {k:,} of {n:,} users got a "
            f"reply. One slow OpenAI reply froze everybody behind it; at this pace the last "
            f"user waits {_duration(rush.full_time())}. 🥶"
        )
    if not finished:
        return f"⚡ Answered: {k:,} / {n:,}… the slow reply holds up only its own user."
    if k < n:
        return f"⚡ Async server: {k:,} of {n:,} users answered in {rush.horizon:.1f} s."
    if n == 1:
        return f"⚡ Async server: the one user answered in {answered[-1]:.1f} s."
    return (
        f"⚡ Async server: {n - 1:,} of {n:,} users answered after {answered[-2]:.1f} s, "
        f"all {n:,} after {answered[-1]:.1f} s. The slow reply held up only its own user. 🤯"
    )


async def serve_chat(
    mode: str = "async",
    *,
    users: int = 1000,
    slow_reply: float = 12.0,
    horizon: float | None = None,
    record_into: Timeline | None = None,
) -> ChatRush:
    """Let ``users`` chat users message one server at once; watch until ``horizon``.

    Args:
        mode: ``"sync"`` (one lane, blocking calls) or ``"async"`` (await them all).
        users: How many users (1 to 10,000).
        slow_reply: City seconds user #1's slow upstream reply takes (0 to 60).
        horizon: City seconds to watch (default: the slow reply plus 1.5 normal replies);
            a server still busy then is called off.
        record_into: A timeline to fill (a live chart can watch it fill in); its
            time 0 is when the users message.
    """
    if mode not in SERVERS:
        raise ValueError(f"mode is 'sync' or 'async', not {mode!r}")
    requests = chat_users(users, slow_reply)
    watch = default_horizon(slow_reply) if horizon is None else horizon
    if not watch > 0:
        raise ValueError(f"horizon is a positive number of city seconds, not {horizon!r}")
    tl = record_into if record_into is not None else Timeline(name=mode)
    try:
        with _collector_held():
            async with asyncio.timeout(clock.to_real(watch)):
                await run_race(mode, requests, record_into=tl)
    except TimeoutError:
        pass  # still serving at the horizon: we stop watching (the race is called off)
    return ChatRush(mode, users, float(slow_reply), watch, tl)


_holds = 0  # rushes under way that hold the garbage collector off
_collector_was_on = True


@contextmanager
def _collector_held() -> Iterator[None]:
    """Hold Python's cycle collector off while 1,000 users rush in.

    Starting and answering 1,000 requests allocates enough to trigger a full
    collection, and in a notebook holding every chart drawn so far one pauses the
    loop for 50 to 80 ms: on a fast city clock, a second of "late" users that no
    server caused. Reference counting still frees almost everything meanwhile; the
    collector runs again when the last rush ends (rushes may overlap, hence the count).
    """
    global _holds, _collector_was_on
    if _holds == 0:
        _collector_was_on = gc.isenabled()
        gc.disable()
    _holds += 1
    try:
        yield
    finally:
        _holds -= 1
        if _holds == 0 and _collector_was_on:
            gc.enable()
