"""Notebook 04's exercise: your own route, gathered and served."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from citylib._core import timeline
from citylib._core.timeline import Timeline
from citylib._lessons.exercises._measure import (
    calls_once,
    keys_of,
    payload_of,
    run_answer,
    together,
)
from citylib._lessons.practice import (
    Check,
    Exercise,
    GiveUpError,
    NotAttemptedError,
    Prediction,
    is_untouched,
)

__all__ = ["EXERCISES", "PREDICTIONS"]

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
            await run_answer(endpoint)
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
        calls_once(tl, _MORNING),
        together(tl, _MORNING, "weather and chat were gathered"),
    ]
    ok = (
        isinstance(report, dict)
        and payload_of(report.get("weather"), "weather")
        and payload_of(report.get("chat"), "chat")
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
            f"GET /morning answered {status} with {keys_of(body)}",
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

#: The exercises of this notebook, in the order the notebook asks them.
EXERCISES: tuple[Exercise, ...] = (_MORNING_ROUTE,)

PREDICTIONS: tuple[Prediction, ...] = ()
