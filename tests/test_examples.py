"""The seed's snippets in examples/ run, and still read like the seed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from citylib import clock
from citylib.testing import run_virtual
from examples import step2_first_async_function, step3_gather, step4_city_report, weather_route

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def get_all(app: Any, *paths: str) -> tuple[float, list[httpx.Response]]:
    """City seconds to answer ``paths`` sent at once, in-process, and the answers.

    An in-process ASGI app and client are pure asyncio: on virtual time the city's
    latencies pass at once and the city seconds measured are exact.
    """

    async def go() -> tuple[float, list[httpx.Response]]:
        start = clock.now()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citypopy") as client:
            answers = list(await asyncio.gather(*(client.get(p) for p in paths)))
        return clock.now() - start, answers

    return run_virtual(go())


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

    # The example is pure asyncio: on virtual time its two 1 s sleeps take no real time,
    # and side by side they take exactly one second of the loop's clock.
    took, both = run_virtual(two_at_once())
    assert both == [{"city": "Citypopy", "temp": "22°C"}] * 2
    assert took == pytest.approx(1.0, abs=1e-6)  # two 1 s waits side by side, not 2 s


def test_step3_gathers_the_three_services() -> None:
    async def timed() -> tuple[float, Any]:
        start = clock.now()
        answers = await step3_gather.main()
        return clock.now() - start, answers

    took, (weather, image, chat) = run_virtual(timed())  # pure asyncio: exact city seconds
    assert (weather["service"], image["service"], chat["service"]) == ("weather", "image", "chat")
    assert took == pytest.approx(8.0, abs=1e-6)  # the slowest lane, not the sum (12)


def test_step4_serves_the_city_report() -> None:
    took, (answer,) = get_all(step4_city_report.app, "/city-report")
    assert answer.status_code == 200
    report = answer.json()
    assert sorted(report) == ["chat", "image", "weather"]
    assert report["weather"]["temp"] == "22°C"
    assert took == pytest.approx(8.0, abs=1e-6)  # the slowest lane, not the sum (12)


def test_weather_route_serves_many_at_once() -> None:
    took, answers = get_all(weather_route.app, *["/weather"] * 5)
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {
        "service": "weather", "city": "Citypopy", "temp": "22°C", "latency": 1.0,
    }
    assert took == pytest.approx(1.0, abs=1e-6)  # five 1 s requests side by side, not 5 s


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # As notebook 07 runs them: anyio's plugin named, no other plugin loaded (looptime's,
    # installed for this suite, needs pytest-asyncio; nbval's costs 1.4 s to load).
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "anyio", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env,
    )


STREAMING = EXAMPLES / "streaming"


def _workshop(folder: Path, stream_words: str) -> Path:
    """The two files in a folder of their own, as notebook 07's cells write them."""
    (folder / "stream_words.py").write_text(stream_words, encoding="utf-8")
    test = (STREAMING / "test_stream_words.py").read_text(encoding="utf-8")
    (folder / "test_stream_words.py").write_text(test, encoding="utf-8")
    return folder


def test_stream_words_passes_its_own_anyio_tests(tmp_path: Path) -> None:
    """Run as notebook 07 runs them: ``pytest FOLDER`` in a folder with no pytest config."""
    source = (STREAMING / "stream_words.py").read_text(encoding="utf-8")
    done = _pytest(str(_workshop(tmp_path, source)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_stream_words_tests_catch_a_time_sleep_stream(tmp_path: Path) -> None:
    """The example's tests can fail: a stream that blocks does not take turns."""
    source = (STREAMING / "stream_words.py").read_text(encoding="utf-8")
    blocking = source.replace("await asyncio.sleep(delay)", "time.sleep(delay)")
    assert blocking != source
    done = _pytest(str(_workshop(tmp_path, "import time\n" + blocking)), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed" in done.stdout
    assert "test_two_readers_take_turns" in done.stdout


def test_stream_words_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(STREAMING / "stream_words.py")],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert done.stdout.strip() == "Many lanes, zero waiting."
