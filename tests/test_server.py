"""AI City's FastAPI app (in-process, through httpx's ASGI transport) and the managed server.

Timing assertions compare one routing system with another, or with the scaled city
clock; none asserts an absolute wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from citylib import clock, server
from citylib._cli import main
from citylib._lessons.server import SYSTEMS, ManagedServer, bare_app, create_app, system_path

pytestmark = pytest.mark.timeout(60)

ASGIApp = Callable[..., Awaitable[None]]


def ask(app: ASGIApp, *paths: str) -> list[httpx.Response]:
    """GET every path at once from ``app``, in-process."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citypopy") as client:
            return list(await asyncio.gather(*(client.get(p) for p in paths)))

    return asyncio.run(go())


def timed(app: ASGIApp, *paths: str) -> tuple[float, list[httpx.Response]]:
    """City seconds to answer ``paths``, all sent at once, and the answers."""
    start = clock.now()
    answers = ask(app, *paths)
    return clock.now() - start, answers


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app()


@pytest.fixture
def city() -> Iterator[ManagedServer]:
    with ManagedServer() as running:
        yield running


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# The routes, in-process


@pytest.mark.parametrize("prefix", ["", *(f"/{name}" for name in SYSTEMS)])
def test_every_system_answers_every_route(app: Any, prefix: str) -> None:
    weather, image, chat, report = ask(
        app, *(f"{prefix}/{r}?latency=0.2" for r in ("weather", "image", "chat", "city-report"))
    )
    assert weather.status_code == 200
    assert weather.json() == {
        "service": "weather", "city": "Citypopy", "temp": "22°C", "latency": 0.2,
    }
    assert image.json()["service"] == "image"
    assert chat.json()["reply"].startswith("Hello from Popy")
    assert sorted(report.json()) == ["chat", "image", "weather"]
    assert report.json()["image"]["image"] == "citypopy_skyline.png"


def test_weather_takes_the_weather_services_latency_by_default(app: Any) -> None:
    (answer,) = ask(app, "/weather")
    assert answer.json()["latency"] == 1.0


def test_every_service_is_on_the_highway(app: Any) -> None:
    for answer in ask(app, "/maps?latency=0", "/translate?latency=0", "/speech?latency=0"):
        assert answer.status_code == 200


def test_city_report_gathers_on_the_highway_but_not_in_one_lane(app: Any) -> None:
    highway, _ = timed(app, "/city-report?latency=1")
    one_lane, _ = timed(app, "/blocking/city-report?latency=1")
    assert highway < 2.0 <= one_lane  # three 1 s services: together vs one after another


@pytest.mark.parametrize(
    ("system", "together"),
    [("async", True), ("threadpool", True), ("blocking", False), ("trap", False)],
)
def test_lanes_of_each_system(
    app: Any, system: str, together: bool, careful_clock: float
) -> None:
    paths = [system_path(system, "weather", 1)] * 4
    took, answers = timed(app, *paths)
    assert all(a.status_code == 200 for a in answers)
    if together:
        # Four 1 s requests side by side take about 1 s; single file takes 4. The margin
        # is wide because on a loaded machine (load average 3-5 on 2 cores) starting the
        # threadpool's threads alone took 2.55 city seconds at speed 20.
        assert took < 3.0
    else:
        assert took >= 4.0  # four 1 s requests in single file


def test_the_trap_freezes_the_event_loop(app: Any) -> None:
    async def heartbeats_during(path: str) -> int:
        beats = 0

        async def heart() -> None:
            nonlocal beats
            while True:
                await clock.sleep(0.1)
                beats += 1

        task = asyncio.create_task(heart())
        await asyncio.sleep(0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citypopy") as client:
            await client.get(path)
        task.cancel()
        return beats

    assert asyncio.run(heartbeats_during("/async/weather?latency=1")) >= 5
    assert asyncio.run(heartbeats_during("/trap/weather?latency=1")) <= 1


@pytest.mark.parametrize(
    ("query", "bad"),
    [("abc", "abc"), ("-1", "-1"), ("nan", "nan"), ("inf", "inf"), ("61", "61"), ("", "")],
)
@pytest.mark.parametrize("system", ["async", "blocking"])
def test_malformed_latency_gets_a_clear_422(app: Any, system: str, query: str, bad: str) -> None:
    (answer,) = ask(app, f"/{system}/weather?latency={query}")
    assert answer.status_code == 422
    body = answer.json()
    assert body["message"] == (
        f"latency must be a number of city seconds from 0 to 60, such as ?latency=1 (got {bad!r})"
    )
    assert body["detail"][0]["loc"] == ["query", "latency"]


def test_unknown_service_and_road_get_a_404_that_helps(app: Any) -> None:
    service, road, deep = ask(app, "/teleport", "/async/teleport", "/no/such/road")
    assert service.status_code == 404
    assert "no 'teleport' service" in service.json()["detail"]
    assert "weather" in service.json()["detail"]
    assert road.status_code == 404
    assert deep.json() == {"detail": "No road /no/such/road in AI City; GET / shows the map."}


def test_the_map_lists_every_system(app: Any) -> None:
    (answer,) = ask(app, "/")
    systems = answer.json()["systems"]
    assert list(systems) == list(SYSTEMS)
    assert systems["threadpool"]["routes"] == ["/threadpool/weather", "/threadpool/city-report"]


def test_called_off_requests_end_with_503() -> None:
    app = create_app()
    app.state.called_off.set()
    answers = ask(app, "/blocking/weather", "/threadpool/weather", "/trap/city-report")
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert "called off" in answers[0].json()["detail"]


def test_system_path() -> None:
    assert system_path("async") == "/async/weather"
    assert system_path("trap", "/city-report", 0.5) == "/trap/city-report?latency=0.5"
    with pytest.raises(ValueError, match="unknown routing system 'warp'"):
        system_path("warp")


def test_bare_app_answers_like_the_weather_route() -> None:
    ok, bad = ask(bare_app, "/weather?latency=0.1", "/anything?latency=oops")
    assert ok.status_code == bad.status_code == 200
    assert ok.json() == {"service": "weather", "city": "Citypopy", "temp": "22°C"}


# The managed server, on a real port


@pytest.mark.server
def test_real_port_serves_the_city(city: ManagedServer) -> None:
    assert city.url == f"http://127.0.0.1:{city.port}"
    status, body = get(city.url + "/weather?latency=0.1")
    assert status == 200
    assert b'"city":"Citypopy"' in body
    status, body = get(city.url + "/weather?latency=abc")
    assert status == 422
    assert b"latency must be a number" in body


@pytest.mark.server
def test_start_and_stop_are_idempotent() -> None:
    city = ManagedServer()
    assert not city.running
    city.stop()  # stopping a stopped server does nothing
    assert city.start() is city
    port = city.port
    assert city.start().port == port  # a second start keeps the same server
    city.stop()
    city.stop()
    assert not city.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = city.url
    city.start()  # and it can open again
    try:
        assert get(city.url + "/weather?latency=0")[0] == 200
    finally:
        city.stop()


@pytest.mark.server
def test_context_manager_closes_the_port() -> None:
    with ManagedServer() as city:
        port = city.port
        assert get(f"http://127.0.0.1:{port}/weather?latency=0")[0] == 200
    assert not city.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


@pytest.mark.server
def test_stop_calls_off_requests_stuck_in_the_trap(city: ManagedServer) -> None:
    def stuck_user() -> None:
        with contextlib.suppress(OSError):  # a 503, or the connection closing: both fine
            get(city.url + "/trap/weather?latency=10")

    threads = [threading.Thread(target=stuck_user, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(clock.to_real(1))
    start = clock.now()
    city.stop()
    # 20 requests × 10 s in single file would hold the city for 200 s.
    assert clock.now() - start < 10
    for t in threads:
        t.join(5)


@pytest.mark.server
def test_ipv6_loopback_and_localhost() -> None:
    with ManagedServer(host="localhost") as city:
        assert city.url.startswith("http://localhost:")
        assert get(city.url + "/weather?latency=0")[0] == 200
    if socket.has_ipv6:
        try:
            v6 = ManagedServer(host="::1").start()
        except OSError:
            pytest.skip("no IPv6 loopback here")
        try:
            assert v6.url.startswith("http://[::1]:")
        finally:
            v6.stop()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "0.0.0.0"}, "this machine only"),
        ({"host": "example.com"}, "this machine only"),
        ({"port": -1}, "0 to 65535"),
        ({"port": 70000}, "0 to 65535"),
        ({"port": "80"}, "0 to 65535"),
    ],
)
def test_bad_server_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ManagedServer(**kwargs)


@pytest.mark.server
def test_a_taken_port_is_a_clear_error(city: ManagedServer) -> None:
    with pytest.raises(OSError):
        ManagedServer(port=city.port).start()


@pytest.mark.server
def test_shared_server_is_started_once() -> None:
    first = server.shared_server()
    try:
        assert server.shared_server() is first
        assert first.running
    finally:
        first.stop()
    assert not first.running


@pytest.mark.server
def test_bare_app_serves_with_lifespan() -> None:
    with ManagedServer(bare_app) as city:
        status, body = get(city.url + "/weather?latency=0")
    assert status == 200
    assert b"Citypopy" in body


@pytest.mark.server
def test_interpreter_exit_stops_a_running_server() -> None:
    code = (
        "from citylib._lessons.server import ManagedServer\n"
        "city = ManagedServer().start()\n"
        "print(city.url, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("http://127.0.0.1:")
    assert done.stderr == ""


# citylib serve


@pytest.mark.server
def test_cli_serve_opens_and_closes_the_city(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("🏙️  AI City is open at http://127.0.0.1:")
    assert out[-1] == "🌙 AI City is closed."


def test_cli_serve_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--seconds", "-1"]) == 2
    assert "--seconds must be positive" in capsys.readouterr().err


@pytest.mark.server
def test_cli_serve_on_a_taken_port_says_so(
    city: ManagedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(city.port), "--seconds", "0.1"]) == 2
    assert f"cannot open port {city.port}" in capsys.readouterr().err


def test_an_app_can_pin_its_own_clock_speed() -> None:
    slower = 20.0
    pinned, follows = create_app(speed=clock.speed() / slower), create_app()
    slow, (answer,) = timed(pinned, "/weather?latency=0.5")
    quick, _ = timed(follows, "/weather?latency=0.5")
    assert answer.json()["latency"] == 0.5  # the latency asked for, in the app's seconds
    assert slow >= 0.5 * slower * 0.95  # a 20 times slower clock: 0.5 s last 20 times longer
    assert quick < slow / 4
    with pytest.raises(ValueError, match="positive"):
        create_app(speed=0)


def test_public_names_are_pinned_and_documented() -> None:
    from citylib._lessons import server  # the lesson itself; citylib.server re-exports it

    assert set(server.__all__) == {
        "DEFAULT_BACKLOG", "LOOPBACK_HOSTS", "MAX_LATENCY", "REPORT_SERVICES", "SYSTEMS",
        "ManagedServer", "RoutingSystem", "app", "bare_app", "create_app", "shared_server",
        "system_path",
    }  # fmt: skip
    for name in server.__all__:
        value = getattr(server, name)
        if callable(value) and name != "app":
            assert value.__doc__, f"citylib._lessons.server.{name} has no docstring"
