"""The city clock: speed from the environment, scaling, and clear errors."""

import asyncio
import threading
import time

import pytest

from citylib import clock


def test_speed_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV_VAR, "40")
    assert clock.speed() == 40.0
    assert clock.to_real(8) == pytest.approx(0.2)
    assert clock.to_city(0.2) == pytest.approx(8)


def test_speed_defaults_to_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV_VAR, raising=False)
    assert clock.speed() == 1.0


@pytest.mark.parametrize("bad", ["-1", "0", "fast", "inf", "nan"])
def test_bad_speed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(clock.ENV_VAR, bad)
    with pytest.raises(ValueError, match=clock.ENV_VAR):
        clock.speed()


def test_scaled_overrides_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV_VAR, "5")
    with clock.scaled(100):
        assert clock.speed() == 100
        with clock.scaled(200):
            assert clock.speed() == 200
        assert clock.speed() == 100
    assert clock.speed() == 5
    with pytest.raises(ValueError), clock.scaled(-3):
        pass


def test_sleep_and_block_last_city_seconds_scaled() -> None:
    with clock.scaled(50):
        t0 = time.perf_counter()
        asyncio.run(clock.sleep(5))  # 0.1 real s
        slept = time.perf_counter() - t0
        t0 = time.perf_counter()
        clock.block(5)
        blocked = time.perf_counter() - t0
    # Ratios, not wall-clock promises: both waited at least the scaled time.
    assert slept >= 0.1 * 0.95
    assert blocked >= 0.1 * 0.95


def test_block_can_be_called_off() -> None:
    stop = threading.Event()
    stop.set()
    with clock.scaled(1), pytest.raises(clock.CalledOffError):
        clock.block(3600, cancel=stop)
