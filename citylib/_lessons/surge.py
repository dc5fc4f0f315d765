"""The surge: a thousand users connect to AI City at once. Does it stay alive?

:func:`surge` sends ``users`` requests at the same moment (aiohttp, one connection
each) to a server on this machine and records when each one started, ended and
how (``ok``, ``timeout``, ``error``). Every surge is bounded: at most
:data:`MAX_USERS` users, a per-request timeout (users give up), and an overall
deadline, never longer than :data:`MAX_REAL_SECONDS` real seconds.

A :class:`SurgeResult` reports in city seconds (what a learner reads) and real
seconds: completion time, p50/p95/p99 latency, counts, a one-line summary and a
chart of requests over time. The ``measure_*`` functions are the benchmarks'
building blocks: each starts its own server, surges it and returns figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from citylib._core import clock
from citylib._core.runner import run
from citylib._lessons.server import (
    LOOPBACK_HOSTS,
    SYSTEMS,
    ManagedServer,
    bare_app,
    create_app,
    system_path,
)

__all__ = [
    "DEFAULT_PATIENCE",
    "HIT_STATUSES",
    "MAX_REAL_SECONDS",
    "MAX_USERS",
    "Hit",
    "Progress",
    "SurgeResult",
    "check_url",
    "measure_surge",
    "percentile",
    "serve_in_process",
    "surge",
    "surge_blocking",
    "surge_system",
]

#: The most users one surge may send.
MAX_USERS = 20_000

#: No surge runs longer than this many real seconds, whatever its settings.
MAX_REAL_SECONDS = 120.0

#: City seconds a user waits for an answer before giving up.
DEFAULT_PATIENCE = 30.0

#: How one user's request can end.
HIT_STATUSES = ("ok", "timeout", "error")


@dataclass(frozen=True, slots=True)
class Hit:
    """One user's request, in real seconds since the surge began.

    Attributes:
        start: When the request was sent.
        end: When it was answered, failed or given up on.
        status: One of :data:`HIT_STATUSES`.
        code: The HTTP status, when an answer came.
    """

    start: float
    end: float
    status: str
    code: int | None = None

    @property
    def latency(self) -> float:
        """Real seconds from sending to the end."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Progress:
    """How a surge is going, for a live status line.

    Attributes:
        users: Users in the surge.
        ok: Answered so far.
        timeouts: Given up so far.
        errors: Failed so far.
        elapsed: City seconds since the surge began.
    """

    users: int
    ok: int
    timeouts: int
    errors: int
    elapsed: float

    @property
    def waiting(self) -> int:
        """Users still waiting for an answer."""
        return self.users - self.ok - self.timeouts - self.errors


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by the nearest-rank method.

    Raises:
        ValueError: For no values or ``q`` outside 0..1.
    """
    if not values:
        raise ValueError("percentile() of no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q is a fraction between 0 and 1, not {q!r}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class SurgeResult:
    """What happened in one surge.

    Attributes:
        url: Where the users went.
        users: How many went.
        hits: One :class:`Hit` per user, in the order they were sent.
        wall: Real seconds from the first request to the last ending.
        speed: The city clock's speed during the surge.
        patience: City seconds each user waited before giving up.
        title: Heading for the summary and chart (defaults to the URL's path).
    """

    url: str
    users: int
    hits: list[Hit] = field(repr=False)
    wall: float
    speed: float
    patience: float
    title: str = ""

    def count(self, status: str) -> int:
        """How many requests ended with ``status``."""
        return sum(1 for h in self.hits if h.status == status)

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx."""
        return self.count("ok")

    @property
    def timeouts(self) -> int:
        """Users who gave up waiting."""
        return self.count("timeout")

    @property
    def errors(self) -> int:
        """Requests that failed (refused, reset, or a non-2xx answer)."""
        return self.count("error")

    @property
    def alive(self) -> bool:
        """Whether the city served every user."""
        return self.ok == self.users

    @property
    def completion(self) -> float:
        """City seconds until the last user was answered or gave up."""
        return self.wall * self.speed

    def latency(self, q: float) -> float | None:
        """The ``q``-quantile of answered requests' latency in city seconds (``None`` if none)."""
        served = [h.latency for h in self.hits if h.status == "ok"]
        return percentile(served, q) * self.speed if served else None

    @property
    def p50(self) -> float | None:
        """Median latency of answered requests, city seconds."""
        return self.latency(0.50)

    @property
    def p95(self) -> float | None:
        """95th-percentile latency of answered requests, city seconds."""
        return self.latency(0.95)

    @property
    def p99(self) -> float | None:
        """99th-percentile latency of answered requests, city seconds."""
        return self.latency(0.99)

    def summary(self) -> str:
        """One line a learner (or a screen reader) can read instead of the chart."""
        head = f"{self.title or urlsplit(self.url).path}: {self.users:,} users"
        if self.alive:
            line = f"{head}, all served in {self.completion:.1f} s"
        else:
            line = f"{head}, {self.ok:,} served"
            line += f", {self.timeouts:,} gave up after {self.patience:g} s"
            if self.errors:
                line += f", {self.errors:,} errors"
        if self.ok:
            line += f" (latency p50 {self.p50:.1f} s, p95 {self.p95:.1f} s, p99 {self.p99:.1f} s)"
        return f"{line}. {self.verdict}"

    @property
    def verdict(self) -> str:
        """Popy's verdict: alive, alive but jammed, or collapsed."""
        if not self.alive:
            return "The city collapses. 💥"
        # The quickest answer is about what the route itself takes; twice that at
        # p99 means users spent more time in line than being served.
        quickest = self.latency(0.0) or 0.0
        if (self.p99 or 0.0) > 2 * quickest:
            return "The city survives, but users waited in long lines. 🐢"
        return "The city stays alive! 🎉"

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain values (for JSON), city and real seconds side by side."""

        def real(city: float | None) -> float | None:
            return None if city is None else city / self.speed

        return {
            "title": self.title,
            "url": self.url,
            "users": self.users,
            "ok": self.ok,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "speed": self.speed,
            "completion_city_s": self.completion,
            "completion_real_s": self.wall,
            **{f"p{q}_city_s": self.latency(q / 100) for q in (50, 95, 99)},
            **{f"p{q}_real_s": real(self.latency(q / 100)) for q in (50, 95, 99)},
        }


def check_url(url: str) -> str:
    """Return ``url`` if a surge may go there: ``http://`` on this machine only.

    Raises:
        ValueError: For any other scheme or host, with the reason.
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"a surge needs an http:// URL, not {url!r}")
    if parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"a surge only drives AI City on this machine ({', '.join(LOOPBACK_HOSTS)}); "
            f"refusing host {parts.hostname!r}"
        )
    return url


def _check_users(users: int) -> int:
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be a whole number from 1 to {MAX_USERS:,}, not {users!r}")
    return users


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive number of city seconds, not {value!r}")
    return float(value)


async def surge(
    url: str,
    users: int = 1000,
    *,
    patience: float = DEFAULT_PATIENCE,
    deadline: float | None = None,
    title: str = "",
    on_progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.25,
    speed: float | None = None,
) -> SurgeResult:
    """Send ``users`` requests to ``url`` at once and record how each one ends.

    Args:
        url: An ``http://`` URL on 127.0.0.1, localhost or ::1.
        users: How many users connect at once (1 to :data:`MAX_USERS`).
        patience: City seconds each user waits before giving up (their timeout).
        deadline: City seconds until the whole surge is called off (default: the
            patience and a half); never more than :data:`MAX_REAL_SECONDS` real seconds.
        title: Heading for the summary and chart.
        on_progress: Called with a :class:`Progress` every ``progress_every`` real
            seconds, and once at the end (a live status line).
        progress_every: Real seconds between progress calls.
        speed: The clock speed the server's city seconds run at (default:
            ``CITYLIB_SPEED``); give the app's own when it was pinned with
            ``create_app(speed=...)``.

    Returns:
        The :class:`SurgeResult`. Cancelling the awaiting task stops every request.

    Raises:
        ValueError: For a URL off this machine, or a count or time out of bounds.
    """
    import aiohttp  # here: a notebook that never surges never loads it

    check_url(url)
    _check_users(users)
    patience = _check_seconds("patience", patience)
    deadline = _check_seconds("deadline", deadline) if deadline is not None else patience * 1.5
    speed = clock.speed() if speed is None else clock.validate_speed(speed)
    real_patience = min(patience / speed, MAX_REAL_SECONDS)
    real_deadline = min(max(deadline, patience) / speed, MAX_REAL_SECONDS)

    hits: list[Hit | None] = [None] * users
    tally = dict.fromkeys(HIT_STATUSES, 0)
    # No cap on connections: every user gets a lane of their own. The default
    # (100) would queue users in the client and hide the server's own behaviour.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    session = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=real_patience)
    )
    origin = time.perf_counter()

    async def user(i: int) -> None:
        start = time.perf_counter() - origin
        code: int | None = None
        try:
            async with session.get(url) as response:
                await response.read()
                code = response.status
            status = "ok" if 200 <= code < 300 else "error"
        except TimeoutError:
            status = "timeout"
        except (aiohttp.ClientError, OSError):
            status = "error"
        hits[i] = Hit(start, time.perf_counter() - origin, status, code)
        tally[status] += 1

    def report() -> None:
        if on_progress is not None:
            elapsed = (time.perf_counter() - origin) * speed
            on_progress(Progress(users, tally["ok"], tally["timeout"], tally["error"], elapsed))

    async def ticker() -> None:
        while True:
            await asyncio.sleep(progress_every)
            report()

    cut = real_deadline
    with gc_paused():
        tasks = [asyncio.create_task(user(i)) for i in range(users)]
        reporter = asyncio.create_task(ticker()) if on_progress is not None else None
        try:
            await asyncio.wait(tasks, timeout=real_deadline)
            cut = time.perf_counter() - origin
        finally:
            for task in tasks:
                task.cancel()
            if reporter is not None:
                reporter.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
    # Users still waiting at the deadline gave up then.
    final = [h if h is not None else Hit(0.0, cut, "timeout") for h in hits]
    tally["timeout"] += sum(1 for h in hits if h is None)
    report()
    wall = max(h.end for h in final)
    return SurgeResult(url, users, final, wall, speed, patience, title)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the garbage collector for a bounded surge, then restore it.

    Thousands of live requests make every full collection scan them all: in a
    10,000-user surge the load generator spent a quarter of its time there, which
    the chart would show as the *server's* slowness. Reference counting still frees
    almost everything; the surge is bounded in time, and the collector comes back
    (and runs once) as soon as it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


def surge_blocking(url: str, users: int = 1000, **options: Any) -> SurgeResult:
    """:func:`surge` for code without an event loop (scripts, the CLI)."""
    return run(surge(url, users, **options))


async def surge_system(
    system: str = "async",
    users: int = 1000,
    *,
    latency: float = 1.0,
    patience: float = DEFAULT_PATIENCE,
    speed: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> SurgeResult:
    """Open a fresh AI City on 127.0.0.1, surge one routing system, close the city.

    A fresh server each time: whatever a bad system left stuck (a thousand requests
    behind the trap) is called off when its city closes, and never slows the next.

    Args:
        system: A routing system (see :data:`citylib._lessons.server.SYSTEMS`).
        users: Users in the surge.
        latency: The weather service's latency, in city seconds.
        patience: City seconds each user waits before giving up.
        speed: The clock speed of the city and the surge. The default, 1, is real
            time whatever ``CITYLIB_SPEED`` says: the CPU work of a thousand
            connections does not speed up with the clock, so on a fast clock even
            the Async Highway would look jammed.
        on_progress: Called with a :class:`Progress` four times a second.

    Raises:
        ValueError: For an unknown system or a bound out of range.
    """
    path = system_path(system, "weather", latency)
    city = ManagedServer(create_app(speed=speed))
    # One thread opens the city and then closes it. Called off while the city is still
    # opening, the close waits its turn behind the opening; on threads of their own the
    # close could run first, find nothing to close, and leave the city running.
    doors = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citylib-city-doors")
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(doors, contextvars.copy_context().run, city.start)
        return await surge(
            city.url + path,
            users,
            patience=patience,
            title=SYSTEMS[system].label,
            on_progress=on_progress,
            speed=speed,
        )
    finally:
        # Done or called off, the city closes: requests still stuck in it end now.
        try:
            await loop.run_in_executor(doors, contextvars.copy_context().run, city.stop)
        finally:
            doors.shutdown(wait=False)


# Measuring: each function starts its own server, so a figure never depends on
# what ran before it.


@contextlib.contextmanager
def serve_in_process(app: str = "citylib", speed: float | None = None) -> Iterator[str]:
    """Serve AI City (or the bare baseline) in a child process; yield its base URL.

    A separate process gets a core and a GIL of its own, and a file-descriptor
    budget of its own: 10,000 users need 10,000 sockets on each side.

    Args:
        app: ``"citylib"`` (the FastAPI app) or ``"bare"`` (``bare_app``).
        speed: The child's clock speed (default: this process's).
    """
    if app not in ("citylib", "bare"):
        raise ValueError(f"app is 'citylib' or 'bare', not {app!r}")
    env = {**os.environ, clock.ENV_VAR: repr(speed if speed is not None else clock.speed())}
    command = [sys.executable, "-m", "citylib", "serve", "--port", "0", "--app", app]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()  # "… open at http://127.0.0.1:PORT …"
            url = next((w for w in line.split() if w.startswith("http://")), None)
            if url is None:
                raise RuntimeError(f"the AI City server did not start: {line!r}")
            yield url
        finally:
            child.terminate()  # `citylib serve` closes the city cleanly on SIGTERM
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


def measure_surge(
    system: str = "async",
    users: int = 1000,
    *,
    latency: float = 1.0,
    patience: float = 60.0,
    where: str = "process",
) -> SurgeResult:
    """One benchmark figure: ``users`` users on one routing system of a fresh server.

    Args:
        system: A routing system (see :data:`citylib._lessons.server.SYSTEMS`), or ``"bare"``
            for the bare ASGI baseline.
        users: Users in the surge.
        latency: The upstream latency, city seconds.
        patience: City seconds each user waits.
        where: ``"process"`` (a child process, the fair set-up) or ``"thread"``
            (a :class:`~citylib._lessons.server.ManagedServer` in this process, as in a notebook).

    Returns:
        The surge's result; ``as_dict()`` gives its figures.
    """
    if where not in ("process", "thread"):
        raise ValueError(f"where is 'process' or 'thread', not {where!r}")
    path = (
        f"/weather?latency={latency:g}"
        if system == "bare"
        else system_path(system, "weather", latency)
    )
    title = "bare ASGI app" if system == "bare" else SYSTEMS[system].label
    app = "bare" if system == "bare" else "citylib"
    if where == "process":
        with serve_in_process(app) as base:
            return surge_blocking(base + path, users, patience=patience, title=title)
    server = ManagedServer(bare_app if app == "bare" else None)
    with server:
        return surge_blocking(server.url + path, users, patience=patience, title=title)
