"""The course widgets, without a browser: flip them inside a running loop and watch.

Each test drives a widget the way a learner's click does (setting the toggle's
value runs its observer), on a scaled clock, inside ``asyncio.run``. What is checked
is what a learner sees: the status line's words and the picture changing, a second
flip calling the first run off, and nothing left running afterwards.

Timings are checked against physics, which a busy machine cannot beat: a run never
ends sooner than its slowest trip (one lane: the sum of them), and a blocked loop's
heart stops at least as long as it was blocked. Upper bounds are loose: at speed 20
a 50 ms hiccup of a loaded machine is a whole city second.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from citylib import clock
from citylib._core.race import city_requests
from citylib._core.timeline import DRIVING, Timeline, Trip
from citylib._lessons.chatbot import serve_chat
from citylib._lessons.heartbeat import BEAT, Pulse, weather_check, with_heartbeat
from citylib._views.chatbot import ChatbotToggle, rush_chart
from citylib._views.heartbeat import AwaitToggle, heart_html, pulse_chart
from citylib._views.highway import STILL_WAITING, HighwayToggle, highway_status, watch_race
from citylib._views.live import LiveWidget
from citylib._views.race_widget import RaceWidget

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def fast_clock() -> Iterator[float]:
    with clock.scaled(20) as s:
        yield s


@pytest.fixture
def slow_clock() -> Iterator[float]:
    """Speed 5 for heartbeats: a busy machine's hiccup must not pass for a freeze."""
    with clock.scaled(5) as s:
        yield s


@pytest.fixture
def beat_clock() -> Iterator[float]:
    """Speed 2 for tests that place single beats within half a beat of their slot: at
    speed 5 half a beat is 25 ms, which a beat woken late on a busy core used up (three
    test workers on two cores); here it is 62 ms."""
    with clock.scaled(2) as s:
        yield s


@pytest.fixture
def steady_clock() -> Iterator[float]:
    """Speed 10 for 1,000 users: starting them all must not eat the slow reply's margin."""
    with clock.scaled(10) as s:
        yield s


class _Complaints(logging.Handler):
    """Collects what asyncio logs: "Task exception was never retrieved" and the like."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body, then check it left nothing behind.

    No task still running, no lane thread, the garbage collector on, and nothing
    asyncio complains about once the leftovers are collected.
    """

    async def checked() -> None:
        await test()
        me = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() if t is not me]
        assert not leftovers, f"tasks still running: {leftovers}"

    complaints = _Complaints()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(complaints)
    try:
        asyncio.run(checked())
        gc.collect()  # an unretrieved exception is reported when its future is collected
    finally:
        asyncio_log.removeHandler(complaints)
    assert not complaints.messages, f"asyncio complained: {complaints.messages}"
    assert gc.isenabled(), "a rush left the garbage collector off"
    # A called-off blocking race's worker threads stop at once; give them a moment.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and lane_threads():
        time.sleep(0.02)
    assert not lane_threads(), f"worker threads still running: {lane_threads()}"


def lane_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("citylib-lane")]


async def until(widget: LiveWidget, words: str, city_seconds: float = 30.0) -> str:
    """Wait until the status line says ``words`` (city seconds, at most)."""
    deadline = time.monotonic() + clock.to_real(city_seconds)
    while words not in widget.status_text:
        assert time.monotonic() < deadline, f"status never said {words!r}: {widget.status_text!r}"
        await asyncio.sleep(0.005)
    return widget.status_text


# -- the Async Highway toggle (01) -----------------------------------------------------


def test_highway_toggle_draws_the_jam_live_then_the_highway() -> None:
    async def body() -> None:
        w = HighwayToggle()
        empty = bytes(w.picture.value)
        assert empty.startswith(PNG_MAGIC)
        assert "Pick a road" in w.status_text

        w.toggle.value = "sync"
        await until(w, STILL_WAITING)
        # A frame is painted in a worker thread; a loaded machine may take a while.
        deadline = time.monotonic() + clock.to_real(6)
        while bytes(w.picture.value) == empty:
            assert time.monotonic() < deadline, "the lanes did not fill in"
            await asyncio.sleep(0.01)
        assert w.running

        w.toggle.value = "async"  # mid-jam: the jam is called off, the highway starts
        await w.wait()
        assert w.result is not None and w.result.mode == "async"
        assert 7.95 <= w.result.makespan < 12  # the truck's 8 s, nowhere near the jam's 18
        assert w.status_text.startswith("🎉 All 6 requests done in")
        assert not w.running
        w.close()

    run(body)


def test_highway_toggle_finishes_the_jam_with_its_worst_wait() -> None:
    async def body() -> None:
        w = HighwayToggle(["image", "weather"])
        w.play("sync")
        await w.wait()
        assert w.result is not None and w.result.makespan >= 8.95
        assert "😤 Jam cleared after" in w.status_text
        assert "☁️ Weather waited" in w.status_text
        w.again.click()  # "Drive again" repeats the mode
        await until(w, STILL_WAITING)
        w.close()  # closing calls the run off too
        await w.wait()

    run(body)


def test_highway_toggle_refuses_silly_values_with_a_message() -> None:
    async def body() -> None:
        w = HighwayToggle(["image", "pizza"])
        assert "unknown service 'pizza'" in w.status_text
        assert w.toggle.disabled
        w.play("sync")  # nothing to drive: no crash, no run
        assert not w.running
        for silly, words in ((42, "list of service names"), ([None], "list of service names")):
            assert words in HighwayToggle(silly).status_text  # type: ignore[arg-type]
        assert HighwayToggle("weather").requests[0].service.name == "weather"
        ok = HighwayToggle()
        ok.play("warp")
        assert "not 'warp'" in ok.status_text and not ok.running

    run(body)


def test_a_widget_outside_a_running_loop_says_so() -> None:
    w = HighwayToggle()
    w.play("sync")
    assert "needs a running event loop" in w.status_text


def test_highway_status_follows_the_run() -> None:
    reqs = city_requests()
    truck = [Trip(reqs[0].name, "image", "lane 1", 0, 0, 3, DRIVING)]
    assert STILL_WAITING in highway_status("sync", truck, reqs)
    assert "5 cars stuck" in highway_status("sync", truck, reqs)
    chat = [
        Trip(reqs[0].name, "image", "lane 1", 0, 0, 8),
        Trip(reqs[1].name, "chat", "lane 1", 0, 8, 9, DRIVING),
    ]
    assert "Now serving 💬 AI Chat" in highway_status("sync", chat, reqs)
    lanes = [
        Trip(r.name, r.service.name, f"lane {i}", 0, 0, 0.5, DRIVING) for i, r in enumerate(reqs)
    ]
    assert "6 cars driving at once" in highway_status("async", lanes, reqs)
    only_truck = [
        Trip(r.name, r.service.name, "x", 0, 0, r.service.latency, "ok") for r in reqs[1:]
    ] + [Trip(reqs[0].name, "image", "x", 0, 0, 4, DRIVING)]
    assert "only the 🎨 image truck" in highway_status("async", only_truck, reqs)


def test_watch_race_leaves_the_last_frame_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    async def body() -> None:
        result = await watch_race("async", city_requests(["maps", "weather"]))
        assert 1.95 <= result.makespan < 2.9

    run(body)
    out = capsys.readouterr().out
    assert "Async Highway: 2 requests done in" in out


# -- the await toggle and its heartbeat (02) -----------------------------------------


@pytest.mark.usefixtures("slow_clock")
def test_await_toggle_heart_beats_while_awaiting_and_freezes_while_blocking() -> None:
    async def body() -> None:
        w = AwaitToggle()
        resting = w.heart.value
        w.toggle.value = "await"
        await w.wait()
        assert w.pulse is not None and w.pulse.longest_freeze < 1.0
        assert w.pulse.span < 2.0
        assert w.heart.value != resting and bytes(w.picture.value).startswith(PNG_MAGIC)
        polite_picture = bytes(w.picture.value)

        w.toggle.value = "blocking"
        await w.wait()
        assert w.pulse.longest_freeze >= 2.7  # blocked 3 s, give or take a beat
        assert w.pulse.span >= 2.95  # the neighbours went one after another
        assert w.status_text.startswith("💔 The heart froze for")
        assert bytes(w.picture.value) != polite_picture
        w.close()

    run(body)


def test_await_toggle_reflip_calls_the_run_off() -> None:
    async def body() -> None:
        w = AwaitToggle()
        w.toggle.value = "await"
        await asyncio.sleep(clock.to_real(0.5))
        first = w._task
        assert first is not None
        w.toggle.value = "blocking"
        assert w._task is not first
        await w.wait()
        assert first.cancelled()
        assert w.pulse is not None and w.pulse.longest_freeze > 2

    run(body)


def test_await_toggle_refuses_silly_neighbours() -> None:
    for silly in (0, 11, "3", 2.5, True):
        w = AwaitToggle(neighbours=silly)  # type: ignore[arg-type]
        assert "neighbours is a whole number" in w.status_text and w.toggle.disabled


@pytest.mark.usefixtures("slow_clock")
def test_with_heartbeat_shows_the_pro_tip() -> None:
    second = clock.to_real(1)

    async def rude() -> None:
        time.sleep(second)  # noqa: ASYNC251 - blocking on purpose: the test's subject

    async def polite() -> None:
        await asyncio.sleep(second)

    async def body() -> None:
        sleepy = await with_heartbeat(rude(), rude(), rude(), title="time.sleep()")
        calm = await with_heartbeat(polite(), polite(), polite(), title="asyncio.sleep()")
        assert sleepy.span >= 2.95 and sleepy.longest_freeze >= 2.7
        assert 0.95 <= calm.span < 2.0 and calm.longest_freeze < 1.0
        assert "froze for" in sleepy.summary()
        assert [t.request for t in sleepy.timeline] == ["rude #1", "rude #2", "rude #3"]
        assert len(pulse_chart(sleepy).axes) == 1

    run(body)


def test_with_heartbeat_refuses_bad_calls_without_leaking_coroutines() -> None:
    async def nap() -> None:
        await asyncio.sleep(0)

    async def body() -> None:
        with pytest.raises(ValueError, match="at least one coroutine"):
            await with_heartbeat()
        with pytest.raises(ValueError, match="2 tasks but 1 names"):
            await with_heartbeat(nap(), nap(), names=["only one"])
        with pytest.raises(ValueError, match="'await' or 'blocking'"):
            await weather_check("maybe")

    run(body)  # an unawaited coroutine would warn, and warnings are errors here


def test_with_heartbeat_stops_the_others_when_one_task_fails() -> None:
    async def crash() -> None:
        await asyncio.sleep(clock.to_real(0.2))
        raise RuntimeError("flat tyre")

    async def long_drive() -> None:
        await asyncio.sleep(clock.to_real(30))

    async def body() -> None:
        with pytest.raises(RuntimeError, match="flat tyre"):
            await with_heartbeat(crash(), long_drive(), lead=0.1)

    run(body)  # an unawaited coroutine would warn, and warnings are errors here


def test_a_fast_clock_does_not_turn_a_busy_computer_into_a_freeze() -> None:
    beats = [0.0, 0.25, 0.5, 1.3, 1.55]  # one gap of 0.8 city seconds
    assert Pulse("", Timeline(), beats, speed=1).longest_freeze == pytest.approx(0.8)
    # At speed 20 the same gap lasted 40 real ms: a hiccup, not a blocked loop.
    assert Pulse("", Timeline(), beats, speed=20).longest_freeze == 0


def test_heart_strip_flatlines_where_beats_are_missing() -> None:
    beats = [0.0, 0.25, 0.5, 2.0, 2.25]
    html = heart_html(beats, speed=1)
    assert html.count("♥") == len(beats)
    assert html.count("─") == 5  # the beats due at 0.75 … 1.75 never came


def test_heart_strip_draws_no_flatline_for_a_late_beat() -> None:
    # A beat a little late (a busy computer, a slow frame) is no freeze: the chart
    # and the summary say "never skipped a beat", and the strip must agree.
    drifted = [0.0, 0.3, 0.6, 0.93, 1.2, 1.48, 1.78, 2.06, 2.35, 2.64, 2.93]
    pulse = Pulse("", Timeline(), drifted, speed=1)
    assert pulse.longest_freeze == 0 and "never skipped a beat" in pulse.summary()
    html = heart_html(drifted, speed=1)
    assert html.count("♥") == len(drifted) and "─" not in html
    # A fast clock turns a real-world hiccup into a long city gap; the strip agrees
    # with the chart there too.
    hiccup = [0.0, 0.25, 0.5, 1.5, 1.75]
    assert Pulse("", Timeline(), hiccup, speed=20).longest_freeze == 0
    assert "─" not in heart_html(hiccup, speed=20)
    assert heart_html(hiccup, speed=1).count("─") == 3


@pytest.mark.usefixtures("beat_clock")
def test_heart_keeps_to_its_beat_when_each_beat_runs_late() -> None:
    # Every beat costs a fifth of a beat (drawing the live heart, say). A heart that
    # waited a whole beat after each one would drift a fifth of a beat per beat and
    # leave empty slots; on fixed deadlines every beat lands on its own slot.
    cost = clock.to_real(BEAT / 5)

    def slow_frame(_: list[float]) -> None:
        time.sleep(cost)

    async def nap() -> None:
        await clock.sleep(1)

    async def body() -> None:
        pulse = await with_heartbeat(nap(), lead=1.0, on_beat=slow_frame)
        slots = [round(b / BEAT) for b in pulse.beats]
        assert slots == list(range(len(slots)))  # one beat per slot, none skipped
        assert all(abs(b - k * BEAT) < BEAT / 2 for k, b in enumerate(pulse.beats))
        assert len(pulse.beats) >= 12  # about 3 city seconds of beats
        assert pulse.longest_freeze == 0 and "─" not in heart_html(pulse.beats)

    run(body)


@pytest.mark.usefixtures("beat_clock")
def test_heart_skips_the_beats_a_freeze_missed_instead_of_racing_to_catch_up() -> None:
    async def rude() -> None:
        time.sleep(clock.to_real(2))  # noqa: ASYNC251 - blocking on purpose: the test's subject

    async def body() -> None:
        pulse = await with_heartbeat(rude(), lead=1.0)
        after = [b for b in pulse.beats if b > 2.5]
        assert after, "the heart beat again after the freeze"
        # No burst of make-up beats: the beats after the freeze are a beat apart.
        assert all(b - a > BEAT / 2 for a, b in itertools.pairwise(after))
        assert pulse.longest_freeze >= 1.7
        strip = heart_html(pulse.beats)
        assert strip.count("♥") == len(pulse.beats) and strip.count("─") >= 6

    run(body)


def test_pulse_chart_tells_awaiting_from_blocking() -> None:
    from citylib._views.heartbeat import AWAITING, BLOCKING, blocked_parts

    beats = [0.0, 0.25, 0.5, 0.75, 1.0, 4.0, 4.25]
    polite = Trip("polite", "task", "event loop", 0.0, 0.1, 0.9)
    rude = Trip("rude", "task", "event loop", 1.0, 1.0, 2.0)
    gaps = Pulse("", Timeline(), beats, speed=1).gaps
    assert blocked_parts(polite, gaps) == []
    assert blocked_parts(rude, gaps) == [(1.0, 1.0)]
    legend = [
        t.get_text()
        for t in pulse_chart(Pulse("", Timeline(trips=[rude]), beats, speed=1)).legends[0].texts
    ]
    assert BLOCKING[0] in legend and AWAITING[0] not in legend
    calm = pulse_chart(Pulse("", Timeline(trips=[polite]), beats[:5], speed=1))
    legend = [t.get_text() for t in calm.legends[0].texts]
    assert AWAITING[0] in legend and BLOCKING[0] not in legend


# -- the Concurrency Race (03) ---------------------------------------------------------


def test_race_widget_races_three_systems_and_states_the_speed_up() -> None:
    async def body() -> None:
        w = RaceWidget()
        start = bytes(w.picture.value)
        w.play()
        await until(w, "Racing")
        w.play()  # mid-race: starts over
        await w.wait()
        assert [r.mode for r in w.results] == ["sync", "threads", "async"]
        jam, pool, highway = (r.makespan for r in w.results)
        assert jam >= 17.95 and pool >= 8.95 and highway >= 7.95
        assert highway < pool < jam
        assert "× faster than one lane" in w.status_text
        assert bytes(w.picture.value) != start

    run(body)


@pytest.mark.parametrize(("lanes", "words"), [(0, "at least 1"), (9, "up to 6"), ("2", "whole")])
def test_race_widget_refuses_silly_lanes(lanes: Any, words: str) -> None:
    w = RaceWidget(lanes=lanes)
    assert words in w.status_text and w.go.disabled


# -- the chatbot with 1,000 users (03) -------------------------------------------------


@pytest.mark.usefixtures("steady_clock")
def test_chatbot_toggle_one_lane_freezes_async_flows() -> None:
    async def body() -> None:
        w = ChatbotToggle()
        empty = bytes(w.picture.value)
        w.toggle.value = "sync"
        await until(w, "frozen behind it")
        assert not gc.isenabled()  # held off during the rush (see chatbot._collector_held)
        w.toggle.value = "async"  # calls the one-lane server off
        await w.wait()
        assert "999 of 1,000 users answered after" in w.status_text
        assert bytes(w.picture.value) != empty
        w.toggle.value = "sync"
        await w.wait()
        assert "froze everybody behind it" in w.status_text
        assert "about 50 minutes" in w.status_text
        assert set(w.rushes) == {"sync", "async"}

    run(body)


def test_serve_chat_counts_users_answered() -> None:
    async def body() -> None:
        one_lane, highway = await asyncio.gather(
            serve_chat("sync", users=40, slow_reply=4, horizon=8.5),
            serve_chat("async", users=40, slow_reply=4, horizon=8.5),
        )
        assert 1 <= len(one_lane.answered_at) <= 2  # the slow reply (4 s), then one more (7 s)
        assert one_lane.answered_at[0] >= 3.95
        assert highway.done and 2.95 <= highway.answered_at[-2] < 4.5
        assert "waits about 2 minutes" in one_lane.summary()  # 4 s + 39 × 3 s
        fig = rush_chart([one_lane, highway])
        (ax,) = fig.axes
        # The one lane's few answers get an inset of their own: on the 40-user axis its
        # line looked flat at 0.
        (inset,) = ax.child_axes
        assert inset.get_ylim()[1] == len(one_lane.answered_at) + 1
        assert "zoomed in" in inset.get_title(loc="left") and "still in line" in inset.get_title(
            loc="left"
        )

    run(body)


@pytest.mark.parametrize(
    ("users", "slow", "words"),
    [(0, 12, "users is a whole"), (10**6, 12, "users is a whole"), (10, -1, "between 0 and 60")],
)
def test_chatbot_refuses_silly_values(users: Any, slow: Any, words: str) -> None:
    w = ChatbotToggle(users=users, slow_reply=slow)
    assert words in w.status_text and w.toggle.disabled
    w.play("sync")
    assert not w.running


def test_widget_text_for_readers_without_a_kernel_is_short_and_stable() -> None:
    for widget in (HighwayToggle(), AwaitToggle(), RaceWidget(), ChatbotToggle(users=10)):
        text = repr(widget)
        assert len(text) <= 110 and text.startswith(type(widget).__name__ + ": ")


def test_the_live_rush_board_zooms_in_on_the_one_lane() -> None:
    from citylib._views.chatbot import RushBoard

    board = RushBoard(1000, 16.0)
    (zoom,) = board.ax.child_axes
    assert zoom.get_ylim()[1] < 10  # its own axis: a handful of users, not 1,000
    png = board.frame({"sync": ([12.0, 15.0], 16.0)}, 16.0)
    assert png.startswith(b"\x89PNG")
    _, ys = board.zoom_line.get_data()
    assert max(ys) == 2 and (board.zoom, board.zoom_line) in board._moving
