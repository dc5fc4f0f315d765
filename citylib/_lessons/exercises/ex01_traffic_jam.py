"""Notebook 01's exercise: make the one-lane commute a highway; and its predict-then-run."""

from __future__ import annotations

from typing import Any

from citylib._core import timeline
from citylib._core.timeline import Timeline
from citylib._lessons.exercises._measure import calls_once, held, payload_of, run_answer, together
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction, heartbeat

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 01 · make the one-lane road a highway -------------------------------------------------

_COMMUTE = ("chat", "maps", "weather")


async def _judge_highway(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(
            f"`commute` should be a function (async def commute(): ...), not {answer!r:.60}"
        )
    with timeline.recording(Timeline(name="your commute")) as tl, heartbeat() as beats:
        returned = await run_answer(answer)
    checks = [calls_once(tl, _COMMUTE), together(tl, _COMMUTE), held(beats.longest_gap)]
    ok = (
        isinstance(returned, list | tuple)
        and len(returned) == 3
        and all(payload_of(v, n) for v, n in zip(returned, _COMMUTE, strict=False))
    )
    shown = (
        type(returned).__name__
        if not isinstance(returned, list | tuple)
        else (
            "["
            + ", ".join(
                v.get("service", "?") if isinstance(v, dict) else type(v).__name__ for v in returned
            )
            + "]"
        )
    )
    cause = (
        ""
        if ok
        else (
            "return the three answers in the order chat, maps, weather: gather hands them back "
            "in the order you passed the calls in"
        )
    )
    checks.append(Check(ok, "the three answers came back, in order", f"returned {shown}", cause))
    return checks


_HIGHWAY = Exercise(
    id="01_highway",
    notebook="01_traffic_jam",
    title="Make the one-lane commute a highway",
    answer_name="commute",
    stub="""async def commute():
    # 🛣️ Ask 💬 chat, 🗺️ maps and ☁️ weather at the same time
    # and return their three answers as a list: [chat, maps, weather].
    ...
""",
    solution_code="""import asyncio

from citylib import call


async def commute():
    chat, maps, weather = await asyncio.gather(call("chat"), call("maps"), call("weather"))
    return [chat, maps, weather]
""",
    hints=[
        "The cause of a jam: a car that is awaited on its own line has to arrive before the "
        "next line runs, so three awaits in a row add their times up (3 + 2 + 1 = 6 s). "
        "And call_blocking() never lets anyone else drive at all.",
        "The shape of the fix: one single await, on the foreman that sends every car off "
        "at once. Pass it the three calls (each call(...) is a car not yet driving), "
        "unpack the three answers it returns, and return them as a list.",
    ],
    judge=_judge_highway,
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_HIGHWAY,)

#: The predict-then-run questions of this notebook.
PREDICTIONS: tuple[Prediction, ...] = (
    Prediction(
        "01_jam_makespan",
        "01_traffic_jam",
        "how many city seconds until the last car arrives on the one-lane road",
        "s",
        "One lane adds every trip up: 8 + 3 + 2.5 + 2 + 1.5 + 1 = 18 s.",
    ),
)
