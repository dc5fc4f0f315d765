"""Recording trips from coroutines and threads."""

import asyncio
import threading

import pytest

from citylib import clock, timeline
from citylib._core.timeline import Timeline, Trip, recording, trip
from citylib.testing import run_virtual


def test_nothing_recorded_without_a_current_timeline() -> None:
    assert timeline.current() is None
    with trip("r", "weather", "lane 1") as t:
        assert t.lane == "lane 1"
    assert timeline.current() is None


def test_trip_records_status_from_how_the_block_ends() -> None:
    with recording() as tl:
        with trip("ok", "weather", "lane 1"):
            pass
        with pytest.raises(KeyError), trip("boom", "chat", "lane 2"):
            raise KeyError("x")
        with pytest.raises(TimeoutError), trip("slow", "maps", "lane 3"):
            raise TimeoutError
    assert [(t.request, t.status) for t in tl] == [
        ("ok", "ok"),
        ("boom", "error"),
        ("slow", "timeout"),
    ]
    assert tl.driving == {}


def test_cancelled_task_is_recorded_as_cancelled() -> None:
    async def main() -> Timeline:
        with recording() as tl:

            async def drive() -> None:
                with trip("doomed", "image", "lane 1"):
                    await asyncio.sleep(10)

            task = asyncio.create_task(drive())
            await asyncio.sleep(0.01)
            assert "doomed" in tl.driving  # visible while under way
            assert tl.snapshot()[-1].status == timeline.DRIVING
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return tl

    tl = run_virtual(main())
    assert [t.status for t in tl] == ["cancelled"]


def test_recording_from_threads_and_to_thread() -> None:
    def work(name: str) -> None:
        with trip(name, "weather", threading.current_thread().name):
            clock.block(0.01)

    async def main() -> Timeline:
        with recording() as tl:
            await asyncio.gather(*(asyncio.to_thread(work, f"t{i}") for i in range(8)))
        return tl

    with clock.scaled(20):
        tl = run_virtual(main())
    assert sorted(t.request for t in tl) == [f"t{i}" for i in range(8)]
    assert all(t.end >= t.start >= t.queued >= 0 for t in tl)


def test_trip_times_are_city_seconds() -> None:
    async def main() -> Timeline:
        with recording() as tl, trip("w", "weather", "lane 1", queued=0.0):
            await clock.sleep(2)
        return tl

    with clock.scaled(40):
        tl = run_virtual(main())
    (t,) = tl.trips
    # City seconds, not real ones (0.05 s): a loaded machine may only add a little.
    assert 1.95 <= t.duration < 3.0
    assert tl.makespan == pytest.approx(t.end)


def test_trip_properties() -> None:
    t = Trip("r", "chat", "lane 1", queued=1.0, start=3.0, end=6.0)
    assert (t.wait, t.duration) == (2.0, 3.0)
    assert Timeline().makespan == 0.0


def test_trips_in_finish_order_and_readable_while_others_drive() -> None:
    async def drive(name: str, seconds: float) -> None:
        with trip(name, "weather", "lane"):
            await asyncio.sleep(seconds)

    async def main() -> Timeline:
        with recording() as tl:
            slow = asyncio.create_task(drive("slow", 0.05))
            await drive("fast", 0)
            assert [t.request for t in tl.trips] == ["fast"]
            assert list(tl.driving) == ["slow"]
            assert [t.status for t in tl.snapshot()] == ["ok", timeline.DRIVING]
            await slow
        return tl

    tl = run_virtual(main())
    assert [t.request for t in tl] == ["fast", "slow"]
    assert tl.driving == {}
