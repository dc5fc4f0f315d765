"""citylib: the helper library of the Async Highways course.

Notebooks import, citylib defines. The light core (city clock, services, timeline,
race, ``run``) loads at once; modules that pull in heavy libraries (matplotlib,
ipywidgets, FastAPI, aiohttp) load on first use, so ``import citylib`` stays quick.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from citylib import clock, race, services, timeline
from citylib.race import (
    MODES,
    RaceResult,
    Request,
    city_requests,
    compare,
    predict_makespan,
    race_blocking,
)
from citylib.race import race as run_race
from citylib.runner import run
from citylib.services import SERVICES, Service, ServiceError, call, call_blocking, conditions
from citylib.timeline import Timeline, Trip, recording

__version__ = "0.1.0"

#: Submodules loaded on first attribute access (each imports a heavy library).
_LAZY_MODULES = (
    "charts",
    "widgets",
    "server",
    "surge",
    "sprint",
    "grading",
    "cli",
    "crashes",
    "roadblock",
    "trace",
)

__all__ = [
    "MODES",
    "SERVICES",
    "RaceResult",
    "Request",
    "Service",
    "ServiceError",
    "Timeline",
    "Trip",
    "__version__",
    "call",
    "call_blocking",
    "charts",
    "city_requests",
    "cli",
    "clock",
    "compare",
    "conditions",
    "crashes",
    "grading",
    "predict_makespan",
    "race",
    "race_blocking",
    "recording",
    "roadblock",
    "run",
    "run_race",
    "server",
    "services",
    "sprint",
    "surge",
    "timeline",
    "trace",
    "widgets",
]


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"citylib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'citylib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
