"""The surge: small surges against each routing system of a real server on 127.0.0.1.

The assertions are orderings and physical bounds in city seconds (one lane cannot
serve more users than fit in their patience), never absolute wall times.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from citylib import charts, clock, surge
from citylib._cli import main
from citylib._lessons.server import SYSTEMS, ManagedServer, system_path
from citylib._lessons.surge import Hit, Progress, SurgeResult, percentile
from citylib._views.lesson_charts import surge_chart
from citylib._views.style import to_png

pytestmark = pytest.mark.timeout(90)

USERS = 50
LATENCY = 4.0  # city seconds: long enough that lanes, not overhead, set the pace
PATIENCE = 20.0


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, SurgeResult]]:
    """One small surge per routing system, each on a fresh server."""
    out = {}
    for name in SYSTEMS:
        with ManagedServer() as city:
            out[name] = surge.surge_blocking(
                city.url + system_path(name, "weather", LATENCY),
                USERS,
                patience=PATIENCE,
                title=SYSTEMS[name].label,
            )
    yield out


@pytest.mark.server
def test_the_async_highway_serves_everyone(results: dict[str, SurgeResult]) -> None:
    highway = results["async"]
    assert highway.ok == USERS
    assert highway.timeouts == highway.errors == 0
    assert highway.alive
    assert highway.p50 is not None
    assert highway.p50 >= LATENCY * 0.95  # nobody is answered before the service answers


@pytest.mark.server
def test_the_threadpool_serves_forty_at_a_time(results: dict[str, SurgeResult]) -> None:
    pool = results["threadpool"]
    assert pool.ok == USERS
    second_trip = [h for h in pool.hits if h.latency * pool.speed >= 2 * LATENCY * 0.95]
    assert len(second_trip) >= USERS - 40  # the users beyond 40 needed a second trip
    assert pool.p99 is not None
    assert results["async"].p99 is not None
    assert results["async"].p99 < pool.p99


@pytest.mark.server
@pytest.mark.parametrize("system", ["blocking", "trap"])
def test_one_lane_systems_collapse(results: dict[str, SurgeResult], system: str) -> None:
    jam = results[system]
    assert not jam.alive
    # One lane serves at most patience / latency users before the rest give up.
    assert 1 <= jam.ok <= PATIENCE / LATENCY + 1
    assert jam.timeouts == USERS - jam.ok - jam.errors
    assert "The city collapses" in jam.summary()


@pytest.mark.server
def test_async_finishes_first(results: dict[str, SurgeResult]) -> None:
    fastest = min(results.values(), key=lambda r: r.completion)
    assert fastest is results["async"]
    for name in ("blocking", "trap"):
        assert results[name].completion > 2 * results["async"].completion


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/weather",
        "http://10.0.0.1:8000/weather",
        "http://0.0.0.0:8000/weather",
        "https://127.0.0.1:8000/weather",
        "ftp://localhost/weather",
        "127.0.0.1:8000/weather",
    ],
)
def test_only_this_machine_can_be_surged(url: str) -> None:
    with pytest.raises(ValueError, match="surge"):
        surge.check_url(url)
    with pytest.raises(ValueError):
        surge.surge_blocking(url, 1)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "http://localhost/", "http://[::1]:80/x"])
def test_loopback_urls_are_allowed(url: str) -> None:
    assert surge.check_url(url) == url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users must be a whole number from 1 to 20,000"),
        ({"users": 20_001}, "users must be"),
        ({"users": True}, "users must be"),
        ({"patience": 0}, "patience must be a positive number"),
        ({"patience": math.inf}, "patience must be"),
        ({"patience": math.nan}, "patience must be"),
        ({"deadline": -1}, "deadline must be"),
    ],
)
def test_surges_are_bounded(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"users": 1, **kwargs}
    users = options.pop("users")
    with pytest.raises(ValueError, match=message):
        surge.surge_blocking("http://127.0.0.1:9/", users, **options)  # type: ignore[arg-type]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (in the kernel's queue) but never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as sock:
        yield sock.getsockname()[1]


def test_users_give_up_on_a_server_that_never_answers(silent_port: int) -> None:
    seen: list[Progress] = []
    result = surge.surge_blocking(
        f"http://127.0.0.1:{silent_port}/weather", 10, patience=2.0, on_progress=seen.append,
        progress_every=clock.to_real(0.5),
    )
    assert result.timeouts == 10
    assert result.ok == result.errors == 0
    assert result.completion >= 2.0 * 0.95
    assert result.p50 is None
    assert seen[-1] == Progress(10, 0, 10, 0, seen[-1].elapsed)
    assert seen[-1].waiting == 0
    assert "10 gave up after 2 s" in result.summary()


def test_a_closed_port_counts_as_errors() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    result = surge.surge_blocking(f"http://127.0.0.1:{port}/", 5, patience=5.0)
    assert result.errors == 5
    assert "5 errors" in result.summary()


def test_cancelling_a_surge_stops_it(silent_port: int) -> None:
    async def go() -> float:
        task = asyncio.create_task(
            surge.surge(f"http://127.0.0.1:{silent_port}/", 20, patience=1000.0)
        )
        await clock.sleep(1)
        start = clock.now()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return clock.now() - start

    assert asyncio.run(go()) < 1000.0 / 10


def test_error_answers_are_errors() -> None:
    with ManagedServer() as city:
        result = surge.surge_blocking(city.url + "/weather?latency=oops", 5)
    assert result.errors == 5
    assert {h.code for h in result.hits} == {422}


# The result, from made-up hits (no network)


def made_up(statuses: list[str], speed: float = 1.0) -> SurgeResult:
    hits = [Hit(0.0, 1.0 + i / 10, s, 200 if s == "ok" else None) for i, s in enumerate(statuses)]
    return SurgeResult("http://127.0.0.1:1/async/weather", len(hits), hits,
                       max(h.end for h in hits), speed, 30.0, "⚡ async def + await")


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_summary_speaks_city_seconds() -> None:
    result = made_up(["ok"] * 10, speed=2.0)
    assert result.completion == pytest.approx(3.8)
    assert result.p50 == pytest.approx(2.8)
    assert result.summary() == (
        "⚡ async def + await: 10 users, all served in 3.8 s "
        "(latency p50 2.8 s, p95 3.8 s, p99 3.8 s). The city stays alive! 🎉"
    )


def test_verdicts() -> None:
    assert "stays alive" in made_up(["ok"] * 3).verdict
    assert "long lines" in made_up(["ok"] * 20).verdict  # the last waited 2.9 s, the first 1 s
    collapsed = made_up(["ok", "timeout", "timeout", "error"])
    assert collapsed.summary().startswith(
        "⚡ async def + await: 4 users, 1 served, 2 gave up after 30 s, 1 errors"
    )
    assert "collapses" in collapsed.verdict


def test_figures_as_plain_values() -> None:
    figures = made_up(["ok"] * 4, speed=10.0).as_dict()
    assert figures["completion_city_s"] == pytest.approx(13.0)
    assert figures["completion_real_s"] == pytest.approx(1.3)
    assert figures["p50_real_s"] == pytest.approx(1.1)
    json.dumps(figures)


def test_chart_and_its_text_alternative() -> None:
    from matplotlib.figure import Figure

    result = made_up(["ok"] * 5 + ["timeout"] * 3 + ["error"] * 2)
    fig = surge_chart(result)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "async def + await: 10 users"  # chart fonts lack emoji
    assert ax.get_xlabel() == "city seconds since the surge began"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["served", "gave up (timeout)", "errors", "still waiting"]
    drawn, alt = charts.draw(result)  # what charts.show(result) puts in a notebook
    assert to_png(drawn).startswith(b"\x89PNG")
    assert alt == result.summary()


def test_the_phases_are_named_in_the_legend_where_no_two_names_meet() -> None:
    """A short accepting phase beside a long wait: written on the chart, the two names
    ran into each other; in the legend each has its line and its span."""
    hits = [Hit(i / 1000, 1.4 + i / 100, "ok", 200) for i in range(20)]
    result = SurgeResult("http://127.0.0.1:1/async/weather", 20, hits, 1.6, 1.0, 30.0, "async")
    ax = surge_chart(result).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-3:] == [
        "accepting, 0.00 to 0.02 s",
        "awaiting the service, 0.02 to 1.40 s",
        "answering, 1.40 to 1.59 s",
    ]
    assert not any("accepting" in t.get_text() for t in ax.texts)


# citylib surge and the measuring functions


@pytest.mark.server
def test_cli_surge_runs_its_own_city(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "surge.png"
    code = main(
        ["surge", "--users", "20", "--latency", "0.5", "--speed", "20", "--png", str(png), "--json"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "⚡ async def + await: 20 users, all served in" in out
    assert '"ok": 20' in out
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://example.com/"], "refusing host 'example.com'"),
        (["--users", "0"], "users must be"),
        (["--png", "chart.jpg"], ".png"),
    ],
)
def test_cli_surge_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["surge", "--speed", "20", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.server
@pytest.mark.parametrize(("system", "where"), [("async", "thread"), ("bare", "process")])
def test_measure_surge(system: str, where: str) -> None:
    result = surge.measure_surge(system, 20, latency=1.0, where=where)
    assert result.ok == 20
    assert result.as_dict()["users"] == 20


@pytest.mark.server
def test_surge_system_opens_and_closes_its_own_city() -> None:
    from citylib._lessons import server

    result = asyncio.run(surge.surge_system("async", 20, patience=30.0, speed=clock.speed()))
    assert result.ok == 20
    assert result.title == "⚡ async def + await"
    assert not server._running
    with pytest.raises(ValueError, match="unknown routing system"):
        asyncio.run(surge.surge_system("warp", 20))
    assert not server._running


def test_public_names_are_pinned_and_documented() -> None:
    assert set(surge.__all__) == {
        "DEFAULT_PATIENCE", "MAX_REAL_SECONDS", "MAX_USERS", "HIT_STATUSES", "Hit", "Progress",
        "SurgeResult", "check_url", "measure_surge", "percentile", "serve_in_process",
        "surge", "surge_blocking", "surge_system",
    }  # fmt: skip
    for name in surge.__all__:
        value = getattr(surge, name)
        if callable(value):
            assert value.__doc__, f"citylib._lessons.surge.{name} has no docstring"


def test_gc_paused_restores_the_collector() -> None:
    import gc

    from citylib._lessons.surge import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
