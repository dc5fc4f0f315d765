"""Your own lanes: the contract of ``citylib.lanes`` (record, run, %%lanes, chart, trace)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from citylib import clock, lanes
from citylib._views.lanes_magic import rewrite
from citylib._views.step_magic import rewrite as step_rewrite
from citylib.testing import run_virtual

HERE = Path(__file__).name
SOURCE = Path(__file__).read_text(encoding="utf-8").splitlines()


def line_of(marker: str) -> int:
    """The line number of the line ending in ``# marker``."""
    return next(i for i, text in enumerate(SOURCE, 1) if text.endswith(f"# {marker}"))


async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)  # nap-await
    return seconds


async def fail_soon() -> None:
    await asyncio.sleep(0.5)
    raise ValueError("the weather service broke down")


def by_name(rec: lanes.Recording[Any]) -> dict[str, lanes.Lane]:
    return {lane.name: lane for lane in rec.lanes}


def test_gather_gives_each_task_a_lane_with_exact_spans_on_virtual_time() -> None:
    async def main() -> tuple[lanes.Recording[Any], list[float]]:
        with lanes.record() as rec:
            got = await asyncio.gather(nap(1.0), nap(2.0))  # the-gather
        return rec, got

    rec, got = run_virtual(main())
    assert got == [1.0, 2.0]  # results pass through untouched
    block, first, second = rec.lanes
    assert block.name.endswith("exact_spans_on_virtual_time.<locals>.main")
    assert (first.name, second.name) == ("nap", "nap")
    assert [lane.status for lane in rec.lanes] == ["done", "done", "done"]
    assert first.start == pytest.approx(0.0, abs=1e-6)
    assert first.end == pytest.approx(1.0, abs=1e-6) and second.end == pytest.approx(2.0, abs=1e-6)
    assert rec.makespan == pytest.approx(2.0, abs=1e-6)
    kinds = [s.kind for s in second.spans]
    assert kinds == ["running", "awaiting", "running"]
    waiting = second.spans[1]
    assert waiting.where == f"{HERE}:{line_of('nap-await')}"
    assert waiting.duration == pytest.approx(2.0, abs=1e-6)
    assert all(s.where == "" for s in second.spans if s.kind == "running")
    # The block awaited on its gather line (exactly on 3.12+, where sys.monitoring reports it).
    assert any(s.where == f"{HERE}:{line_of('the-gather')}" for s in block.spans)
    assert rec.most_at_once() == 3
    assert not rec.stalls


def test_a_taskgroup_with_a_failing_and_a_cancelled_child() -> None:
    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec, pytest.raises(ExceptionGroup) as caught:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(fail_soon())
                tg.create_task(nap(5.0))
        assert caught.group_contains(ValueError, match="broke down")
        return rec

    rec = run_virtual(main())
    lane = by_name(rec)
    assert lane["fail_soon"].status == "error"
    assert lane["nap"].status == "cancelled"  # the TaskGroup called its sibling off
    assert lane["nap"].end == pytest.approx(0.5, abs=1e-6)


def test_a_timeout_cancels_the_lane_and_raises_timeout_as_usual() -> None:
    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec, pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await asyncio.create_task(nap(10.0))
        return rec

    rec = run_virtual(main())
    (nap_lane,) = [lane for lane in rec.lanes if lane.name == "nap"]
    assert nap_lane.status == "cancelled"
    assert nap_lane.end == pytest.approx(1.5, abs=1e-6)


def test_a_task_started_inside_a_task_is_recorded_and_names_are_kept() -> None:
    async def parent() -> float:
        return await asyncio.create_task(nap(1.0), name="grandchild")

    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec:
            await asyncio.create_task(parent())
        return rec

    rec = run_virtual(main())
    names = [lane.name for lane in rec.lanes]
    assert names[1:] == [
        "test_a_task_started_inside_a_task_is_recorded_and_names_are_kept.<locals>.parent",
        "grandchild",
    ]


def test_a_pending_task_is_pending_and_a_task_after_the_block_is_not_recorded() -> None:
    async def main() -> tuple[lanes.Recording[Any], asyncio.Task[float]]:
        with lanes.record() as rec:
            slow = asyncio.create_task(nap(3.0))
            await asyncio.sleep(1.0)
        after = asyncio.create_task(nap(0.1))
        await after
        await slow
        return rec, slow

    rec, slow = run_virtual(main())
    assert slow.result() == 3.0
    lane = rec.lanes[1]
    assert lane.status == "pending" and lane.end == pytest.approx(1.0, abs=1e-6)
    assert len(rec.lanes) == 2  # the block and the slow task, not the one after


def test_a_blocking_call_is_a_stall_named_to_its_line() -> None:
    async def rude() -> None:
        time.sleep(0.25)  # noqa: ASYNC251  # rude-line

    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec:
            await asyncio.gather(rude(), nap(0.05))
        return rec

    rec = asyncio.run(main())
    (stall,) = rec.stalls
    assert stall.where == f"{HERE}:{line_of('rude-line')}"
    assert stall.code.startswith("time.sleep(0.25)")
    assert 0.2 <= stall.duration <= rec.duration
    assert 0.0 <= stall.start < rec.duration
    rude_lane = by_name(rec)["test_a_blocking_call_is_a_stall_named_to_its_line.<locals>.rude"]
    assert rude_lane.time("running") >= 0.2  # it held the loop, it did not await
    assert "held once" in rec.summary() and f"{HERE}:{line_of('rude-line')}" in rec.summary()


def test_the_previous_task_factory_is_used_and_put_back() -> None:
    made: list[str] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        made.append(getattr(coro, "__qualname__", "?"))
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def main() -> tuple[Any, Any, lanes.Recording[Any]]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(factory)
        with lanes.record() as rec:
            inside = loop.get_task_factory()
            await asyncio.create_task(nap(0.5))
        after = loop.get_task_factory()
        loop.set_task_factory(None)  # the loop's own shutdown tasks are not the test's
        return inside, after, rec

    inside, after, rec = run_virtual(main())
    assert inside is not factory and after is factory
    assert made == ["nap"]  # the learner's factory still made the task
    assert [lane.name for lane in rec.lanes][1:] == ["nap"]


def test_contextvars_and_cancellation_pass_through() -> None:
    city: contextvars.ContextVar[str] = contextvars.ContextVar("city", default="?")

    async def read_city() -> str:
        await asyncio.sleep(0.1)
        return city.get()

    async def main() -> tuple[str, bool, lanes.Recording[Any]]:
        city.set("Citypopy")
        with lanes.record() as rec:
            seen = await asyncio.create_task(read_city())
            victim = asyncio.create_task(nap(9.0))
            await asyncio.sleep(0.2)
            victim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await victim
        return seen, victim.cancelled(), rec

    seen, cancelled, rec = run_virtual(main())
    assert seen == "Citypopy" and cancelled
    assert by_name(rec)["nap"].status == "cancelled"


def test_run_is_asyncio_run_with_a_recording() -> None:
    async def main() -> str:
        await asyncio.gather(nap(0.01), nap(0.02))
        return "home"

    rec = lanes.run(main())
    assert rec.result == "home"
    assert rec.lanes[0].name.endswith("main") and len(rec.lanes) == 3
    with pytest.raises(TypeError, match="parentheses"):
        lanes.run(main)  # type: ignore[arg-type]


def test_run_lets_main_s_exception_through_and_leaves_no_factory_behind() -> None:
    async def main() -> None:
        await nap(0.01)
        raise KeyError("no such street")

    with pytest.raises(KeyError, match="no such street"):
        lanes.run(main())
    assert asyncio.run(asyncio.sleep(0, result="fine")) == "fine"


def test_record_outside_a_running_loop_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"lanes\.run\(main\(\)\)"), lanes.record():
        pass


def test_run_inside_a_running_loop_says_what_to_do() -> None:
    async def main() -> None:
        coro = nap(0.1)
        with pytest.raises(RuntimeError, match="%%lanes"):
            lanes.run(coro)

    asyncio.run(main())


def test_chart_trace_and_summary() -> None:
    from matplotlib.figure import Figure

    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec:
            await asyncio.gather(nap(1.0), fail_soon(), return_exceptions=True)
        return rec

    rec = run_virtual(main())
    fig = rec.chart()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][1:] == ["nap", "fail_soon"]
    assert " error" in [t.get_text() for t in ax.texts]
    trace = json.loads(json.dumps(rec.to_trace()))
    assert next(iter(trace)) == "traceEvents"
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {"nap", "fail_soon"} <= names
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["cat"] for e in spans} == {"running", "awaiting"}
    assert max(e["ts"] + e["dur"] for e in spans) == pytest.approx(1_000_000, abs=2)
    summary = rec.summary()
    # What a learner reads is city seconds: the recorded real second at the clock's speed.
    assert rec.makespan == pytest.approx(1.0, abs=1e-6) and rec.speed == clock.speed()
    assert summary.startswith(f"3 lanes done in {rec.speed:.2f} s") and "fail_soon error" in summary
    assert "never held" in summary and "of real time" in summary
    assert ax.get_xlabel() == "city seconds since the recording began"
    assert ax.get_xlim()[1] == pytest.approx(1.12 * rec.speed, rel=1e-3)


def test_a_thousand_lanes_chart() -> None:
    async def main() -> None:
        await asyncio.gather(*(nap(0.001 * (i % 7)) for i in range(1000)))

    rec = lanes.run(main())
    assert len(rec.lanes) == 1001
    labels = [t.get_text() for t in rec.chart().axes[0].get_yticklabels()]
    assert 1 < len(labels) <= 25  # every n-th lane is named, not a thousand


def test_the_lanes_magic_rewrites_a_cell_into_a_recording() -> None:
    cell = ["%%lanes\n", "await asyncio.sleep(0.1)\n", "x = 1"]
    rewritten = rewrite(cell)
    assert rewritten[0].startswith("with __import__('citylib').lanes.record() as ")
    assert rewritten[1:3] == ["    await asyncio.sleep(0.1)\n", "    x = 1\n"]
    assert rewritten[-1].endswith(".show()\n")
    assert rewrite(["%%lanes 0.05\n", "pass\n"])[0].startswith(
        "with __import__('citylib').lanes.record(0.05)"
    )
    assert "takes one number" in rewrite(["%%lanes fast\n", "pass\n"])[0]
    assert rewrite(["x = 1\n"]) == ["x = 1\n"]  # other cells are untouched
    assert len(rewrite(["%%lanes\n"])) == 3  # an empty cell records nothing, quietly


def test_the_lanes_magic_loads_once() -> None:
    import citylib

    class Shell:
        def __init__(self) -> None:
            self.input_transformers_cleanup: list[Any] = []

    shell = Shell()
    citylib.load_ipython_extension(shell)
    citylib.load_ipython_extension(shell)
    # %load_ext citylib teaches both cell magics, each once however often it is loaded.
    assert shell.input_transformers_cleanup == [rewrite, step_rewrite]


def test_the_block_lane_is_exact_with_sys_monitoring_and_inferred_on_3_11() -> None:
    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec:
            await nap(1.0)  # first-await
            await asyncio.create_task(nap(2.0))  # second-await
        return rec

    block = run_virtual(main()).lanes[0]
    waits = [s for s in block.spans if s.kind == "awaiting"]
    if sys.version_info >= (3, 12):  # sys.monitoring sees every yield and resume
        assert [s.where for s in waits] == [
            f"{HERE}:{line_of('first-await')}",
            f"{HERE}:{line_of('second-await')}",
        ]
        assert [round(s.duration, 6) for s in waits] == [1.0, 2.0]
    else:  # worked out from the tasks: awaiting while its one task ran
        assert [s.where for s in waits] == [f"{HERE}:{line_of('second-await')}"]
        assert [round(s.duration, 6) for s in waits] == [2.0]
    assert block.end == pytest.approx(3.0, abs=1e-6)


def test_the_block_lane_on_the_real_clock_runs_awaits_and_runs_again() -> None:
    async def main() -> lanes.Recording[Any]:
        with lanes.record() as rec:
            await asyncio.sleep(0.1)  # real-first
            time.sleep(0.08)  # noqa: ASYNC251
            await asyncio.sleep(0.1)  # real-second
        return rec

    block = asyncio.run(main()).lanes[0]
    waits = [s for s in block.spans if s.kind == "awaiting"]
    assert [s.where for s in waits] == [
        f"{HERE}:{line_of('real-first')}",
        f"{HERE}:{line_of('real-second')}",
    ]
    held = [s for s in block.spans if s.kind == "running" and waits[0].end <= s.start]
    assert held and held[0].duration >= 0.06  # the time.sleep, give or take a sample


def test_a_recording_does_not_keep_a_forgotten_task_alive() -> None:
    import gc
    import weakref

    async def wait_forever() -> None:
        await asyncio.get_running_loop().create_future()  # a future nobody else holds

    async def main() -> tuple[bool, lanes.Recording[Any]]:
        with lanes.record() as rec:
            forgotten = weakref.ref(asyncio.create_task(wait_forever()))  # nobody keeps it
            await asyncio.sleep(0.1)
            gc.collect()
        return forgotten() is None, rec

    gone, rec = asyncio.run(main())
    assert gone  # destroyed by the collector, recording or not
    assert [lane.name for lane in rec.lanes][1:] == [
        "test_a_recording_does_not_keep_a_forgotten_task_alive.<locals>.wait_forever"
    ]



def test_a_recorded_task_reads_as_the_learners_and_a_forgotten_one_runs_its_finally() -> None:
    import gc

    cleaned: list[str] = []

    async def fetch_weather() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # a future nobody else holds
        finally:
            cleaned.append("weather")

    async def main() -> str:
        with lanes.record():
            shown = repr(asyncio.create_task(nap(0.01)))
            asyncio.create_task(fetch_weather())  # noqa: RUF006 (nobody keeps it: the point)
            await asyncio.sleep(0.05)
            gc.collect()  # the forgotten task goes, and its coroutine is closed
        return shown

    shown = asyncio.run(main())
    assert shown.startswith("<Task pending name='Task-") and "coro=<nap() running" in shown
    assert cleaned == ["weather"]  # closing the task's coroutine closed the learner's


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_a_learner_reads_city_seconds_and_a_stall_in_real_time(speed: float) -> None:
    """A city service's 8 s read 8 s at every speed; the fields stay real seconds."""
    from citylib import services

    async def main() -> lanes.Recording[Any]:
        with clock.scaled(speed), lanes.record() as rec:
            await services.generate_image()
        return rec

    rec = run_virtual(main())
    assert rec.speed == speed
    assert rec.makespan == pytest.approx(8.0 / speed, rel=1e-3)  # the field: real seconds
    assert rec.summary().startswith("1 lane done in 8.00 s")
    fig = rec.chart()
    assert fig.axes[0].get_title(loc="left").startswith("Your lanes: 1 in 8.00 s")
