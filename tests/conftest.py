"""Shared test set-up (the clock speed is set in the root conftest.py)."""

from collections.abc import Iterator

import pytest

from citylib import clock

# The grader's fixture submissions are notebooks on purpose broken in many ways;
# they are data for tests/test_grading.py, not notebooks for nbval to run.
collect_ignore_glob = ["submissions/*"]


@pytest.fixture(scope="session")
def careful_speed() -> float:
    """The careful clock's speed, for a module-scoped fixture that races on it once."""
    return 4.0


@pytest.fixture
def careful_clock(careful_speed: float) -> Iterator[float]:
    """A city clock 4x real time for races on the real clock: slow enough that a busy
    machine's late wake-ups stay well inside their margins (0.1 real seconds late is
    2 city seconds at the suite's speed 20, 0.4 at speed 4)."""
    with clock.scaled(careful_speed) as speed:
        yield speed
