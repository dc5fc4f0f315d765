"""Notebook 06's exercises, a toll booth and a timeout with a fallback; its prediction."""

from __future__ import annotations

import asyncio
import dis
import inspect
from dataclasses import replace
from types import CodeType
from typing import Any

from citylib._core import clock, services, timeline
from citylib._core.race import predict_makespan
from citylib._core.timeline import Timeline
from citylib._lessons import slips
from citylib._lessons.crashes import most_lanes_in_use
from citylib._lessons.exercises._measure import (
    SLACK,
    blocked,
    calls_once,
    held,
    latency,
    payload_of,
    run_answer,
    size_of,
    stop_if_not_awaited,
)
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

# -- 06 · a toll booth, and a timeout with a fallback --------------------------------------

_BOOTH = ("image", "chat", "speech", "maps", "translate", "weather")


async def _judge_booth(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`drive_all` should be an async function, not {answer!r:.60}")
    with timeline.recording(Timeline(name="your toll booth")) as tl, heartbeat() as beats:
        returned = await run_answer(answer, list(_BOOTH))
    stop_if_not_awaited(returned)
    ok = (
        isinstance(returned, list | tuple)
        and len(returned) == len(_BOOTH)
        and all(payload_of(v, n) for v, n in zip(returned, _BOOTH, strict=False))
    )
    answers = Check(
        ok,
        "the answers came back, in order",
        f"returned {size_of(returned)}",
        "" if ok else "return every answer, in the order of names (gather keeps that order)",
    )
    calls = calls_once(tl, _BOOTH)
    if not calls.ok:  # how the cars passed the booth counts only when they all drove
        return [calls, answers]
    most = most_lanes_in_use(tl)
    ideal = predict_makespan("threads", [latency(n) for n in _BOOTH], 3)
    hold = held(beats.longest_gap)
    stuck = None if hold.ok else blocked(answer, beats.longest_gap)
    used = most >= 3 and tl.makespan <= ideal + SLACK
    checks = [
        calls,
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
            None if most <= 3 else _booth_slip(answer, most),
        ),
        Check(
            used,
            "all three gates used",
            f"done in {tl.makespan:.1f} s (three lanes: {ideal:g} s)",
            ""
            if used
            else (
                "the cars went through fewer gates than three: a car should wait only "
                "while all three gates are taken"
            ),
            None if used else stuck or (_one_gate(answer, tl.makespan) if most == 1 else None),
        ),
        hold if hold.ok else replace(hold, slip=stuck),
        answers,
    ]
    if most > 3:  # no booth held them back: "all three gates used" did not happen
        del checks[2]
    return checks


def _codes(answer: Any) -> list[CodeType]:
    """The answer's code and the code of every function defined inside it."""
    func = inspect.unwrap(answer)
    found: list[CodeType] = []
    todo = [getattr(func, "__code__", None)]
    while todo:
        code = todo.pop()
        if isinstance(code, CodeType):
            found.append(code)
            todo.extend(c for c in code.co_consts if isinstance(c, CodeType))
    return found


def _enters_async_with(code: CodeType) -> bool:
    return any(
        i.opname == "BEFORE_ASYNC_WITH" or "__aenter__" in i.argrepr
        for i in dis.get_instructions(code)
    )


def _booth_slip(answer: Any, most: int) -> Slip | None:
    """Where the booth went wrong, read from the code only to name the line; the
    verdict is what was measured: ``most`` cars on the road at once."""
    codes = _codes(answer)
    if not codes:
        return None
    outer, inner = codes[0], codes[1:]
    makes = [c for c in codes if {"Semaphore", "BoundedSemaphore"} & set(c.co_names)]
    seen = f"{most} cars on the road at once"
    if any(c in inner for c in makes):
        return Slip(
            "booth_per_car",
            "every car built a booth of its own: a Semaphore made inside the helper is a "
            "new one for each car, and each new booth lets its one car straight through",
            "make the one Semaphore once, in drive_all before any car leaves, and let "
            "every helper enter that same booth",
            "A Semaphore counts the cars inside it. Only cars that pass the same Semaphore "
            "wait for each other; a booth per car counts one car each and stops nobody.",
            seen,
            line_of(next(c for c in inner if c in makes), "Semaphore("),
        )
    if outer in makes and _enters_async_with(outer):
        return Slip(
            "booth_outside",
            "the booth was entered once, by drive_all itself, not by each car while it "
            "drives: drive_all passed it as one car, and the cars drove outside it, all six "
            "at once",
            "enter the booth inside a small async helper that makes one call, and gather "
            "the helpers, one per name: then each car passes the booth on its own",
            "async with booth lets one holder through per gate. Held around gather, the "
            "one holder is drive_all itself; each car must hold a gate while it drives.",
            seen,
            line_of(outer, "async with"),
        )
    if not makes:
        return Slip(
            "no_booth",
            "nothing made the fourth car wait: gather on its own sends every car at once",
            "make one asyncio.Semaphore(3) and let each car enter it with async with "
            "while it drives",
            "gather starts every call it is handed, all at once. To let only three drive, "
            "each car must first pass something that counts them: a Semaphore with three "
            "gates.",
            seen,
            line_of(outer, "gather("),
        )
    return None


def _one_gate(answer: Any, took: float) -> Slip:
    return Slip(
        "one_at_a_time",
        "the cars took turns through one gate: each await waited for its car before the "
        "next one left, so two gates stood empty",
        "let all the cars set off together (gather), each passing the booth, so that "
        "three drive while the rest wait",
        "A for loop with an await inside drives one car at a time. The booth is there to "
        "let three drive together: hand every car to gather, and the booth holds back "
        "all but three.",
        f"done in {took:.1f} s, one car at a time",
        line_of(answer, "await "),
    )


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
        waiting = asyncio.timeout(clock.to_real(_STILL_WAITING))
        try:
            async with waiting:
                hung = await run_answer(answer)
            took: float | None = clock.now() - start
        except TimeoutError as exc:
            if not waiting.expired():  # the answer's own deadline, and nothing caught it
                raise SlipError(_uncaught_deadline(answer, exc, clock.now() - start)) from None
            hung, took = None, None
    stop_if_not_awaited(hung)
    if took is None:
        return [
            Check(
                False,
                "gives up on a hung chat",
                f"still waiting after {_STILL_WAITING:g} s",
                "nothing cut the hung call off in time: without a timeout a request waits forever",
                _no_deadline(answer),
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
    stop_if_not_awaited(healthy)
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


def _uncaught_deadline(answer: Any, exc: BaseException, took: float) -> Slip:
    return Slip(
        "deadline_not_caught",
        f"your deadline worked: it cut the hung chat off after {took:.1f} s, but nothing "
        "caught the TimeoutError it raised, so the error left chat_or_sorry instead of "
        "the fallback",
        "put the deadline block inside a try, and answer with the fallback from an except "
        "TimeoutError under it",
        "When a deadline passes, the timeout block cancels the call and raises "
        "TimeoutError: an error that ends your function unless an except catches it. "
        "Catching it is where you answer with the fallback.",
        f"TimeoutError after {took:.1f} s",
        slips.where_raised(exc) or line_of(answer, "timeout("),
    )


def _no_deadline(answer: Any) -> Slip:
    alone = " (an except alone never cuts anything off: it only catches an error)"
    return Slip(
        "no_deadline",
        "nothing cut the hung call off: an await waits for as long as the call takes, and a "
        "hung service takes forever" + (alone if line_of(answer, "except") else ""),
        "put the await inside a deadline block of 2 seconds (asyncio.timeout, as the "
        "lesson shows), and catch the TimeoutError it raises",
        "A deadline is a block that cancels whatever is still awaited inside it when its "
        "time is up, and raises TimeoutError. Without one, the request waits for the "
        "hung chat forever.",
        f"still waiting after {_STILL_WAITING:g} s",
        line_of(answer, "await "),
    )


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
