"""City time: one place that turns city seconds into real seconds.

A *city second* is what a learner reads on every chart and summary. It lasts
``1 / speed`` real seconds, where ``speed`` comes from the ``CITYLIB_SPEED``
environment variable (default 1). Tests run at speed 20 or more and see the same
figures in city seconds, only sooner.

Time has one seam: every reading of the city clock (:func:`now`, every timeline) goes
through :func:`reading`, which is ``time.perf_counter`` unless :func:`time_source`
swaps it, as :func:`citylib.testing.virtual_time` does to run pure asyncio code on a
virtual loop's clock, where sleeping takes no real time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "ENV_VAR",
    "CalledOffError",
    "block",
    "now",
    "reading",
    "scaled",
    "sleep",
    "speed",
    "time_source",
    "to_city",
    "to_real",
    "validate_speed",
]

ENV_VAR = "CITYLIB_SPEED"

# Set by `scaled()`; wins over the environment variable while it is active.
_override: float | None = None

# Where real seconds are read; see `time_source()`.
_source: Callable[[], float] = time.perf_counter


def reading() -> Callable[[], float]:
    """The function that reads real seconds now (``time.perf_counter`` unless swapped)."""
    return _source


@contextmanager
def time_source(read: Callable[[], float]) -> Iterator[None]:
    """Read the clock from ``read`` (such as a virtual loop's ``time``) inside the block."""
    global _source
    previous = _source
    _source = read
    try:
        yield
    finally:
        _source = previous


def validate_speed(value: object) -> float:
    """Return ``value`` as a positive, finite speed, or raise a clear ``ValueError``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{ENV_VAR} must be a number such as 1 or 20, not {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(
            f"{ENV_VAR} must be a positive, finite number (1 = real time, 20 = twenty "
            f"times faster), not {value!r}"
        )
    return number


def speed() -> float:
    """How many city seconds pass in one real second (``CITYLIB_SPEED``, default 1)."""
    if _override is not None:
        return _override
    raw = os.environ.get(ENV_VAR, "").strip()
    return validate_speed(raw) if raw else 1.0


def to_real(city_seconds: float) -> float:
    """Real seconds that ``city_seconds`` last at the current speed."""
    return city_seconds / speed()


def to_city(real_seconds: float) -> float:
    """City seconds that ``real_seconds`` stand for at the current speed."""
    return real_seconds * speed()


def now() -> float:
    """A monotonic reading in city seconds (only differences between readings mean anything)."""
    return _source() * speed()


async def sleep(city_seconds: float) -> None:
    """Wait politely for ``city_seconds``: the event loop keeps serving other lanes."""
    await asyncio.sleep(to_real(max(0.0, city_seconds)))


def block(city_seconds: float, cancel: threading.Event | None = None) -> None:
    """Wait *rudely* for ``city_seconds``: the whole thread, event loop included, stops.

    Args:
        city_seconds: How long to block.
        cancel: Lets another thread end the wait early (a worker thread of a race
            that was called off); then :class:`CalledOffError` is raised.
    """
    real = to_real(max(0.0, city_seconds))
    if cancel is None:
        time.sleep(real)
    elif cancel.wait(real):
        raise CalledOffError("the run was called off")


class CalledOffError(Exception):
    """A blocking wait was called off through its ``cancel`` event."""


@contextmanager
def scaled(new_speed: float) -> Iterator[float]:
    """Run a block at another clock speed, then restore the previous one.

    Example:
        >>> with scaled(50):
        ...     speed()
        50.0
    """
    global _override
    previous = _override
    _override = validate_speed(new_speed)
    try:
        yield _override
    finally:
        _override = previous
