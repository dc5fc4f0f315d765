"""Notebook 02's exercise: find the rude driver and make it polite."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import replace
from typing import Any

from citylib._core import clock
from citylib._lessons.exercises._measure import SLACK, blocked, held, stop_if_not_awaited
from citylib._lessons.practice import (
    Check,
    Exercise,
    GiveUpError,
    Prediction,
    Slip,
    SlipError,
    heartbeat,
)
from citylib._lessons.practice_slips import line_of

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 02 · find the rude driver, fix it -------------------------------------------------------

_PARCELS = ("🍕", "💐", "📚")


async def _judge_courier(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`polite_courier` should be an async function, not {answer!r:.60}")
    if not inspect.iscoroutinefunction(inspect.unwrap(answer)):
        raise SlipError(_plain_def(answer))
    probe = answer("🧪")
    if asyncio.iscoroutine(probe):
        probe.close()  # a coroutine that never runs does nothing: close it unstarted
    start = clock.now()
    with heartbeat() as beats:
        delivered = list(await asyncio.gather(*(answer(p) for p in _PARCELS)))
    took = clock.now() - start
    stop_if_not_awaited(delivered)
    want = [f"📦 {p}" for p in _PARCELS]
    ok_parcels = delivered == want
    hold = held(beats.longest_gap)
    checks = [
        Check(
            ok_parcels,
            "every parcel delivered, wrapped",
            f"got {delivered!r:.90}",
            ""
            if ok_parcels
            else 'return the parcel wrapped, exactly like courier() does: f"📦 {parcel}"',
        ),
    ]
    ok_time = 1.5 <= took <= 2 + SLACK
    slip = None
    cause = ""
    if not hold.ok:
        slip = blocked(answer, beats.longest_gap)
        hold = replace(hold, slip=slip)
        cause = slip.cause
    elif took < 1.5:
        cause = "each courier drives 1 s and wraps for 1 s: keep both waits, only make them polite"
    elif not ok_time:
        slip = _long_waits(answer, took)
        cause = slip.cause
    checks.append(hold)
    checks.append(
        Check(
            ok_time,
            "three couriers at once take one courier's time",
            f"{took:.1f} s (one courier: 2 s)",
            cause,
            slip,
        )
    )
    return checks


def _plain_def(answer: Any) -> Slip:
    return Slip(
        "plain_def",
        "your polite_courier is a plain def: only a function written with async def can await, "
        "and a polite courier must await its waits",
        "write async def in front of polite_courier, and await each wait inside it",
        "A plain def runs from top to bottom without ever letting go of the event loop. "
        "async def makes a function that can pause at each await and let the other "
        "couriers drive meanwhile.",
        f"calling polite_courier('🧪') returned a {type(_probe(answer)).__name__}, not a coroutine",
        line_of(answer, "def "),
    )


def _probe(answer: Any) -> Any:
    try:
        return answer("🧪")
    except Exception as exc:  # the learner's error: only its type is shown
        return exc


def _long_waits(answer: Any, took: float) -> Slip:
    return Slip(
        "long_waits",
        f"the three couriers drove at once, yet took {took:.1f} s, not 2: a wait inside "
        "your courier lasts longer than a city second (asyncio.sleep counts real seconds, "
        "while AI City's clock runs fast)",
        "wait SECOND (one city second, in real seconds) for the drive and again for the wrapping",
        "AI City's clock runs CITYLIB_SPEED times faster than the wall clock; "
        "asyncio.sleep(1) waits one real second, which is several city seconds. "
        "SECOND (clock.to_real of one city second) is one city second in real seconds.",
        f"{took:.1f} s for three couriers at once",
        line_of(answer, "sleep("),
    )


_COURIER = Exercise(
    id="02_polite_courier",
    notebook="02_await",
    title="Find the rude driver and make it polite",
    answer_name="polite_courier",
    stub="""async def polite_courier(parcel):
    # 📦 The same delivery as courier(parcel): drive 1 city second, wrap 1 city second,
    # return the wrapped parcel. But the heartbeat must never skip a beat.
    ...
""",
    solution_code="""import asyncio

from citylib import clock

SECOND = clock.to_real(1)


async def polite_courier(parcel):
    await asyncio.sleep(SECOND)  # drive
    await asyncio.sleep(SECOND)  # wrap, politely as well
    return f"📦 {parcel}"
""",
    hints=[
        "The cause: courier() itself awaits politely, but it calls wrap(), an ordinary "
        "function, and ordinary functions cannot await: wrap() waits with time.sleep, "
        "which holds the whole event loop for a city second, every time.",
        "The shape of the fix: do the wrapping wait inside your async function, with the "
        "polite sleep you await (the one from the Pro tip), then return the parcel with "
        "the same 📦 in front that wrap() puts there.",
    ],
    judge=_judge_courier,
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_COURIER,)

PREDICTIONS: tuple[Prediction, ...] = ()
