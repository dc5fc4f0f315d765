"""The seed's snippets in examples/ run, and still read like the seed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from citylib import clock
from examples import step2_first_async_function, step3_gather, step4_city_report, weather_route

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def get_all(app: Any, *paths: str) -> tuple[float, list[httpx.Response]]:
    """City seconds to answer ``paths`` sent at once, in-process, and the answers."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citypopy") as client:
            return list(await asyncio.gather(*(client.get(p) for p in paths)))

    start = clock.now()
    answers = asyncio.run(go())
    return clock.now() - start, answers


@pytest.mark.parametrize(
    ("example", "seed_lines"),
    [
        (
            "step2_first_async_function.py",
            [
                "async def fetch_weather():",
                "await asyncio.sleep(1)  # pretend it's slow",
                'return {"city": "Citypopy", "temp": "22°C"}',
                "asyncio.run(fetch_weather())",
            ],
        ),
        (
            "step3_gather.py",
            [
                "async def main():",
                "# All three run simultaneously!",
                "weather, image, chat = await asyncio.gather(",
                "return weather, image, chat",
            ],
        ),
        (
            "step4_city_report.py",
            [
                "from fastapi import FastAPI",
                "app = FastAPI()",
                '@app.get("/city-report")',
                "async def city_report():",
                'return {"weather": weather, "image": image, "chat": chat}',
            ],
        ),
        (
            "weather_route.py",
            [
                '@app.get("/weather")',
                "async def get_weather():",
                "data = await ask_weather_service()",
                "return data",
            ],
        ),
    ],
)
def test_examples_read_like_the_seed(example: str, seed_lines: list[str]) -> None:
    source = (EXAMPLES / example).read_text(encoding="utf-8")
    for line in seed_lines:
        assert line in source, f"{example} lost the seed's line {line!r}"


def test_step2_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "step2_first_async_function.py")],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert done.stdout.strip() == "{'city': 'Citypopy', 'temp': '22°C'}"


def test_step2_pauses_politely() -> None:
    async def two_at_once() -> tuple[float, list[dict[str, str]]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        both = await asyncio.gather(*(step2_first_async_function.fetch_weather() for _ in range(2)))
        return loop.time() - start, list(both)

    took, both = asyncio.run(two_at_once())
    assert both == [{"city": "Citypopy", "temp": "22°C"}] * 2
    assert took < 1.9  # two 1 s waits side by side, not one after the other


def test_step3_gathers_the_three_services() -> None:
    start = clock.now()
    weather, image, chat = asyncio.run(step3_gather.main())
    took = clock.now() - start
    assert (weather["service"], image["service"], chat["service"]) == ("weather", "image", "chat")
    assert 8.0 * 0.95 <= took < 1 + 8 + 3  # the slowest lane, not the sum


def test_step4_serves_the_city_report() -> None:
    took, (answer,) = get_all(step4_city_report.app, "/city-report")
    assert answer.status_code == 200
    report = answer.json()
    assert sorted(report) == ["chat", "image", "weather"]
    assert report["weather"]["temp"] == "22°C"
    assert took < 1 + 8 + 3


def test_weather_route_serves_many_at_once() -> None:
    took, answers = get_all(weather_route.app, *["/weather"] * 5)
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {
        "service": "weather", "city": "Citypopy", "temp": "22°C", "latency": 1.0,
    }
    assert took < 2 * 1.0  # five 1 s requests side by side
