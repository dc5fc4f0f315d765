"""Notebook 07's city: token streams, the SSE routes, queues with backpressure, retries."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

import citylib
from citylib import charts, clock, server, streaming
from citylib.testing import run_virtual

pytestmark = pytest.mark.timeout(60)

PLAN = streaming.plan_reply("hello")

Receive = Callable[[], Awaitable[dict[str, object]]]


# --- the token stream ------------------------------------------------------------


def test_a_plan_is_the_same_for_the_same_prompt_and_seed() -> None:
    assert streaming.plan_reply("hello", seed=3) == streaming.plan_reply("hello", seed=3)
    assert streaming.plan_reply("hello", seed=3).delays != PLAN.delays
    assert streaming.plan_reply("hello", seed=3).tokens == PLAN.tokens
    assert PLAN.text == "".join(PLAN.tokens) and len(PLAN.tokens) > 10
    assert PLAN.first_token == streaming.THINK


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"prompt": ""}, ValueError, "empty"),
        ({"prompt": "   "}, ValueError, "empty"),
        ({"prompt": "x" * 501}, ValueError, "at most 500"),
        ({"prompt": 42}, TypeError, "text"),
        ({"think": -1.0}, ValueError, "think"),
        ({"gap": float("nan")}, ValueError, "gap"),
        ({"seed": True}, TypeError, "seed"),
    ],
)
def test_bad_plans_say_what_is_wrong(kwargs: dict[str, object], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        streaming.plan_reply(**kwargs)  # type: ignore[arg-type]


def test_the_stream_yields_each_token_on_the_city_clock() -> None:
    async def read() -> list[tuple[float, str]]:
        start = clock.now()
        return [(clock.now() - start, t) async for t in streaming.stream_reply("hello")]

    got = run_virtual(read())
    assert [t for _, t in got] == list(PLAN.tokens)
    assert got[0][0] == pytest.approx(streaming.THINK)
    assert got[-1][0] == pytest.approx(PLAN.total, abs=0.05)  # looptime rounds each sleep


def test_the_blocking_twin_sends_the_same_tokens() -> None:
    with clock.scaled(200):
        assert tuple(streaming.stream_reply_blocking("hello")) == PLAN.tokens


def test_one_shot_comes_all_at_once_at_the_end() -> None:
    result = run_virtual(streaming.first_words())
    assert result.first_token == pytest.approx(streaming.THINK)
    assert result.one_shot == pytest.approx(PLAN.total, abs=0.05)
    assert result.streamed_total == pytest.approx(PLAN.total, abs=0.05)
    assert "first word arrived after 1.0 s" in result.summary()


# --- the wire format ---------------------------------------------------------------


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_events_round_trip_leading_spaces_and_line_breaks() -> None:
    from citylib._lessons.chat_stream import DONE, read_events, sse_event

    tokens = ["Hello", " world", "two\nlines", "  spaced"]
    body = b"".join(sse_event(t) for t in [*tokens, DONE, "after done"])

    async def read(size: int) -> list[str]:
        return [e async for e in read_events(_pieces(body, size))]

    for size in (1, 3, 7, len(body)):  # the body cut anywhere, even inside an event
        assert asyncio.run(read(size)) == tokens


# --- the routes, in-process --------------------------------------------------------


def get(path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=server.create_app(speed=200))
        async with httpx.AsyncClient(transport=transport, base_url="http://citypopy") as c:
            return await c.get(path)

    return asyncio.run(go())


@pytest.mark.parametrize("prefix", ["", "/async", "/trap"])
def test_the_stream_route_sends_one_event_per_token_then_done(prefix: str) -> None:
    answer = get(f"{prefix}/chat/stream?prompt=hello&seed=2")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = answer.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert [e.removeprefix("data: ") for e in events[:-2]] == list(PLAN.tokens)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "prompt is the question"),
        ("?prompt=", "prompt is the question"),
        ("?prompt=%20%20", "only spaces"),
        ("?prompt=" + "a" * 501, "1 to 500 characters"),
        ("?prompt=hi&gap=9", "gap is city seconds between tokens"),
        ("?prompt=hi&think=nan", "think is city seconds"),
        ("?prompt=hi&seed=-1", "seed is a whole number"),
    ],
)
def test_malformed_stream_requests_get_a_422_that_explains(query: str, words: str) -> None:
    answer = get(f"/chat/stream{query}")
    assert answer.status_code == 422
    body = answer.json()
    assert words in (body.get("message") or body["detail"])


def _asgi_stream(query: str, receive: Receive) -> list[dict[str, object]]:
    """The ASGI messages the app sends for one stream request, read at speed 200."""
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/chat/stream",
        "raw_path": b"/chat/stream", "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"citypopy")], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2), "state": {},
    }  # fmt: skip
    asyncio.run(server.create_app(speed=200)(scope, receive, send))  # type: ignore[arg-type]
    return sent


def test_done_leaves_with_the_end_of_the_body() -> None:
    from citylib._lessons.chat_stream import DONE, sse_event

    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)  # the client stays
        raise AssertionError

    sent = _asgi_stream("prompt=hello", receive)
    assert sent[0]["type"] == "http.response.start"
    bodies = sent[1:]
    assert [b["body"] for b in bodies[:-1]] == [sse_event(t) for t in PLAN.tokens]
    assert bodies[-1] == {"type": "http.response.body", "body": sse_event(DONE), "more_body": False}
    assert all(b["more_body"] for b in bodies[:-1])


def test_a_client_that_leaves_calls_its_stream_off_quietly() -> None:
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, object]:
        if messages:
            return messages.pop()
        await asyncio.sleep(0.5 / 200 * 10)  # leaves after about ten city tokens' time
        return {"type": "http.disconnect"}

    sent = _asgi_stream("prompt=hello&think=0.2&gap=0.5", receive)  # 13 city seconds long
    assert sent[0]["type"] == "http.response.start"
    assert 1 <= len(sent) - 1 < len(PLAN.tokens)  # some tokens, then nothing: no [DONE]
    assert all(m["more_body"] for m in sent[1:])


def test_the_map_lists_the_stream() -> None:
    assert "/chat/stream?prompt=hello" in get("/").json()["stream"]


# --- a real server -----------------------------------------------------------------


@pytest.mark.server
def test_a_real_client_reads_the_stream_and_a_refusal_is_a_stream_error() -> None:
    async def go(city: server.ManagedServer) -> list[str]:
        tokens = [t async for t in streaming.chat_stream(city.url, "hello")]
        with pytest.raises(streaming.StreamError, match="422: prompt is the question"):
            [t async for t in streaming.chat_stream(city.url, "")]
        return tokens

    with server.ManagedServer() as city:
        assert tuple(asyncio.run(go(city))) == PLAN.tokens


@pytest.mark.server
def test_the_trap_makes_every_stream_wait_for_the_one_before() -> None:
    async def both(city: server.ManagedServer) -> list[streaming.StreamRush]:
        return [await streaming.stream_rush(city.url, 5, trap=trap) for trap in (False, True)]

    with server.ManagedServer() as city:
        polite, trapped = asyncio.run(both(city))
    assert polite.complete == trapped.complete == 5
    # In the trap the five streams run one after another: at least five replies long.
    assert trapped.finish >= 0.95 * 5 * PLAN.total
    # Side by side, they end about when one would (a busy machine adds a little).
    assert trapped.finish > 2 * polite.finish
    p99 = trapped.first_token(0.99)
    assert p99 is not None and p99 > 3 * PLAN.total
    assert "every one received all" in polite.summary()


@pytest.mark.server
def test_stopping_the_server_ends_a_trapped_stream() -> None:
    city = server.ManagedServer().start()
    try:
        started = threading.Event()

        async def reader() -> streaming.StreamRush:
            started.set()
            return await streaming.stream_rush(city.url, 3, trap=True, patience=3600)

        outcome: list[streaming.StreamRush] = []
        thread = threading.Thread(target=lambda: outcome.append(asyncio.run(reader())))
        with clock.scaled(1):  # one stream lasts 3 real seconds: plenty to stop in
            thread.start()
            started.wait(5)
            city.stop(timeout=5)
            thread.join(20)
        assert not thread.is_alive()
        assert outcome and outcome[0].complete < 3
    finally:
        city.stop()


def test_a_rush_refuses_other_hosts_and_silly_counts() -> None:
    with pytest.raises(ValueError, match="this machine"):
        asyncio.run(streaming.stream_rush("http://example.com", 2))
    with pytest.raises(ValueError, match="users"):
        asyncio.run(streaming.stream_rush("http://127.0.0.1:1", 0))
    with pytest.raises(ValueError, match="seed"):
        asyncio.run(streaming.stream_rush("http://127.0.0.1:1", 2, seed=-1))


# --- reading beside the heartbeat ----------------------------------------------------


def test_a_time_sleep_generator_freezes_the_loop_and_async_for_does_not() -> None:
    polite = asyncio.run(streaming.loop_while_reading(2))
    rude = asyncio.run(streaming.loop_while_reading(2, blocking=True))
    assert polite.longest_freeze == 0.0
    assert rude.longest_freeze > 1.5 * PLAN.total  # both readers, one after the other
    assert rude.span > 1.5 * polite.span


# --- queues --------------------------------------------------------------------------


def test_a_bounded_queue_pushes_back_and_an_unbounded_one_grows() -> None:
    unbounded = run_virtual(streaming.pipeline(0))
    bounded = run_virtual(streaming.pipeline(4))
    assert bounded.peak_depth == 4 and bounded.peak_blocked > 0 and bounded.blocked_time > 0
    assert unbounded.peak_depth > 10 and unbounded.peak_blocked == 0
    assert bounded.items == unbounded.items == 18
    # Backpressure slows the producers, not the work: the workers set the pace.
    assert bounded.done == pytest.approx(unbounded.done)
    assert "backpressure" in bounded.summary()
    assert "nothing pushed back" in unbounded.summary()


@pytest.mark.parametrize("bad", [{"maxsize": -1}, {"producers": 0}, {"workers": True}])
def test_a_pipeline_refuses_bad_sizes(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        run_virtual(streaming.pipeline(**bad))


# --- retries -------------------------------------------------------------------------


def test_retries_replay_with_the_same_seed_and_jitter_breaks_up_the_herd() -> None:
    plain = run_virtual(streaming.retry_flaky(jitter=False))
    again = run_virtual(streaming.retry_flaky(jitter=False))
    jittered = run_virtual(streaming.retry_flaky(jitter=True))
    assert plain.attempts == again.attempts
    assert len(plain.answered) == 6 and any(a.number > 1 for a in plain.attempts)
    assert jittered.retry_waves() < plain.retry_waves()
    # Without jitter each backoff is exactly base * 2**n: 0.5, 1, 2, 4 after a 1.5 s try.
    firsts = sorted({round(a.start, 6) for a in plain.attempts})
    assert firsts[:4] == pytest.approx([0.0, 2.0, 4.5, 8.0])
    # One policy, one time axis: the two charts notebook 07 shows one after the other.
    assert plain.horizon == jittered.horizon == pytest.approx(5 * 1.5 + 0.5 + 1 + 2 + 4)
    assert plain.finish <= plain.horizon and jittered.finish <= jittered.horizon
    limits = {charts.draw(run)[0].axes[0].get_xlim() for run in (plain, jittered)}
    assert len(limits) == 1


def test_with_retries_gives_up_after_its_attempts_and_skips_other_errors() -> None:
    tries: list[int] = []

    async def always_fails() -> None:
        tries.append(1)
        raise citylib.ServiceError("down")

    async def wrong() -> None:
        tries.append(1)
        raise KeyError("not worth a retry")

    with pytest.raises(citylib.ServiceError, match="down"):
        run_virtual(streaming.with_retries(always_fails, attempts=3, rng=random.Random(1)))
    assert len(tries) == 3
    with pytest.raises(KeyError):
        run_virtual(streaming.with_retries(wrong, attempts=3))
    assert len(tries) == 4
    with pytest.raises(ValueError, match="attempts"):
        run_virtual(streaming.with_retries(wrong, attempts=0))


# --- charts --------------------------------------------------------------------------


def test_every_result_draws_with_its_text_alternative() -> None:
    rush = streaming.StreamRush(
        "/chat/stream (await)",
        "http://127.0.0.1:1/chat/stream",
        [streaming.StreamTrip(i, 0.0, (1.0, 1.5), 1.6, "ok") for i in range(30)],
        2,
        1.0,
    )
    results = [
        run_virtual(streaming.first_words()),
        run_virtual(streaming.pipeline(4)),
        run_virtual(streaming.retry_flaky()),
        rush,
        [rush, rush],
    ]
    for result in results:
        fig, alt = charts.draw(result)
        assert fig.axes and alt.endswith(".")
    assert "first 24 of 30" in charts.draw(rush)[0].axes[0].get_title(loc="left")
