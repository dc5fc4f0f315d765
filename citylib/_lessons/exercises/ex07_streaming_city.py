"""Notebook 07's exercise: a stream that shouts."""

from __future__ import annotations

import asyncio
from typing import Any

from citylib._core import clock
from citylib._core.stream import plan_reply
from citylib._lessons.exercises._measure import SLACK, held
from citylib._lessons.practice import Check, Exercise, GiveUpError, Prediction, heartbeat

__all__ = ["EXERCISES", "PREDICTIONS"]

# -- 07 · a stream that shouts ------------------------------------------------------------------

_PROMPT = "hello"


async def _judge_shout(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`shout` should be an async generator function, not {answer!r:.60}")
    stream = answer(_PROMPT)
    if not hasattr(stream, "__anext__"):
        if asyncio.iscoroutine(stream):
            stream.close()
        raise GiveUpError(
            f"shout('hello') gave a {type(stream).__name__}, not an async generator: "
            "`yield` inside an `async def` makes one, which `async for` can read"
        )
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
        )
    )
    checks.append(held(beats.longest_gap))
    return checks


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
