"""The streaming city: the runnable lessons of notebook 07.

* :func:`first_words`: the same reply one-shot and streamed; when does the reader
  see the first word, and the last?
* :func:`loop_while_reading`: readers of a stream beside the loop's heartbeat, with
  ``async for`` over the async generator or ``for`` over its ``time.sleep`` twin.
* :func:`chat_stream` reads ``/chat/stream`` from a real server (aiohttp, server-sent
  events); :func:`stream_rush` sends many users at once and records every token's
  arrival (:class:`StreamRush`).
* :func:`pipeline`: producers, an ``asyncio.Queue`` and workers; with ``maxsize`` the
  queue pushes back (:class:`Pipeline` records its depth and the blocked producers).
* :func:`with_retries` and :func:`retry_flaky`: exponential backoff with jitter against
  a flaky service (:class:`RetryRun`).

Every result is a plain dataclass with a one-line ``summary()``; times are city
seconds, so the figures are the same at every ``CITYLIB_SPEED``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, TypeVar
from urllib.parse import urlencode

from citylib._core import clock, services
from citylib._core.stream import (
    GAP,
    THINK,
    ReplyPlan,
    one_shot_reply,
    plan_reply,
    stream_reply,
    stream_reply_blocking,
)
from citylib._lessons.chat_stream import STREAM_PATH, read_events
from citylib._lessons.heartbeat import Pulse, with_heartbeat
from citylib._lessons.surge import (
    MAX_REAL_SECONDS,
    MAX_USERS,
    check_url,
    gc_paused,
    percentile,
)

__all__ = [
    "GAP",
    "STREAM_STATUSES",
    "THINK",
    "Attempt",
    "FirstWords",
    "Pipeline",
    "ReplyPlan",
    "RetryRun",
    "StreamError",
    "StreamRush",
    "StreamTrip",
    "chat_stream",
    "first_words",
    "loop_while_reading",
    "one_shot_reply",
    "pipeline",
    "plan_reply",
    "retry_flaky",
    "stream_path",
    "stream_reply",
    "stream_reply_blocking",
    "stream_rush",
    "with_retries",
]

T = TypeVar("T")

#: How one user's stream can end: every token and ``[DONE]``; cut short; an error
#: answer or a broken connection; the user's patience ran out.
STREAM_STATUSES = ("ok", "incomplete", "error", "timeout")

#: A rush starts this many users, then lets its loop send their requests.
_LAUNCH_BATCH = 10


class StreamError(RuntimeError):
    """The server refused a stream (a 4xx or 5xx); the message is the server's."""


# ----------------------------------------------------------------------------------
# One reader: one-shot versus streamed


@dataclass
class FirstWords:
    """The same reply asked one-shot and streamed, read side by side.

    Attributes:
        prompt: The question.
        text: The reply.
        tokens: When each streamed token reached the reader (city seconds).
        one_shot: When the one-shot reply arrived, all at once.
    """

    prompt: str
    text: str
    tokens: list[float]
    one_shot: float

    @property
    def first_token(self) -> float:
        """City seconds until the streamed reader saw a first word."""
        return self.tokens[0]

    @property
    def streamed_total(self) -> float:
        """City seconds until the streamed reader had the whole reply."""
        return self.tokens[-1]

    def summary(self) -> str:
        """One line a learner (or a screen reader) reads instead of the chart."""
        return (
            f"Streamed, the first word arrived after {self.first_token:.1f} s and the last "
            f"after {self.streamed_total:.1f} s; one-shot, nothing showed for "
            f"{self.one_shot:.1f} s, then all {len(self.tokens)} tokens at once."
        )


async def first_words(prompt: str = "hello", *, seed: int = 0) -> FirstWords:
    """Ask the same question twice at once, one-shot and streamed; time what the reader sees."""
    origin = clock.now()
    arrivals: list[float] = []

    async def streamed() -> None:
        async for _ in stream_reply(prompt, seed=seed):
            arrivals.append(clock.now() - origin)

    async def whole() -> float:
        await one_shot_reply(prompt, seed=seed)
        return clock.now() - origin

    _, done = await asyncio.gather(streamed(), whole())
    return FirstWords(prompt, plan_reply(prompt, seed=seed).text, arrivals, done)


async def loop_while_reading(
    readers: int = 2, *, blocking: bool = False, prompt: str = "hello"
) -> Pulse:
    """``readers`` read a stream at once beside the loop's heartbeat.

    Args:
        readers: How many read at the same time.
        blocking: ``for`` over :func:`stream_reply_blocking` (``time.sleep`` inside)
            instead of ``async for`` over :func:`stream_reply`.
        prompt: What they ask.

    Returns:
        The heartbeat's :class:`~citylib._lessons.heartbeat.Pulse`: one row per reader,
        and a silent heart while the loop was held.
    """
    if isinstance(readers, bool) or not isinstance(readers, int) or not 1 <= readers <= 10:
        raise ValueError(f"readers is a whole number from 1 to 10, not {readers!r}")

    async def polite() -> int:
        return len([token async for token in stream_reply(prompt)])

    async def rude() -> int:
        return len(list(stream_reply_blocking(prompt)))  # time.sleep on the loop

    read = rude if blocking else polite
    title = "for over a time.sleep generator" if blocking else "async for over an async generator"
    return await with_heartbeat(
        *(read() for _ in range(readers)),
        names=[f"reader {i + 1}" for i in range(readers)],
        title=title,
    )


# ----------------------------------------------------------------------------------
# Many readers on a real server


def stream_path(prompt: str = "hello", *, trap: bool = False, **query: Any) -> str:
    """The stream's path and query, such as ``/chat/stream?prompt=hello``."""
    prefix = "/trap" if trap else ""
    return f"{prefix}{STREAM_PATH}?{urlencode({'prompt': prompt, **query})}"


async def _refusal(response: Any) -> StreamError:
    try:
        body = await response.json(content_type=None)
        detail = body.get("message") or body.get("detail")
    except ValueError:
        detail = None
    return StreamError(f"AI City answered {response.status}: {detail or response.reason}")


async def chat_stream(
    base_url: str, prompt: str = "hello", *, trap: bool = False, seed: int = 0
) -> AsyncIterator[str]:
    """Popy's reply from a real server, token by token (``async for token in ...``).

    Args:
        base_url: The server, such as ``city.url`` (this machine only).
        prompt: The question.
        trap: Read the blocking twin's route (``/trap/chat/stream``).
        seed: The stream's seed.

    Raises:
        StreamError: When the server refuses (a malformed prompt gets a 422).
    """
    import aiohttp  # here: a notebook that never streams never loads it

    url = check_url(base_url.rstrip("/") + stream_path(prompt, trap=trap, seed=seed))
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        if response.status != 200:
            raise await _refusal(response)
        async for token in read_events(response.content.iter_any()):
            yield token


@dataclass(frozen=True)
class StreamTrip:
    """One user's stream, in city seconds since the rush began.

    Attributes:
        user: The user's number, from 0.
        sent: When the request left.
        tokens: When each token arrived.
        end: When the stream ended (``[DONE]``, an error, or the user gave up).
        status: One of :data:`STREAM_STATUSES`.
    """

    user: int
    sent: float
    tokens: tuple[float, ...]
    end: float
    status: str

    @property
    def first_token(self) -> float | None:
        """City seconds from sending to the first token (``None`` if none came)."""
        return self.tokens[0] - self.sent if self.tokens else None


@dataclass
class StreamRush:
    """Many users streaming a reply at once.

    Attributes:
        title: Heading for the summary and chart.
        url: Where they streamed from.
        trips: One :class:`StreamTrip` per user.
        expected: Tokens in a whole reply.
        speed: The city clock's speed during the rush.
    """

    title: str
    url: str
    trips: list[StreamTrip] = field(repr=False)
    expected: int
    speed: float

    @property
    def users(self) -> int:
        """How many streamed."""
        return len(self.trips)

    @property
    def complete(self) -> int:
        """Users who received every token and ``[DONE]``."""
        return sum(1 for t in self.trips if t.status == "ok")

    @property
    def finish(self) -> float:
        """City seconds until the last stream ended."""
        return max((t.end for t in self.trips), default=0.0)

    def first_token(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) of time to first token, city seconds."""
        waits = [w for t in self.trips if (w := t.first_token) is not None]
        return percentile(waits, q) if waits else None

    def summary(self) -> str:
        """One line a learner (or a screen reader) reads instead of the chart."""
        head = f"{self.title}: {self.users:,} users"
        if self.complete == self.users:
            line = f"{head}, every one received all {self.expected} tokens"
        else:
            line = f"{head}, {self.complete:,} received all {self.expected} tokens"
        line += f"; the last stream ended after {self.finish:.1f} s"
        p50, p99 = self.first_token(0.5), self.first_token(0.99)
        if p50 is not None and p99 is not None:
            line += f", first token p50 {p50:.1f} s, p99 {p99:.1f} s"
        return line + "."

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain values (for JSON)."""
        return {
            "title": self.title,
            "url": self.url,
            "users": self.users,
            "complete": self.complete,
            "expected_tokens": self.expected,
            "speed": self.speed,
            "finish_city_s": self.finish,
            **{f"ttft_p{q}_city_s": self.first_token(q / 100) for q in (50, 95, 99)},
            "statuses": {s: sum(1 for t in self.trips if t.status == s) for s in STREAM_STATUSES},
        }


async def stream_rush(
    base_url: str,
    users: int = 8,
    *,
    trap: bool = False,
    prompt: str = "hello",
    seed: int | None = None,
    patience: float = 120.0,
    title: str | None = None,
) -> StreamRush:
    """``users`` ask ``/chat/stream`` at the same moment; record every token's arrival.

    Each user has a connection of their own (no client cap) and a seed of their own
    (the same reply, slightly different gaps); a user counts as served only when the
    tokens received are exactly the reply's and ``[DONE]`` came.

    Args:
        base_url: The server (this machine only).
        users: 1 to the surge's ``MAX_USERS``.
        trap: Stream from the blocking twin (``/trap/chat/stream``).
        prompt: What every user asks.
        seed: Every user's seed, so that all streams are the same stream, gap for gap
            (default: user *i* asks with seed *i*).
        patience: City seconds a user waits for the whole reply (at most the surge's
            ``MAX_REAL_SECONDS`` real seconds).
        title: Heading (default: the route).
    """
    import aiohttp

    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise ValueError(f"users is a whole number from 1 to {MAX_USERS:,}, not {users!r}")
    if not 0 < patience < float("inf"):
        raise ValueError(f"patience is a positive number of city seconds, not {patience!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed is a whole number from 0, not {seed!r}")
    base = base_url.rstrip("/")
    check_url(base)
    reply = plan_reply(prompt).tokens  # the seed changes the gaps, never the words
    speed = clock.speed()
    real_patience = min(patience / speed, MAX_REAL_SECONDS)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=real_patience)
    origin = clock.now()
    trips: list[StreamTrip | None] = [None] * users

    async def user(i: int, session: aiohttp.ClientSession) -> None:
        sent, arrivals, got, status = clock.now() - origin, [], [], "error"
        try:
            path = stream_path(prompt, trap=trap, seed=i if seed is None else seed)
            async with session.get(base + path) as response:
                if response.status == 200:
                    async for token in read_events(response.content.iter_any()):
                        arrivals.append(clock.now() - origin)
                        got.append(token)
                    status = "ok" if tuple(got) == reply else "incomplete"
        except TimeoutError:
            status = "timeout"
        except (aiohttp.ClientError, OSError, UnicodeDecodeError):
            status = "incomplete" if got else "error"
        trips[i] = StreamTrip(i, sent, tuple(arrivals), clock.now() - origin, status)

    with gc_paused():  # see surge.gc_paused: a full collection would look like the server
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            # A few users at a time, with a turn of the loop between: users already
            # connected send their requests while the next ones connect. Started all
            # in one go, the first request left only once all 1,000 had connected
            # (0.3 s of the client's work), and the server sat idle meanwhile.
            started: list[asyncio.Task[None]] = []
            try:
                for first in range(0, users, _LAUNCH_BATCH):
                    batch = range(first, min(users, first + _LAUNCH_BATCH))
                    started += [asyncio.ensure_future(user(i, session)) for i in batch]
                    await asyncio.sleep(0)
            except BaseException:  # called off while starting: no user is left behind
                for task in started:
                    task.cancel()
                raise
            await asyncio.gather(*started)
    label = title or ("/trap/chat/stream (time.sleep)" if trap else "/chat/stream (await)")
    done = [t for t in trips if t is not None]
    return StreamRush(label, base + stream_path(prompt, trap=trap), done, len(reply), speed)


# ----------------------------------------------------------------------------------
# A queue with backpressure


@dataclass
class Pipeline:
    """A producer/consumer run through one ``asyncio.Queue``.

    Attributes:
        maxsize: The queue's limit (0: no limit).
        producers: How many produced.
        workers: How many consumed.
        items: Items that went through.
        depth: ``(city second, items waiting in the queue)`` at every change.
        blocked: ``(city second, producers waiting to put)`` at every change.
        done: City seconds until the last item was processed.
    """

    maxsize: int
    producers: int
    workers: int
    items: int
    depth: list[tuple[float, int]] = field(repr=False)
    blocked: list[tuple[float, int]] = field(repr=False)
    done: float

    @property
    def title(self) -> str:
        """The queue in words."""
        return f"Queue(maxsize={self.maxsize})" if self.maxsize else "Queue() with no limit"

    @property
    def peak_depth(self) -> int:
        """The most items ever waiting in the queue."""
        return max((n for _, n in self.depth), default=0)

    @property
    def peak_blocked(self) -> int:
        """The most producers ever waiting at once."""
        return max((n for _, n in self.blocked), default=0)

    @property
    def blocked_time(self) -> float:
        """Producer-seconds spent waiting for room in the queue."""
        points = [*self.blocked, (self.done, 0)]
        return sum(n * (later - t) for (t, n), (later, _) in pairwise(points))

    def summary(self) -> str:
        """One line a learner (or a screen reader) reads instead of the chart."""
        line = (
            f"{self.title}: {self.items} items from {self.producers} producers through "
            f"{self.workers} workers in {self.done:.1f} s; at most {self.peak_depth} items "
            f"waited in the queue"
        )
        if self.peak_blocked:
            line += (
                f", and producers waited {self.blocked_time:.1f} s in all for room "
                f"(up to {self.peak_blocked} at once): backpressure"
            )
        else:
            line += ", and no producer ever waited: nothing pushed back"
        return line + "."


async def pipeline(
    maxsize: int = 4,
    *,
    producers: int = 3,
    workers: int = 2,
    items_each: int = 6,
    make: float = 0.2,
    work: float = 0.6,
) -> Pipeline:
    """Producers make items faster than workers can take them, through one queue.

    Args:
        maxsize: The queue's limit; 0 means none (the queue grows without end).
        producers: Tasks that each make ``items_each`` items, one every ``make`` s.
        workers: Tasks that each take an item and spend ``work`` s on it.
        items_each: Items per producer.
        make: City seconds to make one item.
        work: City seconds to process one item.
    """
    for name, value in (("producers", producers), ("workers", workers), ("items_each", items_each)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ValueError(f"{name} is a whole number from 1 to 100, not {value!r}")
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or not 0 <= maxsize <= 1000:
        raise ValueError(f"maxsize is a whole number from 0 (no limit) to 1000, not {maxsize!r}")
    origin = clock.now()
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize)
    depth: list[tuple[float, int]] = [(0.0, 0)]
    blocked: list[tuple[float, int]] = [(0.0, 0)]
    waiting = 0

    def note(series: list[tuple[float, int]], value: int) -> None:
        series.append((clock.now() - origin, value))

    async def produce(p: int) -> None:
        nonlocal waiting
        for k in range(items_each):
            await clock.sleep(make)
            full = queue.full()
            if full:
                waiting += 1
                note(blocked, waiting)
            await queue.put(p * items_each + k)  # waits here while the queue is full
            if full:
                waiting -= 1
                note(blocked, waiting)
            note(depth, queue.qsize())

    async def consume() -> None:
        while True:
            await queue.get()
            note(depth, queue.qsize())
            await clock.sleep(work)
            queue.task_done()

    crew = [asyncio.create_task(consume()) for _ in range(workers)]
    try:
        await asyncio.gather(*(produce(p) for p in range(producers)))
        await queue.join()
    finally:
        for task in crew:
            task.cancel()
        await asyncio.gather(*crew, return_exceptions=True)
    done = clock.now() - origin
    return Pipeline(maxsize, producers, workers, producers * items_each, depth, blocked, done)


# ----------------------------------------------------------------------------------
# Retries with backoff and jitter


@dataclass(frozen=True)
class Attempt:
    """One try of one request, in city seconds since the run began.

    Attributes:
        request: The request's name.
        number: 1 for the first try.
        start: When it was sent.
        end: When it answered or failed.
        ok: Whether it answered.
    """

    request: str
    number: int
    start: float
    end: float
    ok: bool


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base: float = 0.5,
    cap: float = 8.0,
    jitter: bool = True,
    rng: random.Random | None = None,
    retry_on: tuple[type[BaseException], ...] = (services.ServiceError,),
    on_attempt: Callable[[int, float, float, bool], None] | None = None,
) -> T:
    """Await ``call()``; when it fails, wait longer each time and try again.

    The wait before try ``n + 1`` is ``min(cap, base * 2**n)`` city seconds
    (exponential backoff); with ``jitter`` it is a random amount between 0 and that
    ("full jitter"), so clients that failed together do not all come back together.

    Args:
        call: Makes a fresh awaitable each time, such as ``lambda: call("translate")``.
        attempts: Tries in all, the first included.
        base: The first backoff, city seconds.
        cap: The longest backoff, city seconds.
        jitter: Randomise each wait.
        rng: Where the jitter comes from (seed it to replay a run).
        retry_on: Errors worth another try; anything else is raised at once.
        on_attempt: Told ``(number, start, end, ok)`` after each try (city clock).

    Raises:
        The last error, when every try failed.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts is a whole number, 1 or more, not {attempts!r}")
    if not (0 <= base <= cap < float("inf")):
        raise ValueError(f"backoff needs 0 <= base <= cap, not base={base!r}, cap={cap!r}")
    dice = rng if rng is not None else random.Random()
    for number in range(1, attempts + 1):
        start = clock.now()
        try:
            answer = await call()
        except retry_on:
            if on_attempt is not None:
                on_attempt(number, start, clock.now(), False)
            if number == attempts:
                raise
            backoff = min(cap, base * 2 ** (number - 1))
            await clock.sleep(dice.uniform(0, backoff) if jitter else backoff)
        else:
            if on_attempt is not None:
                on_attempt(number, start, clock.now(), True)
            return answer
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass
class RetryRun:
    """Requests to a flaky service, each retried with backoff.

    Attributes:
        title: What ran.
        requests: The requests' names, in order.
        attempts: Every try.
        failure_rate: The chance any one call failed.
        jitter: Whether the waits were randomised.
        horizon: City seconds the retry policy's slowest request takes (every try but
            the last failing, each full wait taken): the same for one policy with or
            without jitter, so the charts of both runs share one time axis (0: none).
    """

    title: str
    requests: list[str]
    attempts: list[Attempt] = field(repr=False)
    failure_rate: float
    jitter: bool
    horizon: float = 0.0

    @property
    def answered(self) -> list[str]:
        """Requests that got an answer in the end."""
        return [a.request for a in self.attempts if a.ok]

    @property
    def finish(self) -> float:
        """City seconds until the last try ended."""
        return max((a.end for a in self.attempts), default=0.0)

    def retry_waves(self, window: float = 0.01) -> int:
        """The most retries that set off within ``window`` s of each other: a thundering herd."""
        starts = sorted(a.start for a in self.attempts if a.number > 1)
        return max((sum(1 for s in starts if t <= s <= t + window) for t in starts), default=0)

    def summary(self) -> str:
        """One line a learner (or a screen reader) reads instead of the chart."""
        answered = len(self.answered)
        tries = len(self.attempts)
        line = (
            f"{self.title}: {answered} of {len(self.requests)} requests answered after "
            f"{tries} tries in all ({self.failure_rate:.0%} of calls fail)"
        )
        gave_up = len(self.requests) - answered
        if gave_up:
            line += f", {gave_up} gave up"
        waves = self.retry_waves()
        # Two jittered retries may meet by chance; a herd is three or more at once.
        herd = (
            f"up to {waves} retries set off at the same moment"
            if waves > 2
            else "no three retries set off at the same moment"
        )
        return f"{line}; {herd}; done after {self.finish:.1f} s."


async def retry_flaky(
    requests: int = 6,
    *,
    attempts: int = 5,
    base: float = 0.5,
    cap: float = 8.0,
    jitter: bool = True,
    failure_rate: float = 0.5,
    seed: int = 7,
) -> RetryRun:
    """``requests`` ask 🌐 Translate at once while half its calls fail; each retries.

    The failures come from the services' own failure injection
    (``citylib.conditions(failure_rate=...)``), seeded like the jitter, so one seed
    replays the same day.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or not 1 <= requests <= 50:
        raise ValueError(f"requests is a whole number from 1 to 50, not {requests!r}")
    names = [f"req {i + 1}" for i in range(requests)]
    tries: list[Attempt] = []
    origin = clock.now()
    rng = random.Random(seed)

    async def one(name: str) -> Any:
        def note(number: int, start: float, end: float, ok: bool) -> None:
            tries.append(Attempt(name, number, start - origin, end - origin, ok))

        return await with_retries(
            lambda: services.call("translate", request=name),
            attempts=attempts,
            base=base,
            cap=cap,
            jitter=jitter,
            rng=rng,
            on_attempt=note,
        )

    with services.conditions(failure_rate=failure_rate, seed=seed):
        await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
    title = "backoff with jitter" if jitter else "backoff without jitter"
    # Jitter only shortens the waits: the policy's slowest request bounds both runs.
    waits = sum(min(cap, base * 2**n) for n in range(attempts - 1))
    horizon = attempts * services.get_service("translate").latency + waits
    ordered = sorted(tries, key=lambda a: a.start)
    return RetryRun(title, names, ordered, failure_rate, jitter, horizon)
