"""citylib: the helper library of the Async Highways course.

Notebooks import, citylib defines. Layout (imports point one way, down this list;
``make lint`` checks it with import-linter):

* ``citylib._core``: time, services, trips, races and the one loop watcher. Only the
  standard library.
* ``citylib._lessons``: each notebook's measurements (heartbeat, chatbot rush, surge
  and server, crash lessons, the Sprint's contract, judge and self-check, the
  practice exercises of every notebook). They
  return plain dataclasses with a one-line ``summary()``; no drawing.
* ``citylib._views``: one chart style, one live board, the widgets that connect a
  lesson to a view, the glossary.
* Entry points: ``citylib`` (learners) and its public modules (``citylib.lanes``,
  ``citylib.sprint``, ...: ``_PUBLIC_MODULES``, each a real module), ``citylib.widgets``
  (the notebooks' widgets), ``citylib.grading`` (teachers), ``citylib.testing``
  (tests), ``citylib.server`` (``uvicorn citylib.server:app``), and the ``citylib``
  command. Everything with a leading underscore is private.

The code's own words, one meaning each:

* **city second**: what every chart and summary reads; ``CITYLIB_SPEED`` of them
  pass in one real second (:mod:`clock`).
* **service**: one of AI City's slow mock backends (🎨 image, 💬 chat, ...), called
  politely (``call``) or with its blocking twin (``call_blocking``).
* **request**: one car entering the city: a name and the service it needs.
* **trip**: one request's journey on a **timeline**: queued, start, end, status.
* **lane**: what serves a trip: the one lane, a worker thread, or the request's own
  lane on the Async Highway. A race's lanes are rows in its chart.
* **race**: the same requests through one routing **mode** (``sync``, ``threads``,
  ``async``); ``run_race`` runs one, ``race_modes`` several, ``race_blocking`` one
  from a script.
* **makespan**: city seconds from the first arrival to the last finish.
* **lanes** (your own): :mod:`citylib.lanes` records any asyncio code, one lane per
  task, each a run of *running* (holding the loop) and *awaiting* (suspended) spans
  (recorded in real seconds; read, in its summary and chart, in city seconds).
* **stall**: a stretch of real time the event loop was held (could not run anything),
  at least the threshold long (the one rule, :func:`citylib._core.watch.held_threshold`),
  found by the one loop watcher and named by the line that held it. Notebooks show a
  stall as a 🚧 roadblock.
* **drive**: one run of a learner's function by the Sprint's judge, over fresh
  sources (a trip's length in city seconds is its ``duration``).
* **slip**: a common mistake in a learner's Sprint answer, recognised from what its
  drives did (:mod:`citylib._lessons.slips`) and named once, by its cause, however many
  checks it fails: a **diagnosis** is that one message (cause, what was seen, the
  shape of the fix).
* **lesson**: a measured run of one idea from a notebook, returned as plain data.
* **exercise**: a checked task in a notebook (:mod:`citylib.practice`): the learner's
  cell binds an ``answer_name``, and ``await ex.check(answer)`` judges it from
  measurements (trips, the heartbeat, what came back), never from what it prints.
* **token**: one piece of a chat reply (a word or part of one); a **stream** sends a
  reply token by token (:mod:`citylib._core.stream`), and its **time to first token**
  is how long a reader waits before there is anything to read.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from citylib._core import clock, services, timeline
from citylib._core.race import (
    MODES,
    RaceResult,
    Request,
    city_requests,
    predict_makespan,
    race_blocking,
    race_modes,
    run_race,
)
from citylib._core.runner import run
from citylib._core.services import (
    SERVICES,
    Service,
    ServiceError,
    ask_weather_service,
    call,
    call_blocking,
    conditions,
    fetch_weather,
    generate_image,
    get_ai_reply,
)
from citylib._core.timeline import Timeline, Trip, recording

__version__ = "0.1.0"

#: Public modules: each is a real file ``citylib/NAME.py`` (``import citylib.NAME`` and
#: ``from citylib.NAME import ...`` work), loaded on first use because most import a
#: heavy library or a lesson. A file either is the module (``server``) or hands over
#: the private module that holds the code, so every spelling gives one module object.
_PUBLIC_MODULES = frozenset(
    {
        "charts",
        "clock",
        "crashes",
        "lanes",
        "practice",
        "roadblock",
        "server",
        "services",
        "sprint",
        "streaming",
        "surge",
        "timeline",
        "trace",
    }
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
    "ask_weather_service",
    "call",
    "call_blocking",
    "charts",
    "city_requests",
    "clock",
    "conditions",
    "crashes",
    "fetch_weather",
    "generate_image",
    "get_ai_reply",
    "lanes",
    "practice",
    "predict_makespan",
    "race_blocking",
    "race_modes",
    "recording",
    "roadblock",
    "run",
    "run_race",
    "server",
    "services",
    "sprint",
    "streaming",
    "surge",
    "timeline",
    "trace",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext citylib``: the ``%%lanes`` cell magic (see :mod:`citylib.lanes`)."""
    from citylib._views.lanes_magic import load

    load(ipython)


def __getattr__(name: str) -> ModuleType:
    if name in _PUBLIC_MODULES:
        return importlib.import_module(f"{__name__}.{name}")  # the import binds it here
    raise AttributeError(f"module 'citylib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
