"""Shared test set-up (the clock speed is set in the root conftest.py)."""

import gc
import os
from collections.abc import Iterator

import pytest

from citylib import clock

# The grader's fixture submissions are notebooks on purpose broken in many ways;
# they are data for tests/test_grading.py, not notebooks for nbval to run.
collect_ignore_glob = ["submissions/*"]

# make test runs the suite on three workers (pytest-xdist, --dist loadfile
# --no-loadscope-reorder): each module runs whole on one worker, the next module going
# to whichever worker comes free. The longest modules go first, so that none is left
# running alone at the end; the rest keep their order, as does a run on one worker.
# A worker is handed its next module once two of its tests are left. The benchmarks'
# last two tests are long ones, so the grader, next in line, is queued behind them at
# once: the two modules that load both cores (kernels and JupyterLab, the grader's
# dozen children) run one after the other on one worker, and the races with the
# tightest margins on the real clock (race, server, cli) beside modules that mostly wait.
LONGEST_FIRST = (
    "test_benchmarks.py",
    "test_sprint.py",
    "test_practice.py",
    "test_grading.py",
    "test_widgets.py",
    "test_race.py",
    "test_server.py",
    "test_cli.py",
    "test_surge.py",
    "test_roadblock.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable


@pytest.fixture(scope="session", autouse=True)
def frozen_heap() -> Iterator[None]:
    """Once every test module is imported, move what exists out of the garbage
    collector's sight for the session (``citylib serve`` does the same at start-up).

    Tests force full collections to flush "never awaited" warnings and unretrieved
    exceptions, and a surge collects once it is over; each scanned every object of
    matplotlib, FastAPI, IPython... (90 ms a collection). Now a collection scans what
    the tests made, which is all that such a test is looking for.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


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
