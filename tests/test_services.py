"""Mock services: latencies, payloads, the blocking twins and failure injection."""

import asyncio

import pytest

from citylib import clock, services
from citylib._core.services import SERVICES, ServiceError, call, call_blocking, conditions
from citylib._core.timeline import recording
from citylib.testing import run_virtual


def test_the_image_truck_is_the_slowest() -> None:
    assert SERVICES["image"].latency == 8.0
    assert SERVICES["weather"].latency == 1.0
    assert max(SERVICES.values(), key=lambda s: s.latency).name == "image"


def test_call_returns_a_fresh_payload_and_records_a_trip() -> None:
    async def main() -> tuple[dict[str, object], dict[str, object]]:
        return await call("weather"), await call("weather")

    with clock.scaled(100), recording() as tl:
        first, second = run_virtual(main())
    assert first == second and first is not second
    assert first["temp"] == "22°C" and first["service"] == "weather"
    assert [t.service for t in tl] == ["weather", "weather"]


def test_blocking_twin_matches_the_async_form() -> None:
    with clock.scaled(100):
        assert call_blocking("translate") == run_virtual(call("translate"))


def test_seed_names_exist_and_work() -> None:
    with clock.scaled(100):
        assert run_virtual(services.fetch_weather())["city"] == "Citypopy"
        assert services.get_ai_reply_blocking()["service"] == "chat"


def test_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="weather"):
        services.get_service("teleport")


def test_injected_failure_raises_and_is_recorded() -> None:
    with (
        clock.scaled(100),
        recording() as tl,
        conditions(fail="chat"),
        pytest.raises(ServiceError, match="AI Chat"),
    ):
        run_virtual(call("chat"))
    assert [t.status for t in tl] == ["error"]


def test_hang_is_cut_short_by_a_timeout() -> None:
    async def main() -> None:
        async with asyncio.timeout(clock.to_real(2)):
            await call("maps")

    with (
        clock.scaled(100),
        recording() as tl,
        conditions(hang={"maps"}),
        pytest.raises(TimeoutError),
    ):
        run_virtual(main())
    # asyncio.timeout cancels the call inside, then raises TimeoutError outside it.
    assert [t.status for t in tl] == ["cancelled"]


def test_jitter_is_seeded_and_bounded() -> None:
    def latencies(seed: int) -> list[float]:
        with conditions(jitter=0.2, seed=seed) as c:
            return [c.plan(SERVICES["image"])[0] for _ in range(20)]

    assert latencies(7) == latencies(7)
    assert latencies(7) != latencies(8)
    assert all(8 * 0.8 <= x <= 8 * 1.2 for x in latencies(7))


def test_failures_off_by_default() -> None:
    with clock.scaled(200):
        results = [call_blocking("weather") for _ in range(5)]
    assert all(r["latency"] == 1.0 for r in results)


@pytest.mark.parametrize(
    "settings",
    [{"jitter": 1.5}, {"failure_rate": -0.1}, {"fail": {"warp"}}, {"slow": {"chat": 0}}],
)
def test_bad_conditions_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError), conditions(**settings):
        pass
