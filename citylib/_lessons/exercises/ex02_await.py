"""Notebook 02's exercises: find the rude driver and make it polite; predict, then step,
the order three ``sleep(0)`` hops print in (judged from the stepper's film)."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import replace
from typing import Any

from citylib._core import clock, stepper
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

# -- 02 · 🔮 predict, then step: three sleep(0) hops -------------------------------------------

_HOPPERS = ("🚕", "🚌", "🚚")


async def _hop(name: str) -> None:
    print(f"{name} 1")
    await asyncio.sleep(0)
    print(f"{name} 2")


async def _three_hops() -> None:
    await asyncio.gather(*(_hop(name) for name in _HOPPERS))


def _film_of_hops() -> tuple[list[str], dict[str, int]]:
    """The lines the hops print, in order, and the turn each was printed in: filmed by
    the judge on its own copy of the notebook's program (the answer runs nothing)."""
    film = stepper.run(_three_hops(), echo=False)
    lines, turn_of = [], {}
    for turn in film.turns:
        for line in turn.printed.splitlines():
            lines.append(line)
            turn_of[line] = turn.number
    return lines, turn_of


def _plain_lines(answer: Any) -> list[str]:
    """The answer as plain strings, whitespace tidied; GiveUpError when it is not a list of them."""
    if type(answer) not in (list, tuple):
        raise GiveUpError(
            f"`predicted_order` should be a list of the printed lines, such as "
            f"['🚚 2', ...], not {type(answer).__name__}"
        )
    if not all(type(line) is str for line in answer):
        raise GiveUpError("every line in `predicted_order` should be a string, such as '🚕 1'")
    return [" ".join(line.split()) for line in answer]


async def _judge_hops(answer: Any) -> list[Check]:
    guess = _plain_lines(answer)
    printed, turn_of = _film_of_hops()
    same_lines = sorted(guess) == sorted(printed)
    checks = [
        Check(
            same_lines,
            "each of the six printed lines, once",
            f"you listed {len(guess)} lines",
            "" if same_lines else (
                "list the six lines the hops print, each once, exactly as printed: "
                + ", ".join(repr(line) for line in sorted(printed))
            ),
        )
    ]
    if not same_lines:
        checks[0] = replace(checks[0], slip=Slip(
            "not_the_printed_lines",
            "your list is not the six lines the hops print, each once",
            "list every line the cell printed, each once, then put them in order",
            "Copy the six lines exactly as the cell prints them (emoji, space, number); "
            "the question is only their order.",
            seen=f"you listed {len(guess)} lines",
        ))
        return checks
    wrong = next((i for i, (a, b) in enumerate(zip(guess, printed, strict=True)) if a != b), None)
    if wrong is None:
        turns = _turns(printed, turn_of)
        checks.append(Check(True, "in the order the loop ran them", f"all six, as filmed: {turns}"))
        return checks
    said, was = guess[wrong], printed[wrong]
    checks.append(Check(
        False,
        "in the order the loop ran them",
        f"line {wrong + 1}: you said {said!r}, the loop printed {was!r} (turn {turn_of[was]})",
        "",
        _order_slip(guess, printed, wrong),
    ))
    return checks


def _order_slip(guess: list[str], printed: list[str], wrong: int) -> Slip:
    """The mistake behind a wrong order: whole tasks, the start order, or the queue's order."""
    seen = f"your line {wrong + 1} is {guess[wrong]!r}; the loop printed {printed[wrong]!r}"
    by_task = sorted(printed, key=lambda line: (printed.index(line.split()[0] + " 1"), line))
    if guess == by_task:
        return Slip(
            "ran_to_the_end",
            "you let each hopper print both its lines before the next one started: "
            "`await asyncio.sleep(0)` hands the loop back, even with nothing to wait for",
            "after a hopper's first line, let the other hoppers have their turn",
            "A task drives only until its next await. At `await asyncio.sleep(0)` it "
            "goes to the back of the ready queue, behind the hoppers already there.",
            seen=seen,
        )
    if wrong < len(_HOPPERS):
        return Slip(
            "start_order",
            "the loop starts the tasks in the order gather() made them, and your first "
            "lines are in another order",
            "start the list with the hoppers in the order they are handed to gather()",
            "gather() wraps each hop in a task, in the order you hand them over; each "
            "task joins the back of the ready queue, so the first one made runs first.",
            seen=seen,
        )
    return Slip(
        "back_of_the_queue",
        "after its first line each task joins the back of the ready queue: the queue is "
        "first come, first served, so the second round keeps the first round's order",
        "give the second lines the same order as the first lines",
        "The ready queue is a line at a toll booth: whoever arrived first is served first. "
        "The hoppers reached their `sleep(0)` in the first round's order.",
        seen=seen,
    )


def _turns(printed: list[str], turn_of: dict[str, int]) -> str:
    by_turn: dict[int, list[str]] = {}
    for line in printed:
        by_turn.setdefault(turn_of[line], []).append(line)
    return "; ".join(f"turn {n}: {', '.join(lines)}" for n, lines in by_turn.items())


_SLEEP_ZERO = Exercise(
    id="02_sleep_zero_order",
    notebook="02_await",
    title="Predict the order of three sleep(0) hops",
    answer_name="predicted_order",
    stub="""predicted_order = ...  # 🔮 your list of the six lines, in the order they print
""",
    solution_code="""predicted_order = ["🚕 1", "🚌 1", "🚚 1", "🚕 2", "🚌 2", "🚚 2"]
""",
    hints=[
        "The cause: a task drives until its next await, never further. At "
        "`await asyncio.sleep(0)` it has nothing to wait for, yet it still hands the "
        "loop back, and goes to the back of the ready queue.",
        "The shape of the answer: first every hopper's line 1, in the order gather() "
        "made the tasks (one turn); then every hopper's line 2, in the same order (the "
        "next turn).",
    ],
    judge=_judge_hops,
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_COURIER, _SLEEP_ZERO)

PREDICTIONS: tuple[Prediction, ...] = ()
