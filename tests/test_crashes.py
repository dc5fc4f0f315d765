"""When lanes crash: each lesson tells the story it claims, and charts it.

The lessons run on a scaled city clock. Speed 10 rather than the suite's 20 leaves
the gaps between events (half a city second at the least) 50 real ms wide, so a
busy machine cannot swap two events; figures are compared in city seconds, never
as wall time.
"""

import asyncio
from collections.abc import Iterator

import pytest

from citylib import charts, clock, crashes, services, timeline
from citylib._core.services import ServiceError
from citylib._core.timeline import Timeline, Trip
from citylib._lessons.crashes import CURES, GRACE, HEARTBEAT, Lesson
from citylib._views.lesson_charts import lesson_chart
from citylib.testing import run_virtual

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def city_clock() -> Iterator[float]:
    with clock.scaled(10) as s:
        yield s


def statuses(lesson: Lesson) -> dict[str, str]:
    return {t.service: t.status for t in lesson.timeline}


def test_a_bad_day_shows_an_error_a_hang_and_a_slow_tail() -> None:
    lesson = run_virtual(crashes.bad_day())
    got = statuses(lesson)
    assert got["speech"] == "error" and got["chat"] == "timeout"
    assert {got[n] for n in ("image", "maps", "translate", "weather")} == {"ok"}
    assert lesson.trip("Maps").duration == pytest.approx(1.5 * 2.0, rel=0.1)  # the slow tail
    assert lesson.trip("AI Chat").duration == pytest.approx(3.0 + GRACE, rel=0.1)
    outcomes = lesson.facts["outcomes"]
    assert isinstance(outcomes["speech"], ServiceError)
    assert isinstance(outcomes["chat"], TimeoutError)
    assert "4 of 6 requests arrived" in lesson.summary
    assert " usual end" in [t.get_text() for t in lesson_chart(lesson).axes[0].texts]


def test_gather_raises_the_first_error_but_cancels_nobody() -> None:
    lesson = run_virtual(crashes.gather_one_failure())
    assert isinstance(lesson.facts["raised"], ServiceError)
    assert lesson.facts["raised_at"] == pytest.approx(1.5, abs=0.3)
    assert lesson.facts["still_driving"] == ["image", "speech"]
    # Nobody was cancelled: every other lane drove to the end.
    assert statuses(lesson) == {"image": "ok", "chat": "error", "weather": "ok", "speech": "ok"}
    assert lesson.timeline.makespan == pytest.approx(8.0, rel=0.05)
    assert "cancelled nobody" in lesson.summary


def test_gather_with_return_exceptions_hands_back_everything_in_order() -> None:
    lesson = run_virtual(crashes.gather_one_failure(return_exceptions=True))
    results = lesson.facts["results"]
    assert [type(r).__name__ for r in results] == ["dict", "ServiceError", "dict", "dict"]
    assert [r["service"] for r in results if isinstance(r, dict)] == ["image", "weather", "speech"]
    assert "3 answers and 1 ServiceError" in lesson.summary


def test_a_taskgroup_cancels_the_siblings_still_driving() -> None:
    lesson = run_virtual(crashes.taskgroup_cancels_siblings())
    assert statuses(lesson) == {
        "image": "cancelled",
        "chat": "error",
        "weather": "ok",
        "speech": "cancelled",
    }
    crash = lesson.trip("AI Chat").end
    for name in ("Image Gen", "Speech"):
        assert lesson.trip(name).end == pytest.approx(crash, abs=0.2)
    assert [type(e) for e in lesson.facts["errors"]] == [ServiceError]


def test_a_timeout_cuts_off_a_hung_service_and_the_chart_says_timeout() -> None:
    lesson = run_virtual(crashes.timeout_on_hung_service(limit=2.0))
    cut = lesson.trip("AI Chat")
    assert cut.status == "timeout"
    assert cut.duration == pytest.approx(2.0, rel=0.1)
    assert lesson.facts["answers"]["chat"]["reply"] == crashes.FALLBACK_REPLY
    assert lesson.timeline.makespan == pytest.approx(2.0, rel=0.1)
    texts = [t.get_text() for t in lesson_chart(lesson).axes[0].texts]
    assert "lane 2 ◷ timed out" in texts


def test_a_deadline_marks_timeout_and_a_plain_cancel_stays_cancelled() -> None:
    async def main() -> None:
        with services.conditions(hang={"chat"}):
            # A TaskGroup under a deadline: its siblings fall to the deadline too.
            with pytest.raises(TimeoutError):
                async with crashes.timeout(1.0), asyncio.TaskGroup() as group:
                    group.create_task(services.call("chat", request="hung"))
                    group.create_task(services.call("image", request="sibling"))
            # The raw form: asyncio.timeout plus timeline.deadline.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(clock.to_real(0.5)) as cm:
                    with timeline.deadline(cm):
                        await services.call("chat", request="raw")
            # A cancel with no deadline in sight is a plain cancellation.
            task = asyncio.create_task(services.call("maps", request="called off"))
            await clock.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with timeline.recording() as tl:
        run_virtual(main())
    got = {t.request: t.status for t in tl}
    assert got == {
        "hung": "timeout",
        "sibling": "timeout",
        "raw": "timeout",
        "called off": "cancelled",
    }


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_the_toll_booth_lets_limit_lanes_on_the_road(limit: int) -> None:
    lesson = run_virtual(crashes.toll_booth(limit))
    assert lesson.facts["most_in_use"] == limit
    assert crashes.most_lanes_in_use(lesson.timeline) == limit
    assert len(lesson.timeline.lanes()) == limit
    assert lesson.timeline.makespan == pytest.approx(lesson.facts["predicted"], rel=0.05)


def test_the_toll_booth_refuses_a_booth_with_no_lanes() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="at least 1 lane"):
            run_virtual(crashes.toll_booth(bad))  # type: ignore[arg-type]


def test_cpu_work_on_the_loop_freezes_the_heartbeat_and_delays_everyone() -> None:
    work = 3.0
    lesson = asyncio.run(crashes.cpu_on_the_loop("none", work=work))
    assert lesson.facts["longest_gap"] >= 0.9 * work
    assert lesson.trip("Weather").duration >= 0.9 * work  # a 1 s trip stuck behind the crunch
    assert lesson.facts["rounds"] > 0


@pytest.mark.parametrize("cure", ["thread", "process"])
def test_the_cures_keep_the_loop_beating(cure: str) -> None:
    work = 3.0
    lesson = asyncio.run(crashes.cpu_on_the_loop(cure, work=work))
    # Well short of the crunch, though a loaded machine (or the GIL, for a thread)
    # can still hold a beat back for a moment.
    assert lesson.facts["longest_gap"] < 0.75 * work
    assert lesson.trip("Weather").duration < 0.75 * work
    assert lesson.trip("CPU crunch").duration == pytest.approx(work, rel=0.2)
    beats = lesson.heartbeat or []
    assert len(beats) >= 0.5 * work / HEARTBEAT


def test_an_unknown_cure_is_refused() -> None:
    with pytest.raises(ValueError, match="thread"):
        run_virtual(crashes.cpu_on_the_loop("magic"))
    assert set(CURES) == {"none", "thread", "process"}


def test_fire_and_forget_loses_an_exception_and_a_task_but_the_set_keeps_its_own() -> None:
    loop_handler_before: list[object] = []

    async def main() -> Lesson:
        loop = asyncio.get_running_loop()
        loop_handler_before.append(loop.get_exception_handler())
        lesson = await crashes.fire_and_forget()
        assert loop.get_exception_handler() is loop_handler_before[0]  # put back
        return lesson

    lesson = run_virtual(main())
    assert lesson.facts["reports"] == [
        "Task exception was never retrieved",
        "Task was destroyed but it is pending!",
    ]
    assert lesson.facts["vanished"] is True
    assert lesson.facts["left_in_set"] == 0
    assert {t.request: t.status for t in lesson.timeline} == {
        "AI Chat (forgotten)": "error",
        "Courier (weak ref only)": "destroyed",  # its coroutine was closed, not cancelled
        "Courier (kept in a set)": "ok",
    }
    # The lost courier's bar ends on the gc.collect() line, however long the collection
    # took in real time (a fast city clock stretches it); the kept one arrives later.
    [(collected_at, label)] = lesson.marks
    assert label == "gc.collect()"
    assert lesson.trip("Courier (weak ref only)").end == collected_at
    assert lesson.trip("Courier (kept in a set)").end >= collected_at + 0.45
    assert "destroyed by gc.collect()" in lesson.summary


def test_most_lanes_in_use_counts_overlaps_not_touches() -> None:
    trips = [
        Trip("a", "chat", "l1", 0, 0, 2),
        Trip("b", "chat", "l2", 0, 1, 3),
        Trip("c", "chat", "l1", 0, 2, 4),  # starts as "a" ends: not an overlap
        Trip("d", "chat", "l3", 0, 2.5, 2.6),
    ]
    assert crashes.most_lanes_in_use(trips) == 3
    assert crashes.most_lanes_in_use([]) == 0


def test_every_lesson_is_charted_with_its_marks_and_heartbeat() -> None:
    tl = Timeline(name="hand-made")
    tl.record(Trip("Weather", "weather", "lane 1", 0, 0, 3.0))
    tl.record(Trip("CPU crunch", "CPU work", "lane 2", 0, 0, 3.0))
    tl.record(Trip("AI Chat", "chat", "lane 3", 0, 0, 1.5, "error"))
    tl.record(Trip("Maps", "maps", "lane 4", 0, 0, 1.5, "cancelled"))
    tl.record(Trip("Speech", "speech", "lane 5", 0, 0, 2.0, "timeout"))
    tl.record(Trip("Courier", "courier", "lane 6", 0, 0, 2.0, "destroyed"))
    beats = [0.0, 3.0, 3.25]
    lesson = Lesson("Hand-made", tl, "summary", [(1.5, "gather raised")], beats)
    fig = lesson_chart(lesson, horizon=8.0)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert " gather raised" in texts
    assert "no heartbeat for 3.0 s" in texts
    assert {
        "lane 3 ✗ crashed",
        "lane 4 cancelled",
        "lane 5 ◷ timed out",
        "lane 6 destroyed by gc",
    } <= set(texts)
    assert [label.get_text() for label in ax.get_yticklabels()][-1] == "loop heartbeat"
    assert ax.get_xlim()[1] == pytest.approx(8.0 * 1.12 + 0.5)
    # Renders with every glyph present (a missing one would warn, and warnings fail).
    assert charts.to_png(fig).startswith(PNG_MAGIC)
    assert str(lesson) == "summary"
    with pytest.raises(KeyError):
        lesson.trip("Teleport")
