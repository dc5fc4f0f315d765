"""Notebook 07's exercise: a stream that shouts."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import replace
from typing import Any

from citylib._core import clock
from citylib._core.stream import plan_reply
from citylib._lessons.exercises._measure import SLACK, blocked, held
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

# -- 07 · a stream that shouts ------------------------------------------------------------------

_PROMPT = "hello"


async def _judge_shout(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`shout` should be an async generator function, not {answer!r:.60}")
    stream = answer(_PROMPT)
    if not hasattr(stream, "__anext__"):
        if asyncio.iscoroutine(stream):
            stream.close()  # never run: it would only make its own calls
        raise SlipError(_not_a_stream(answer, stream))
    plan = plan_reply(_PROMPT)
    want = [t.upper() for t in plan.tokens]
    arrived: list[float] = []
    got: list[Any] = []
    start = clock.now()
    with heartbeat() as beats:
        async for token in stream:
            arrived.append(clock.now() - start)
            got.append(token)
    ok_tokens = got == want
    checks = [
        Check(
            ok_tokens,
            "every token, shouted",
            f"{len(got)} tokens (Popy sent {len(want)}), first ones {got[:3]!r:.60}",
            "" if ok_tokens else "yield each token of the reply once, in order, as token.upper()",
            _not_shouted(answer) if got == list(plan.tokens) and got != want else None,
        )
    ]
    first = arrived[0] if arrived else float("inf")
    ok_first = first <= plan.schedule[0] + SLACK
    checks.append(
        Check(
            ok_first,
            "the first token came at once",
            f"after {first:.1f} s (Popy's first token: {plan.schedule[0]:.1f} s, "
            f"the whole reply: {plan.total:.1f} s)",
            ""
            if ok_first
            else (
                "your reader waited for the whole reply before the first token: collecting the "
                "tokens first and yielding them afterwards is a one-shot reply in disguise"
            ),
            None
            if ok_first
            else Slip(
                "collected_first",
                "your reader waited for the whole reply before the first token: collecting "
                "the tokens first and yielding them afterwards is a one-shot reply in disguise",
                "yield each token inside the loop that reads Popy's reply, the moment it "
                "arrives, instead of after it",
                "A list comprehension (or a loop that appends) over the stream runs to the "
                "end before the next line starts. Yield inside the async for itself, and "
                "each token leaves as soon as it came in.",
                f"first token after {first:.1f} s",
                line_of(answer, "async for"),
            ),
        )
    )
    hold = held(beats.longest_gap)
    checks.append(hold if hold.ok else replace(hold, slip=blocked(answer, beats.longest_gap)))
    return checks


def _not_shouted(answer: Any) -> Slip:
    return Slip(
        "not_shouted",
        "every token came through, in order, but not in capitals: shout hands on each "
        "token shouted",
        "yield each token's upper-case version (a str has a method for it)",
        "The stream part works. What is left is the text itself: a str's .upper() gives "
        "the same text in capitals.",
        "the tokens came back as Popy sent them",
        line_of(answer, "yield"),
    )


def _not_a_stream(answer: Any, stream: Any) -> Slip:
    kind = type(stream).__name__
    returned = inspect.iscoroutine(stream)
    return Slip(
        "returns_not_yields" if returned else "not_a_stream",
        f"your shout('hello') gave a {kind}, not a stream: "
        + (
            "an async def that returns hands back its one value at the end; only yield "
            "makes it a stream that hands out one value at a time"
            if returned
            else "a stream is an async def with yield inside, read with async for"
        ),
        "inside an async def, hand out each capitalised token with yield as it arrives "
        "(no return, no list)",
        "`return` ends a function with one value. `yield` inside an `async def` makes an "
        "async generator instead: each yield hands the reader one token and waits there "
        "for the reader to ask for the next.",
        f"shout('hello') gave a {kind}",
        line_of(answer, "return") or line_of(answer, "def "),
    )


_SHOUT = Exercise(
    id="07_shout",
    notebook="07_streaming_city",
    title="A stream that shouts",
    answer_name="shout",
    stub="""async def shout(prompt):
    # 📢 Read streaming.stream_reply(prompt) and yield each token in capitals
    # (token.upper()), the moment it arrives.
    ...
""",
    solution_code="""from citylib import streaming


async def shout(prompt):
    async for token in streaming.stream_reply(prompt):
        yield token.upper()
""",
    hints=[
        "The cause: `return` hands back one value and ends the function, and a list built "
        "first makes the reader wait for every token. A stream needs a function that hands "
        "out one token at a time, while the reply is still arriving.",
        "The shape of the fix: an async generator. Loop over Popy's reply with the "
        "`for` that awaits each item, and inside the loop hand out the capitalised token "
        "with `yield` (no return, no list).",
    ],
    judge=_judge_shout,
    limit=30.0,
)

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_SHOUT,)

PREDICTIONS: tuple[Prediction, ...] = ()
