"""AI City's chat service as a token stream: the reply arrives a few letters at a time.

Every chatbot a learner uses streams its reply: the model *thinks* for a moment, then
sends its answer one **token** (a word or a piece of one) at a time. Here that is
:func:`stream_reply`, an async generator on the city clock: the first token after
:data:`THINK` city seconds, then one every :data:`GAP` or so (seeded jitter, so the
same prompt and seed give the same stream, token for token and gap for gap). Each
token keeps to its schedule from the stream's start, so a late wake-up is not added
to every later token (a reader that was held up gets the overdue tokens at once).

:func:`stream_reply_blocking` is its blocking twin, a plain generator that waits with
``time.sleep`` (:func:`citylib._core.clock.block`): iterated on the event loop, it
holds the loop for every gap. :func:`plan_reply` says in advance what a stream will
send and when, which is how a client checks it received every token.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from citylib._core import clock

__all__ = [
    "GAP",
    "JITTER",
    "MAX_PROMPT",
    "THINK",
    "ReplyPlan",
    "one_shot_reply",
    "plan_reply",
    "stream_reply",
    "stream_reply_blocking",
    "tokenize",
]

#: City seconds the chat service thinks before its first token.
THINK = 1.0

#: City seconds between two tokens, on average: the steady trickle.
GAP = 0.08

#: Each gap varies by up to this fraction (seeded).
JITTER = 0.25

#: The longest prompt, in characters.
MAX_PROMPT = 500

#: Popy's answers; a prompt always gets the same one (chosen by a checksum of it).
_REPLIES = (
    "Hello from Popy! Citypopy's highways are open: every request gets its own lane, "
    "so nobody waits behind a slow truck.",
    "Great question! While one AI worker waits for the cloud, the event loop keeps "
    "every other lane moving. That is async in one sentence.",
    "Streaming means you read my first words while I am still thinking of the rest, "
    "one token at a time, just like a real chatbot.",
)

# A token is a word with its leading space, cut into pieces of at most six letters:
# close enough to how a language model's tokenizer splits text.
_TOKEN = re.compile(r"\s*[^\s]{1,6}")


def tokenize(text: str) -> list[str]:
    """``text`` cut into tokens; joining them gives ``text`` back (trailing space aside)."""
    return _TOKEN.findall(text)


# Each answer cut once, not on every request (a server plans a reply per stream).
_REPLY_TOKENS = tuple(tuple(tokenize(reply)) for reply in _REPLIES)


@dataclass(frozen=True)
class ReplyPlan:
    """What one stream sends, and when.

    Attributes:
        prompt: The question.
        tokens: The reply, token by token.
        delays: City seconds before each token (the first one is the thinking time).
    """

    prompt: str
    tokens: tuple[str, ...]
    delays: tuple[float, ...]

    @property
    def text(self) -> str:
        """The whole reply."""
        return "".join(self.tokens)

    @property
    def first_token(self) -> float:
        """City seconds from asking to the first token."""
        return self.delays[0]

    @property
    def total(self) -> float:
        """City seconds from asking to the last token."""
        return self.schedule[-1]

    @property
    def schedule(self) -> tuple[float, ...]:
        """City seconds from asking to each token."""
        return tuple(itertools.accumulate(self.delays))


def _check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str):
        raise TypeError(f"a prompt is text, such as 'hello', not {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("the prompt is empty: ask Popy something, such as 'hello'")
    if len(prompt) > MAX_PROMPT:
        raise ValueError(f"a prompt has at most {MAX_PROMPT} characters, not {len(prompt)}")
    return prompt


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is a number of city seconds, not {type(value).__name__}")
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} is a number of city seconds, 0 or more, not {value!r}")
    return float(value)


def plan_reply(
    prompt: str = "hello", *, seed: int = 0, think: float = THINK, gap: float = GAP
) -> ReplyPlan:
    """The reply to ``prompt`` and the delay before each of its tokens.

    Args:
        prompt: The question (1 to :data:`MAX_PROMPT` characters, not only spaces).
        seed: Seeds the gaps' jitter: the same seed, the same stream.
        think: City seconds before the first token.
        gap: Average city seconds between tokens.

    Raises:
        TypeError, ValueError: For a prompt or a time that cannot be used.
    """
    _check_prompt(prompt)
    think, gap = _check_seconds("think", think), _check_seconds("gap", gap)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed is a whole number, not {type(seed).__name__}")
    checksum = zlib.crc32(prompt.encode("utf-8"))
    tokens = _REPLY_TOKENS[checksum % len(_REPLIES)]
    rng = random.Random(seed * 1_000_003 + checksum)
    delays = [think] + [gap * (1 + rng.uniform(-JITTER, JITTER)) for _ in tokens[1:]]
    return ReplyPlan(prompt, tokens, tuple(delays))


async def stream_reply(
    prompt: str = "hello", *, seed: int = 0, think: float = THINK, gap: float = GAP
) -> AsyncIterator[str]:
    """💬 Popy's reply, token by token, awaited politely: the loop serves others meanwhile.

    Use it with ``async for token in stream_reply("hello"): ...``. Arguments as in
    :func:`plan_reply`.
    """
    plan = plan_reply(prompt, seed=seed, think=think, gap=gap)
    start = clock.now()
    for due, token in zip(plan.schedule, plan.tokens, strict=True):
        await clock.sleep(start + due - clock.now())
        yield token


def stream_reply_blocking(
    prompt: str = "hello",
    *,
    seed: int = 0,
    think: float = THINK,
    gap: float = GAP,
    cancel: threading.Event | None = None,
) -> Iterator[str]:
    """The blocking twin of :func:`stream_reply`: a plain generator that ``time.sleep``\\ s.

    ``cancel`` lets another thread call the stream off (see :func:`clock.block`).
    """
    plan = plan_reply(prompt, seed=seed, think=think, gap=gap)
    start = clock.now()
    for due, token in zip(plan.schedule, plan.tokens, strict=True):
        clock.block(start + due - clock.now(), cancel)
        yield token


async def one_shot_reply(
    prompt: str = "hello", *, seed: int = 0, think: float = THINK, gap: float = GAP
) -> str:
    """The same reply in one piece: nothing to read until the last token is ready."""
    plan = plan_reply(prompt, seed=seed, think=think, gap=gap)
    await clock.sleep(plan.total)
    return plan.text
