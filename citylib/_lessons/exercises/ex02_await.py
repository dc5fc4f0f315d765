"""Notebook 02's exercise: find the rude driver and make it polite."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from citylib._core import clock
from citylib._lessons.exercises._measure import SLACK, held
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction, heartbeat

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 02 · find the rude driver, fix it -------------------------------------------------------

_PARCELS = ("🍕", "💐", "📚")


async def _judge_courier(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`polite_courier` should be an async function, not {answer!r:.60}")
    probe = answer("🧪")
    if not inspect.isawaitable(probe):
        raise GiveUpError(
            f"calling polite_courier('🧪') returned {type(probe).__name__}, not a coroutine: "
            "write it with `async def` so that it can await"
        )
    if asyncio.iscoroutine(probe):
        probe.close()  # a coroutine that never runs does nothing: close it unstarted
    start = clock.now()
    with heartbeat() as beats:
        delivered = await asyncio.gather(*(answer(p) for p in _PARCELS))
    took = clock.now() - start
    want = [f"📦 {p}" for p in _PARCELS]
    ok_parcels = list(delivered) == want
    checks = [
        Check(
            ok_parcels,
            "every parcel delivered, wrapped",
            f"got {list(delivered)!r:.90}",
            ""
            if ok_parcels
            else 'return the parcel wrapped, exactly like courier() does: f"📦 {parcel}"',
        ),
        held(beats.longest_gap),
    ]
    ok_time = 1.5 <= took <= 2 + SLACK
    cause = ""
    if took < 1.5:
        cause = "each courier drives 1 s and wraps for 1 s: keep both waits, only make them polite"
    elif not ok_time:
        cause = (
            "the three couriers took turns instead of driving at once: one of them still "
            "holds the loop while it waits, so the others cannot start"
        )
    checks.append(
        Check(
            ok_time,
            "three couriers at once take one courier's time",
            f"{took:.1f} s (one courier: 2 s)",
            cause,
        )
    )
    return checks


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
