"""AI City's services: slow on purpose, in an async form and a blocking twin.

Each :class:`Service` has a latency in city seconds. :func:`call` awaits it
politely (``await clock.sleep``); :func:`call_blocking` is its twin that blocks
the thread (``time.sleep``), so a one-lane server and the Async Highway compare
like for like. Both record a trip on the current timeline and return a fresh
payload dict.

Real services are not always well behaved. :func:`conditions` turns on seeded
jitter and failure injection (an error, a hang, a slow tail) for a block; by
default every call takes exactly its latency and succeeds.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from citylib._core import clock, timeline

__all__ = [
    "SERVICES",
    "Conditions",
    "Service",
    "ServiceError",
    "ask_weather_service",
    "call",
    "call_blocking",
    "conditions",
    "fetch_weather",
    "fetch_weather_blocking",
    "generate_image",
    "generate_image_blocking",
    "get_ai_reply",
    "get_ai_reply_blocking",
    "get_service",
]


@dataclass(frozen=True)
class Service:
    """A mock AI-City service.

    Attributes:
        name: Short key, such as ``"image"``.
        title: Its name in words, such as ``"Image Gen"`` (charts use this: their
            fonts have no emoji).
        emoji: Its sign, such as ``"🎨"``.
        latency: City seconds one call takes.
        answer: The payload it returns (copied fresh on every call).
    """

    name: str
    title: str
    emoji: str
    latency: float
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What a learner reads in text, such as ``"🎨 Image Gen"``."""
        return f"{self.emoji} {self.title}"


#: The city's services, slowest first. Their latencies add up to 18 city seconds.
SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service(
            "image", "Image Gen", "🎨", 8.0, {"image": "citypopy_skyline.png", "size": "1024x1024"}
        ),
        Service("chat", "AI Chat", "💬", 3.0, {"reply": "Hello from Popy! How can I help?"}),
        Service(
            "speech", "Speech", "🎙️", 2.5, {"transcript": "Two tickets to the harbour, please."}
        ),
        Service(
            "maps", "Maps", "🗺️", 2.0, {"route": "Main St → Highway 1 → Harbour", "minutes": 12}
        ),
        Service("translate", "Translate", "🌐", 1.5, {"text": "Bonjour, Citypopy!", "lang": "fr"}),
        Service("weather", "Weather", "☁️", 1.0, {"city": "Citypopy", "temp": "22°C"}),
    )
}


class ServiceError(RuntimeError):
    """A service failed (only when failure injection is on)."""


def get_service(name: str | Service) -> Service:
    """Look a service up by name, with a helpful error for a typo."""
    if isinstance(name, Service):
        return name
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(SERVICES)
        raise ValueError(f"unknown service {name!r}; AI City has: {known}") from None


@dataclass
class Conditions:
    """How services misbehave inside :func:`conditions` (all off by default).

    Attributes:
        jitter: Each latency varies by up to this fraction (0.1 = ±10 %).
        failure_rate: Chance (0..1) that any call fails with :class:`ServiceError`.
        fail: Services that always fail, after half their latency.
        hang: Services that never answer (they wait ``hang_seconds``).
        slow: Extra latency factor per service, for a slow tail (``{"chat": 4}``).
        hang_seconds: How long a hang lasts, in city seconds.
        seed: Seed for the jitter and failure dice; the same seed, the same city.
    """

    jitter: float = 0.0
    failure_rate: float = 0.0
    fail: frozenset[str] = frozenset()
    hang: frozenset[str] = frozenset()
    slow: dict[str, float] = field(default_factory=dict)
    hang_seconds: float = 3600.0
    seed: int | None = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction between 0 and 1, not {self.jitter!r}")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError(
                f"failure_rate is a probability between 0 and 1, not {self.failure_rate!r}"
            )
        for name in (*self.fail, *self.hang, *self.slow):
            get_service(name)
        for name, factor in self.slow.items():
            if not factor > 0:
                raise ValueError(f"slow factor for {name!r} must be positive, not {factor!r}")
        self._rng = random.Random(self.seed)

    def plan(self, service: Service) -> tuple[float, bool]:
        """Decide one call's latency and whether it fails."""
        if service.name in self.hang:
            return self.hang_seconds, False
        if service.name in self.fail:
            return service.latency / 2, True
        latency = service.latency * self.slow.get(service.name, 1.0)
        with self._lock:  # one Random shared by threads: keep its draws in order
            if self.jitter:
                latency *= 1 + self._rng.uniform(-self.jitter, self.jitter)
            failed = self.failure_rate > 0 and self._rng.random() < self.failure_rate
        return latency, failed


_conditions: ContextVar[Conditions | None] = ContextVar("citylib_conditions", default=None)


@contextmanager
def conditions(**settings: Any) -> Iterator[Conditions]:
    """Let services misbehave inside the block (see :class:`Conditions`).

    Example:
        >>> with conditions(fail={"chat"}) as c:
        ...     sorted(c.fail)
        ['chat']
    """
    for key in ("fail", "hang"):
        if key in settings:
            value = settings[key]
            settings[key] = frozenset([value] if isinstance(value, str) else value)
    cond = Conditions(**settings)
    token = _conditions.set(cond)
    try:
        yield cond
    finally:
        _conditions.reset(token)


def _plan(service: Service) -> tuple[float, bool]:
    cond = _conditions.get()
    return (service.latency, False) if cond is None else cond.plan(service)


def _payload(service: Service, latency: float) -> dict[str, Any]:
    return {"service": service.name, **service.answer, "latency": round(latency, 3)}


def _failure(service: Service) -> ServiceError:
    return ServiceError(f"{service.label} broke down on the highway (injected failure)")


async def call(
    name: str | Service,
    *,
    request: str | None = None,
    lane: str | None = None,
    queued: float | None = None,
) -> dict[str, Any]:
    """Ask a service and await its answer politely; the loop keeps serving others.

    Args:
        name: The service's name (see :data:`SERVICES`) or the service itself.
        request: The request's name on the timeline (defaults to the service's).
        lane: The lane shown on the timeline (defaults to the request's own lane).
        queued: When the request joined the line, if earlier than now.

    Returns:
        A fresh payload dict including ``"service"`` and ``"latency"``.

    Raises:
        ServiceError: When failure injection says this call fails.
    """
    service = get_service(name)
    latency, failed = _plan(service)
    req = request or service.name
    with timeline.trip(req, service.name, lane or f"lane {req}", queued):
        await clock.sleep(latency)
        if failed:
            raise _failure(service)
    return _payload(service, latency)


def call_blocking(
    name: str | Service,
    *,
    request: str | None = None,
    lane: str | None = None,
    queued: float | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """The blocking twin of :func:`call`: ``time.sleep`` holds the whole thread.

    ``cancel`` lets a worker thread be called off (see :func:`citylib._core.clock.block`).
    """
    service = get_service(name)
    latency, failed = _plan(service)
    req = request or service.name
    with timeline.trip(req, service.name, lane or threading.current_thread().name, queued):
        clock.block(latency, cancel)
        if failed:
            raise _failure(service)
    return _payload(service, latency)


# The seed's own names, so course snippets run as written.


async def fetch_weather() -> dict[str, Any]:
    """☁️ The weather service (1 city second), awaited politely."""
    return await call("weather")


async def ask_weather_service() -> dict[str, Any]:
    """The seed's ``/weather`` route asks this: the weather service, awaited."""
    return await call("weather")


async def generate_image() -> dict[str, Any]:
    """🎨 Image generation (8 city seconds), awaited politely."""
    return await call("image")


async def get_ai_reply() -> dict[str, Any]:
    """💬 A chat reply (3 city seconds), awaited politely."""
    return await call("chat")


def fetch_weather_blocking() -> dict[str, Any]:
    """☁️ The weather service, blocking the thread."""
    return call_blocking("weather")


def generate_image_blocking() -> dict[str, Any]:
    """🎨 Image generation, blocking the thread."""
    return call_blocking("image")


def get_ai_reply_blocking() -> dict[str, Any]:
    """💬 A chat reply, blocking the thread."""
    return call_blocking("chat")
