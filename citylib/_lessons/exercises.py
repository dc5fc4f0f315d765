"""The exercises, one or more per notebook, each judged from measurements.

Every judge drives the learner's answer against AI City's services on a fresh
timeline and measures: which services were called, how often and when (city
seconds), how long the loop went without a heartbeat, what came back. It returns
:class:`~citylib._lessons.practice.Check`\\ s; :mod:`citylib._lessons.practice` turns
them into a verdict. Where a notebook teaches the exercise, see its ``notebook``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

from citylib._core import clock, services, timeline
from citylib._core.race import predict_makespan, run_race
from citylib._core.stream import plan_reply
from citylib._core.timeline import Timeline
from citylib._lessons.crashes import most_lanes_in_use
from citylib._lessons.practice import (
    Check,
    Exercise,
    GiveUpError,
    NotAttemptedError,
    Prediction,
    heartbeat,
    is_untouched,
)

__all__ = ["EXERCISES", "PREDICTIONS"]

# Measured times carry real-world overhead (threads starting, a loaded machine at a
# fast clock); a makespan within this many city seconds of its ideal counts as it.
SLACK = 0.6


def _latency(name: str) -> float:
    return services.get_service(name).latency


def _calls(tl: Timeline, names: Sequence[str]) -> Check:
    """Each of ``names`` called exactly once (and nothing else)."""
    counts = {n: 0 for n in names}
    others = []
    for t in tl:
        if t.service in counts:
            counts[t.service] += 1
        else:
            others.append(t.service)
    ok = all(c == 1 for c in counts.values()) and not others
    measured = ", ".join(f"{n} ×{c}" for n, c in counts.items())
    if others:
        measured += "; also " + ", ".join(sorted(set(others)))
    missing = [n for n, c in counts.items() if c == 0]
    twice = [n for n, c in counts.items() if c > 1]
    if missing:
        cause = f"{', '.join(missing)} never set off: every car must be called (and awaited)"
    elif twice:
        cause = f"{', '.join(twice)} drove more than once: call each service once"
    elif others:
        cause = "only the services the exercise names should be called"
    else:
        cause = ""
    return Check(ok, "each service called once", measured, cause)


def _together(tl: Timeline, names: Sequence[str], label: str = "the cars drove at once") -> Check:
    """The trips overlapped: the makespan is the slowest trip, not the sum."""
    slowest = max(_latency(n) for n in names)
    total = sum(_latency(n) for n in names)
    ok = tl.makespan <= slowest + SLACK
    measured = (
        f"done in {tl.makespan:.1f} s (one after another: {total:g} s; together: {slowest:g} s)"
    )
    cause = ""
    if not ok:
        cause = (
            "the cars drove one after another: each await waited for its car to arrive "
            "before the next one even started, so the times added up"
        )
    return Check(ok, label, measured, cause)


def _held(beats_gap: float) -> Check:
    # The watcher's stalls are at least the course's threshold long: any is a hold.
    ok = beats_gap == 0
    measured = (
        f"the event loop stood still for {beats_gap:.2f} s of real time"
        if beats_gap
        else "the event loop never stood still"
    )
    cause = ""
    if not ok:
        cause = (
            "something held the event loop: a blocking call (time.sleep, call_blocking, a "
            "long calculation) inside async code stops every lane, the heartbeat included"
        )
    return Check(ok, "the event loop stayed free", measured, cause)


async def _run(answer: Any, *args: Any) -> Any:
    """Call the learner's function and await what it returns (if it is awaitable)."""
    if not callable(answer):
        raise GiveUpError(f"expected a function, got {type(answer).__name__} {answer!r:.60}")
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _keys(body: Any) -> str:
    return str(sorted(body)) if isinstance(body, dict) else f"{body!r:.60}"


def _size(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r:.40}"


def _payload_of(value: Any, name: str) -> bool:
    return isinstance(value, dict) and value.get("service") == name


# -- 01 · make the one-lane road a highway -------------------------------------------------

_COMMUTE = ("chat", "maps", "weather")


async def _judge_highway(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(
            f"`commute` should be a function (async def commute(): ...), not {answer!r:.60}"
        )
    with timeline.recording(Timeline(name="your commute")) as tl, heartbeat() as beats:
        returned = await _run(answer)
    checks = [_calls(tl, _COMMUTE), _together(tl, _COMMUTE), _held(beats.longest_gap)]
    ok = (
        isinstance(returned, list | tuple)
        and len(returned) == 3
        and all(_payload_of(v, n) for v, n in zip(returned, _COMMUTE, strict=False))
    )
    shown = (
        type(returned).__name__
        if not isinstance(returned, list | tuple)
        else (
            "["
            + ", ".join(
                v.get("service", "?") if isinstance(v, dict) else type(v).__name__ for v in returned
            )
            + "]"
        )
    )
    cause = (
        ""
        if ok
        else (
            "return the three answers in the order chat, maps, weather: gather hands them back "
            "in the order you passed the calls in"
        )
    )
    checks.append(Check(ok, "the three answers came back, in order", f"returned {shown}", cause))
    return checks


_HIGHWAY = Exercise(
    id="01_highway",
    notebook="01_traffic_jam",
    title="Make the one-lane commute a highway",
    answer_name="commute",
    stub="""async def commute():
    # 🛣️ Ask 💬 chat, 🗺️ maps and ☁️ weather at the same time
    # and return their three answers as a list: [chat, maps, weather].
    ...
""",
    solution_code="""import asyncio

from citylib import call


async def commute():
    chat, maps, weather = await asyncio.gather(call("chat"), call("maps"), call("weather"))
    return [chat, maps, weather]
""",
    hints=[
        "The cause of a jam: a car that is awaited on its own line has to arrive before the "
        "next line runs, so three awaits in a row add their times up (3 + 2 + 1 = 6 s). "
        "And call_blocking() never lets anyone else drive at all.",
        "The shape of the fix: one single await, on the foreman that sends every car off "
        "at once. Pass it the three calls (each call(...) is a car not yet driving), "
        "unpack the three answers it returns, and return them as a list.",
    ],
    judge=_judge_highway,
)


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
        _held(beats.longest_gap),
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


# -- 03 · a thread pool as wide as the highway ----------------------------------------------


async def _judge_pool(answer: Any) -> list[Check]:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise GiveUpError(f"pool_size is a whole number of threads (such as 4), not {answer!r:.40}")
    if not 1 <= answer <= 64:
        raise GiveUpError(
            f"pool_size = {answer}: a pool has at least 1 thread, and this check runs at most "
            "64 (each is a real operating-system thread)"
        )
    race = await run_race("threads", lanes=answer)
    cars = len(race.requests)
    worst = max(race.waits, key=race.waits.__getitem__)
    wait = race.waits[worst]
    used = len({t.lane for t in race.timeline})
    highway = predict_makespan("async", [r.service.latency for r in race.requests])
    checks = [
        Check(
            race.makespan <= highway + SLACK,
            "as fast as the highway",
            f"{answer} threads: done in {race.makespan:.1f} s (the highway: {highway:g} s)",
            ""
            if race.makespan <= highway + SLACK
            else (
                "too few threads: the cars queued behind the busy ones, so the last one "
                "arrived late"
            ),
        ),
        Check(
            wait <= 0.75,
            "nobody waited in line",
            f"{worst} waited {wait:.1f} s for a free thread",
            ""
            if wait <= 0.75
            else (
                f"{cars} cars arrive at once, and a car without a free thread waits in line: "
                "the makespan can match the highway while quick cars still queue behind slow ones"
            ),
        ),
        Check(
            used == answer,
            "no thread sat idle",
            f"{used} of {answer} threads ever carried a car",
            ""
            if used == answer
            else (
                f"only {cars} cars came, so {answer - used} threads never carried one, yet each "
                "still costs an operating-system thread (its own stack and a place in the "
                "scheduler): a pool wider than the crowd buys nothing"
            ),
        ),
    ]
    if all(c.ok for c in checks):
        checks.append(
            Check(
                True,
                "the cost",
                f"{answer} threads for {cars} cars, one thread per car; 1,000 users would need "
                "1,000 threads, while the highway serves them all on one",
            )
        )
    return checks


_POOL = Exercise(
    id="03_pool_size",
    notebook="03_concurrency_race",
    title="A thread pool as good as the highway",
    answer_name="pool_size",
    stub="""pool_size = ...  # 🧵 how many threads, so that no car waits in line?
""",
    solution_code="""pool_size = 6  # one thread per car: nobody waits, no thread idles
""",
    hints=[
        "The cause of waiting: the race sends six cars at the same moment, and a thread "
        "carries one car at a time. A car that finds every thread busy waits in line, "
        "even when the makespan already matches the highway (the truck sets that alone).",
        "The shape of the fix: count the cars that arrive together (the race's requests), "
        "and give the pool just that many threads. No more: a thread that never gets a "
        "car still costs its stack.",
    ],
    judge=_judge_pool,
)


# -- 04 · your own route, gathered and served -----------------------------------------------

_MORNING = ("weather", "chat")


def _morning_endpoint(app: Any) -> Any:
    routes = getattr(app, "routes", None)
    if routes is None:
        raise GiveUpError(
            f"`morning_app` should be a FastAPI app (FastAPI()), not {type(app).__name__}"
        )
    for route in routes:
        if getattr(route, "path", None) == "/morning" and "GET" in (
            getattr(route, "methods", None) or ()
        ):
            return route.endpoint
    paths = [
        getattr(r, "path", "?")
        for r in routes
        if not getattr(r, "path", "").startswith(("/docs", "/openapi", "/redoc"))
    ]
    raise GiveUpError(
        f"morning_app has no GET route at /morning (its routes: {paths or 'none'}): "
        'decorate the function with @morning_app.get("/morning")'
    )


async def _judge_morning(answer: Any) -> list[Check]:
    import aiohttp

    from citylib._lessons.server import ManagedServer

    endpoint = _morning_endpoint(answer)
    if is_untouched(endpoint):
        raise NotAttemptedError
    with timeline.recording(Timeline(name="/morning")) as tl:
        report = (
            await _run(endpoint)
            if inspect.iscoroutinefunction(endpoint)
            else await asyncio.to_thread(endpoint)
        )
    checks = [
        Check(
            inspect.iscoroutinefunction(endpoint),
            "the route is async def",
            "async def" if inspect.iscoroutinefunction(endpoint) else "a plain def",
            ""
            if inspect.iscoroutinefunction(endpoint)
            else "a route that awaits must be written with async def",
        ),
        _calls(tl, _MORNING),
        _together(tl, _MORNING, "weather and chat were gathered"),
    ]
    ok = (
        isinstance(report, dict)
        and _payload_of(report.get("weather"), "weather")
        and _payload_of(report.get("chat"), "chat")
    )
    checks.append(
        Check(
            ok,
            "the report holds both answers",
            f"returned {report!r:.80}",
            ""
            if ok
            else 'return a dict {"weather": ..., "chat": ...} with the two services\' answers',
        )
    )
    if not ok:
        return checks
    with ManagedServer(answer) as served:
        async with (
            aiohttp.ClientSession() as session,
            session.get(served.url + "/morning") as response,
        ):
            status = response.status
            body = await response.json(content_type=None)
    served_ok = status == 200 and isinstance(body, dict) and {"weather", "chat"} <= body.keys()
    checks.append(
        Check(
            served_ok,
            "served over HTTP",
            f"GET /morning answered {status} with {_keys(body)}",
            "" if served_ok else "the route should answer 200 with the report as JSON",
        )
    )
    return checks


_MORNING_ROUTE = Exercise(
    id="04_morning_route",
    notebook="04_async_fastapi",
    title="Your own route: the morning report",
    answer_name="morning_app",
    stub="""morning_app = FastAPI()


@morning_app.get("/morning")
async def morning():
    # ☁️ + 💬 Gather the weather and a chat reply, and return
    # {"weather": <weather's answer>, "chat": <chat's answer>}.
    ...
""",
    solution_code="""import asyncio

from fastapi import FastAPI

from citylib import services

morning_app = FastAPI()


@morning_app.get("/morning")
async def morning():
    weather, chat = await asyncio.gather(services.fetch_weather(), services.get_ai_reply())
    return {"weather": weather, "chat": chat}
""",
    hints=[
        "The cause of a slow report: awaiting the weather and then the chat makes the "
        "chat wait for the weather, 1 + 3 = 4 s; the report only needs the slower of the "
        "two, 3 s, if both drive at once.",
        "The shape of the fix: the same as /city-report in step 4, with two services "
        "instead of three: one await on the foreman, two answers back, and a dict with "
        'the keys "weather" and "chat" returned.',
    ],
    judge=_judge_morning,
)


# -- 06 · a toll booth, and a timeout with a fallback --------------------------------------

_BOOTH = ("image", "chat", "speech", "maps", "translate", "weather")


async def _judge_booth(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`drive_all` should be an async function, not {answer!r:.60}")
    with timeline.recording(Timeline(name="your toll booth")) as tl, heartbeat() as beats:
        returned = await _run(answer, list(_BOOTH))
    most = most_lanes_in_use(tl)
    ideal = predict_makespan("threads", [_latency(n) for n in _BOOTH], 3)
    checks = [
        _calls(tl, _BOOTH),
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
        _held(beats.longest_gap),
    ]
    ok = (
        isinstance(returned, list | tuple)
        and len(returned) == len(_BOOTH)
        and all(_payload_of(v, n) for v, n in zip(returned, _BOOTH, strict=False))
    )
    checks.append(
        Check(
            ok,
            "the answers came back, in order",
            f"returned {_size(returned)}",
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
# City seconds the hung run may take before the check stops waiting for it.
_STILL_WAITING = 30.0


async def _judge_fallback(answer: Any) -> list[Check]:
    if not callable(answer):
        raise GiveUpError(f"`chat_or_sorry` should be an async function, not {answer!r:.60}")
    with services.conditions(hang={"chat"}), heartbeat() as beats:
        start = clock.now()
        try:
            async with asyncio.timeout(clock.to_real(_STILL_WAITING)):
                hung = await _run(answer)
            took: float | None = clock.now() - start
        except TimeoutError:
            hung, took = None, None
    if took is None:
        return [
            Check(
                False,
                "gives up on a hung chat",
                f"still waiting after {_STILL_WAITING:g} s",
                "nothing cut the hung call off in time: without a timeout a request waits "
                "forever (and asyncio.timeout counts real seconds, while AI City's clock "
                "runs fast: crashes.timeout(2) counts city seconds)",
            )
        ]
    in_time = _GIVE_UP_AFTER - 0.5 <= took <= _GIVE_UP_AFTER + SLACK
    if took > _GIVE_UP_AFTER + SLACK:
        cause = (
            f"it gave up after {took:.1f} s, not 2: asyncio.timeout counts real seconds, and "
            "AI City's clock runs fast; crashes.timeout(2) counts city seconds"
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
        healthy = await _run(answer)
    ok = _payload_of(healthy, "chat")
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
    checks.append(_held(beats.longest_gap))
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
    checks.append(_held(beats.longest_gap))
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

#: Every exercise, by id, in course order.
EXERCISES: dict[str, Exercise] = {
    ex.id: ex for ex in (_HIGHWAY, _COURIER, _POOL, _MORNING_ROUTE, _TOLL_BOOTH, _FALLBACK, _SHOUT)
}

#: Every predict-then-run question, by id.
PREDICTIONS: dict[str, Prediction] = {
    p.id: p
    for p in (
        Prediction(
            "01_jam_makespan",
            "01_traffic_jam",
            "how many city seconds until the last car arrives on the one-lane road",
            "s",
            "One lane adds every trip up: 8 + 3 + 2.5 + 2 + 1.5 + 1 = 18 s.",
        ),
        Prediction(
            "03_pool_makespan",
            "03_concurrency_race",
            "the two-thread pool's makespan",
            "s",
            "Each car takes the first thread to come free: the truck keeps one thread "
            "for 8 s while chat, speech and maps use the other (3 + 2.5 + 2 = 7.5 s); "
            "translate follows there (until 9 s), and weather takes the truck's thread "
            "at 8 s: home at 9 s.",
        ),
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
}
