"""Notebook 06's exercises, a toll booth and a timeout with a fallback; its prediction."""

from __future__ import annotations

import asyncio
from typing import Any

from citylib._core import clock, services, timeline
from citylib._core.race import predict_makespan
from citylib._core.timeline import Timeline
from citylib._lessons.crashes import most_lanes_in_use
from citylib._lessons.exercises._measure import (
    SLACK,
    calls_once,
    held,
    latency,
    payload_of,
    run_answer,
    size_of,
)
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction, heartbeat

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 06 · a toll booth, and a timeout with a fallback --------------------------------------

_BOOTH = ("image", "chat", "speech", "maps", "translate", "weather")


async def _judge_booth(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`drive_all` should be an async function, not {answer!r:.60}")
    with timeline.recording(Timeline(name="your toll booth")) as tl, heartbeat() as beats:
        returned = await run_answer(answer, list(_BOOTH))
    most = most_lanes_in_use(tl)
    ideal = predict_makespan("threads", [latency(n) for n in _BOOTH], 3)
    checks = [
        calls_once(tl, _BOOTH),
        Check(
            most <= 3,
            "never more than three through",
            f"at most {most} on the road at once",
            ""
            if most <= 3
            else (
                f"{most} cars drove at once: nothing made the fourth car wait; every car "
                "must pass the same booth (one Semaphore, shared by all)"
            ),
        ),
        Check(
            most >= 3 and tl.makespan <= ideal + SLACK,
            "all three gates used",
            f"done in {tl.makespan:.1f} s (three lanes: {ideal:g} s)",
            ""
            if most >= 3 and tl.makespan <= ideal + SLACK
            else (
                "the cars went through fewer gates than three: a car should wait only "
                "while all three gates are taken"
            ),
        ),
        held(beats.longest_gap),
    ]
    ok = (
        isinstance(returned, list | tuple)
        and len(returned) == len(_BOOTH)
        and all(payload_of(v, n) for v, n in zip(returned, _BOOTH, strict=False))
    )
    checks.append(
        Check(
            ok,
            "the answers came back, in order",
            f"returned {size_of(returned)}",
            "" if ok else "return every answer, in the order of names (gather keeps that order)",
        )
    )
    return checks


_TOLL_BOOTH = Exercise(
    id="06_toll_booth",
    notebook="06_when_lanes_crash",
    title="A toll booth with three gates",
    answer_name="drive_all",
    stub="""async def drive_all(names):
    # 🚧 Call every service in names (citylib.call(name)), never more than three
    # on the road at once, and return their answers in the order of names.
    ...
""",
    solution_code="""import asyncio

import citylib


async def drive_all(names):
    booth = asyncio.Semaphore(3)

    async def through_booth(name):
        async with booth:
            return await citylib.call(name)

    return await asyncio.gather(*(through_booth(name) for name in names))
""",
    hints=[
        "The cause: gather on its own sends every car at once, and a loop of awaits sends "
        "one at a time. Neither is a booth: you need something every car passes that "
        "lets exactly three through and keeps the rest waiting politely.",
        "The shape of the fix: make one Semaphore with three gates before any car leaves; "
        "wrap each call in a small async helper that enters the booth with `async with` "
        "and awaits the call inside; gather the helpers, one per name.",
    ],
    judge=_judge_booth,
)


_GIVE_UP_AFTER = 2.0
# City seconds the hung run may take before the check stops waiting for it: long
# enough to measure a deadline several times too long. The check runs at real time
# (real_seconds), so an answer with no deadline costs the learner this many seconds.
_STILL_WAITING = 10.0


async def _judge_fallback(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`chat_or_sorry` should be an async function, not {answer!r:.60}")
    with services.conditions(hang={"chat"}), heartbeat() as beats:
        start = clock.now()
        try:
            async with asyncio.timeout(clock.to_real(_STILL_WAITING)):
                hung = await run_answer(answer)
            took: float | None = clock.now() - start
        except TimeoutError:
            hung, took = None, None
    if took is None:
        return [
            Check(
                False,
                "gives up on a hung chat",
                f"still waiting after {_STILL_WAITING:g} s",
                "nothing cut the hung call off in time: without a timeout a request waits forever",
            )
        ]
    in_time = _GIVE_UP_AFTER - 0.5 <= took <= _GIVE_UP_AFTER + SLACK
    if took > _GIVE_UP_AFTER + SLACK:
        cause = (
            # This check runs the city at real time, so the learner's seconds are the
            # city's: a late give-up is the number they wrote, not the clock's speed.
            f"it gave up after {took:.1f} s, not 2: the deadline should be 2 seconds"
        )
    elif not in_time:
        cause = "it gave up too early: the chat deserves its 2 seconds"
    else:
        cause = ""
    checks = [
        Check(in_time, "gives up on a hung chat after 2 s", f"answered after {took:.1f} s", cause),
        Check(
            hung == FALLBACK,
            "answers with the fallback",
            f"returned {hung!r:.60}",
            ""
            if hung == FALLBACK
            else "when the deadline passes, return FALLBACK (catch the TimeoutError)",
        ),
    ]
    with services.conditions(slow={"chat": 0.5}):
        healthy = await run_answer(answer)
    ok = payload_of(healthy, "chat")
    checks.append(
        Check(
            ok,
            "keeps a quick reply",
            f"a 1.5 s chat gave {healthy!r:.60}",
            ""
            if ok
            else "when the chat answers in time, return its answer (only a late one gets the "
            "fallback)",
        )
    )
    checks.append(held(beats.longest_gap))
    return checks


#: The answer a user gets when the chat is too slow (the exercise's own constant).
FALLBACK = {"reply": "Sorry, Popy is busy. Try again in a minute! 🙏"}

_FALLBACK = Exercise(
    id="06_timeout_fallback",
    notebook="06_when_lanes_crash",
    title="A timeout with a fallback",
    answer_name="chat_or_sorry",
    stub="""async def chat_or_sorry():
    # ⏱️ Ask 💬 chat (citylib.call("chat")). If it has not answered within
    # 2 city seconds, return FALLBACK instead.
    ...
""",
    solution_code="""import citylib
from citylib import crashes, practice

FALLBACK = practice.FALLBACK


async def chat_or_sorry():
    try:
        async with crashes.timeout(2):
            return await citylib.call("chat")
    except TimeoutError:
        return FALLBACK
""",
    hints=[
        "The cause of a spinner forever: a hung service never answers, and an await "
        "waits for as long as it takes. Something has to cut the call off at a "
        "deadline, and your code has to notice the cut and answer anyway.",
        "The shape of the fix: put the await inside a deadline block (Lesson 3's, which "
        "counts city seconds), return the answer from inside it, and catch the error "
        "the deadline raises to return the fallback.",
    ],
    judge=_judge_fallback,
    real_seconds=True,  # 06's lesson says asyncio.timeout(2): it works as written
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_TOLL_BOOTH, _FALLBACK)

#: The predict-then-run questions of this notebook.
PREDICTIONS: tuple[Prediction, ...] = (
    Prediction(
        "06_booth_makespan",
        "06_when_lanes_crash",
        "the makespan of a toll booth with three gates",
        "s",
        "The truck holds one gate for 8 s; the other five cars pass the two other gates "
        "in 5.5 s meanwhile, so the truck alone sets the makespan: here three gates are "
        "as fast as six.",
    ),
)
