"""citylib.stepper: asyncio's own loop, filmed one turn at a time on virtual time.

Every program here also runs under plain ``asyncio.run``: the film must print in the
same order and end the same way. Blocking steps hold the loop for real (0.15 s and
up), so their lines are named the way ``citylib.lanes`` names a stall.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import html
import io
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import citylib
from citylib import clock, lanes, stepper
from citylib._core import stepper as core_stepper
from citylib._views import step_magic
from citylib._views.glossary import TERMS
from citylib._views.stepper import frame_html, frame_text

HOLD = 0.15  # real seconds a rude step holds the loop: over the 0.1 s stall threshold

Main = Callable[[], Coroutine[Any, Any, Any]]


def printed_by_asyncio_run(main: Main) -> tuple[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            result: Any = asyncio.run(main())
        except BaseException as exc:
            result = exc
    return out.getvalue(), result


def filmed(main: Main, **options: Any) -> tuple[stepper.Film[Any], str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        film = stepper.run(main(), **options)
    return film, out.getvalue()


# -- programs ------------------------------------------------------------------------


async def three_sleep_zero() -> None:
    async def worker(name: str) -> None:
        for lap in range(3):
            print(name, lap)
            await asyncio.sleep(0)

    await asyncio.gather(worker("A"), worker("B"), worker("C"))


async def created_tasks() -> list[str]:
    async def courier(parcel: str, drive: float) -> str:
        print(parcel, "leaves")
        await asyncio.sleep(drive)
        print(parcel, "arrives")
        return parcel

    first = asyncio.create_task(courier("🍕", 2), name="pizza")
    second = asyncio.create_task(courier("💐", 1), name="flowers")
    print("main waits")
    third = await courier("📚", 1.5)
    return [await first, await second, third]


async def gathered_mixed() -> list[int]:
    async def job(n: int) -> int:
        await asyncio.sleep(n % 3 / 10)
        print("job", n, "slept")
        await asyncio.sleep(0)
        print("job", n, "done")
        return n * n

    return await asyncio.gather(*(job(n) for n in range(6)))


async def rude_and_polite() -> None:
    async def polite() -> None:
        await asyncio.sleep(0.1)
        print("polite wakes")

    async def rude() -> None:
        time.sleep(HOLD)  # noqa: ASYNC251 - holds the loop: the polite timer comes due
        print("rude done holding")
        await asyncio.sleep(0.05)
        print("rude wakes")

    await asyncio.gather(polite(), rude())


@pytest.mark.parametrize(
    "main", [three_sleep_zero, created_tasks, gathered_mixed, rude_and_polite]
)
def test_prints_in_asyncio_runs_order_and_returns_the_same(main: Main) -> None:
    expected, result = printed_by_asyncio_run(main)
    film, echoed = filmed(main)
    assert echoed == expected  # printing still reaches stdout, in the same order
    assert "".join(turn.printed for turn in film.turns) == expected
    assert film.result == result
    assert film.error is None
    assert [turn.number for turn in film.turns] == list(range(1, len(film.turns) + 1))


def test_three_sleep_zero_tasks_take_turns_in_ready_queue_order() -> None:
    film, _ = filmed(three_sleep_zero)
    laps = [turn for turn in film.turns if len(turn.ran) == 3]
    # Three laps that print and await, a fourth that ends: the same order every lap.
    assert len(laps) == 4
    worker = "three_sleep_zero.<locals>.worker"  # as lanes names a local function's task
    for turn in laps:
        assert turn.ready == [worker, worker, worker]
        assert [step.task for step in turn.ran] == [worker] * 3
    assert [s.outcome for s in laps[0].ran] == ["awaiting"] * 3
    assert [s.outcome for s in laps[-1].ran] == ["done"] * 3
    assert film.tasks == ["three_sleep_zero", worker, worker, worker]  # four tasks, not two
    words = f"{len(film.turns)} turns of the event loop, 4 tasks, the clock stayed at 0"
    assert film.summary().startswith(words)
    first_lap = laps[0]
    assert first_lap.printed == "A 0\nB 0\nC 0\n"
    assert laps[1].printed == "A 1\nB 1\nC 1\n"
    # sleep(0) sends a task straight back to the ready queue: nobody waits on a timer.
    assert all(not turn.timers for turn in film.turns)
    assert all(wait.task == "three_sleep_zero" for turn in laps for wait in turn.waiting)


def test_timers_run_on_virtual_time_and_the_clock_jumps() -> None:
    async def main() -> float:
        await asyncio.sleep(100)
        return asyncio.get_running_loop().time()

    began = time.perf_counter()
    film = stepper.run(main())
    assert time.perf_counter() - began < 5  # a hundred seconds of sleep, no real wait
    assert film.result == 100.0
    first, wake, back = film.turns
    name = main.__qualname__  # a task's name, as lanes names it: its coroutine's qualname
    assert first.clock == 0.0 and first.ready == [name]
    assert first.waiting[0].on == "sleep until 100.0 s"
    assert first.timers == [core_stepper.Timer(100.0, f"wake {name} (sleep)")]
    assert wake.clock == 100.0 and wake.ready == [f"⏰ wake {name}"] and wake.ran == []
    assert wake.waiting[0].on == "sleep until 100.0 s → woken, ready for the next turn"
    assert back.ready == [name] and back.ran[0].outcome == "done"


def test_created_tasks_are_named_as_lanes_names_them_and_wait_on_each_other() -> None:
    film, _ = filmed(created_tasks)
    assert film.turns[0].ready == ["created_tasks"]
    assert film.turns[1].ready == ["pizza", "flowers"]
    waits = {w.task: w.on for w in film.turns[1].waiting}
    assert waits == {"created_tasks": "sleep until 1.5 s", "pizza": "sleep until 2.0 s",
                     "flowers": "sleep until 1.0 s"}
    later = [w.on for t in film.turns for w in t.waiting if w.task == "created_tasks"]
    assert "task pizza" in later

    recording = lanes.run(created_tasks())
    lane_names = {lane.name for lane in recording.lanes}
    assert set(film.tasks) == lane_names


def test_await_lines_are_the_places_lanes_writes() -> None:
    film, _ = filmed(created_tasks)
    recording = lanes.run(created_tasks())
    filmed_places = {s.line for t in film.turns for s in t.ran if s.outcome == "awaiting"}
    lane_places = {span.where for lane in recording.lanes for span in lane.spans
                   if span.kind == "awaiting"}
    assert filmed_places == lane_places
    assert all(place.startswith("test_stepper.py:") for place in filmed_places)


def _held_step(film: stepper.Film[Any]) -> stepper.Step:
    held = [step for turn in film.turns for step in turn.ran if step.held >= film.threshold]
    assert len(held) == 1, held
    return held[0]


async def sleeps_rudely() -> None:
    await asyncio.sleep(0)
    time.sleep(HOLD)  # noqa: ASYNC251 - 🚧 the line the film and lanes must both name
    await asyncio.sleep(0)


async def computes() -> int:
    await asyncio.sleep(0)
    total = 0
    deadline = time.perf_counter() + 2 * HOLD  # the loop watcher samples a busy core
    while time.perf_counter() < deadline: total += 1  # noqa: E701 - one line to name
    await asyncio.sleep(0)
    return total


@pytest.mark.parametrize("main", [sleeps_rudely, computes], ids=["time.sleep", "cpu loop"])
def test_a_blocking_line_is_named_as_lanes_names_its_stall(main: Main) -> None:
    film, _ = filmed(main)
    step = _held_step(film)
    assert step.held >= HOLD * 0.9
    recording = lanes.run(main())
    assert len(recording.stalls) == 1
    assert step.held_at == recording.stalls[0].where
    assert step.line != step.held_at  # it stopped at the next await, below the rude line
    assert "held the loop" in film.summary() and step.held_at in film.summary()


def test_a_held_loop_moves_the_clock_so_timers_come_due_as_under_asyncio_run() -> None:
    film, _ = filmed(rude_and_polite)
    printed = "".join(turn.printed for turn in film.turns)
    assert printed.index("polite wakes") < printed.index("rude wakes")
    held_turn = next(t for t in film.turns if any(s.held >= film.threshold for s in t.ran))
    after = film.turns[held_turn.number]  # the next turn
    assert after.clock >= HOLD * 0.9


def test_a_taskgroup_failure_cancels_the_sibling_at_its_next_await() -> None:
    async def main() -> None:
        async def crash() -> None:
            await asyncio.sleep(1)
            raise ValueError("flat tyre")

        async def sibling() -> None:
            await asyncio.sleep(5)  # cancelled here
            print("never printed")

        async with asyncio.TaskGroup() as tg:
            tg.create_task(crash(), name="crash")
            tg.create_task(sibling(), name="sibling")

    _, raised = printed_by_asyncio_run(main)
    film, _ = filmed(main)
    assert isinstance(raised, ExceptionGroup) and isinstance(film.error, ExceptionGroup)
    assert repr(film.error.exceptions) == repr(raised.exceptions)
    steps = [(t.number, s) for t in film.turns for s in t.ran]
    crashed = next(n for n, s in steps if s.task == "crash" and s.outcome == "error")
    cancelled = [(n, s) for n, s in steps if s.task == "sibling" and s.outcome == "cancelled"]
    assert len(cancelled) == 1
    number, step = cancelled[0]
    assert number > crashed
    sleep_line = next(s.line for n, s in steps if s.task == "sibling" and s.outcome == "awaiting")
    assert step.line == sleep_line  # cancelled at the await it was suspended at
    assert film.turns[number - 1].clock == 1.0  # not at 5: the sibling never slept it out
    assert "never printed" not in "".join(t.printed for t in film.turns)


def test_a_timeout_fires_on_the_films_clock() -> None:
    async def main() -> None:
        async with asyncio.timeout(0.5):
            await asyncio.sleep(10)

    _, raised = printed_by_asyncio_run(main)
    film, _ = filmed(main)
    assert isinstance(raised, TimeoutError) and isinstance(film.error, TimeoutError)
    assert film.turns[-1].clock == 0.5
    assert any("timeout" in timer.what for timer in film.turns[0].timers)
    assert film.turns[-1].ran[-1].outcome == "error"


def test_a_full_queue_parks_its_producer_on_put() -> None:
    async def main() -> list[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        got = []

        async def producer() -> None:
            for n in range(3):
                await queue.put(n)
                print("put", n)

        async def consumer() -> None:
            for _ in range(3):
                await asyncio.sleep(1)
                got.append(await queue.get())

        await asyncio.gather(
            asyncio.create_task(producer(), name="producer"),
            asyncio.create_task(consumer(), name="consumer"),
        )
        return got

    expected, result = printed_by_asyncio_run(main)
    film, _ = filmed(main)
    assert film.result == result == [0, 1, 2]
    assert "".join(t.printed for t in film.turns) == expected
    parked = [w for t in film.turns for w in t.waiting if w.task == "producer"]
    assert parked and all(w.on.startswith("Queue.put") for w in parked)
    assert any(w.on == "Queue.put" for w in parked)  # parked, before a get makes room
    assert any(w.on == "sleep until 1.0 s" for t in film.turns for w in t.waiting
               if w.task == "consumer")


def test_from_inside_a_running_loop_the_loop_is_left_untouched() -> None:
    async def cell() -> tuple[stepper.Film[Any], bool, bool]:
        loop, me = asyncio.get_running_loop(), asyncio.current_task()
        ticks: list[float] = []
        loop.call_soon(ticks.append, 1.0)
        film = stepper.run(created_tasks())
        same = asyncio.get_running_loop() is loop and asyncio.current_task() is me
        await asyncio.sleep(0)  # the cell's loop still runs its own callbacks
        return film, same, ticks == [1.0]

    with contextlib.redirect_stdout(io.StringIO()):
        film, same, ticked = asyncio.run(cell())
    assert same and ticked
    assert film.result == ["🍕", "💐", "📚"]


def test_a_script_has_no_running_loop_after_the_film() -> None:
    stepper.run(asyncio.sleep(0))
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_exceptions_cancellation_and_context_variables_pass_untouched() -> None:
    colour: contextvars.ContextVar[str] = contextvars.ContextVar("colour", default="grey")

    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("parcel")

    film = stepper.run(fails())
    assert isinstance(film.error, KeyError) and film.result is None
    assert film.turns[-1].ran[-1].outcome == "error"

    async def cancels_itself() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    film = stepper.run(cancels_itself())
    assert isinstance(film.error, asyncio.CancelledError)
    assert film.turns[-1].ran[-1].outcome == "cancelled"

    async def sets_and_reads() -> tuple[str, str]:
        seen = colour.get()
        colour.set("orange")

        async def child() -> str:
            return colour.get()

        return seen, await asyncio.create_task(child())

    colour.set("blue")
    film = stepper.run(sets_and_reads())
    assert film.result == ("blue", "orange")
    assert colour.get() == "blue"  # the film ran in a copy, as asyncio.run does


def test_leftover_tasks_are_cancelled_as_asyncio_run_cancels_them() -> None:
    async def main() -> str:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                print("cleaned up")

        forgotten = asyncio.create_task(forever(), name="forgotten")
        await asyncio.sleep(0)
        assert not forgotten.done()
        return "done"

    expected, result = printed_by_asyncio_run(main)
    film, _ = filmed(main)
    assert film.result == result == "done"
    assert "".join(t.printed for t in film.turns) == expected == "cleaned up\n"
    last = [s for t in film.turns for s in t.ran if s.task == "forgotten"][-1]
    assert last.outcome == "cancelled"


def test_a_runaway_program_gets_a_clear_error() -> None:
    async def forever() -> None:
        while True:  # noqa: ASYNC110 - a runaway on purpose
            await asyncio.sleep(1)

    with pytest.raises(stepper.StepLimitError, match="still running after 500 turns") as info:
        stepper.run(forever(), max_turns=500)
    assert len(info.value.film.turns) >= 200


def test_waiting_for_nothing_gets_a_clear_error_soon() -> None:
    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()  # nobody will ever set it

    began = time.perf_counter()
    with pytest.raises(stepper.StepLimitError, match="never came"):
        stepper.run(stuck())
    assert time.perf_counter() - began < 10


def test_a_thread_is_waited_for_with_no_timer_set() -> None:
    async def main() -> int:
        return await asyncio.to_thread(lambda: 41 + 1)

    film = stepper.run(main())
    assert film.result == 42
    assert any(w.on == "a thread (to_thread)" for t in film.turns for w in t.waiting)


def test_a_timer_never_jumps_past_a_thread_at_work() -> None:
    async def main() -> str:
        await asyncio.wait_for(asyncio.to_thread(time.sleep, HOLD), timeout=5)
        return "the thread finished first"

    _, expected = printed_by_asyncio_run(main)
    film = stepper.run(main())
    assert film.result == expected == "the thread finished first"
    assert HOLD * 0.9 <= film.turns[-1].clock < 5  # the clock followed the thread's real time


def test_citylib_services_run_on_the_films_clock() -> None:
    async def main() -> tuple[float, float]:
        began = clock.now()
        await citylib.generate_image()  # 8 city seconds
        return began, clock.now()

    real = time.perf_counter()
    film = stepper.run(main())
    assert time.perf_counter() - real < 5
    assert film.result == (0.0, 8.0)  # one city second is one second of the film's clock
    assert any(w.on == "sleep until 8.0 s" for t in film.turns for w in t.waiting)
    assert clock.reading() is time.perf_counter  # put back


def test_bad_input_gets_a_clear_message() -> None:
    with pytest.raises(TypeError, match="parentheses"):
        stepper.run(three_sleep_zero)  # type: ignore[arg-type]


def test_async_generators_are_shut_down_as_asyncio_run_does() -> None:
    async def main() -> None:
        async def numbers() -> Any:
            try:
                yield 1
                yield 2
            finally:
                print("generator closed")

        async for n in numbers():
            print(n)
            break

    expected, _ = printed_by_asyncio_run(main)
    _, echoed = filmed(main)
    assert echoed == expected


# -- views ---------------------------------------------------------------------------


def test_the_filmstrip_is_a_png_with_its_text() -> None:
    film, _ = filmed(created_tasks)
    png = film._repr_png_()
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    text = film.text()
    assert text.count("Turn ") == len(film.turns)
    assert "ready:   pizza, flowers" in text
    assert "on sleep until 2.0 s" in text
    assert film.summary().startswith(f"{len(film.turns)} turns of the event loop")


def test_the_show_prints_text_with_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    film = stepper.run(sleeps_rudely())
    capsys.readouterr()
    film.show()
    out = capsys.readouterr().out
    assert "Turn 1 of" in out and "held the loop" in out and out.strip().endswith("🚧")


def test_the_player_moves_between_frames() -> None:
    film, _ = filmed(rude_and_polite)
    player = film.widget()
    (back, slider, forward), frame = player.children[0].children, player.children[1]
    assert back.disabled and slider.max == len(film.turns)
    # A short film's frames all go to the browser; the slider picks one there (jslink).
    assert [f.value for f in frame.children[1:]] == [
        frame_html(film, i) for i in range(len(film.turns))
    ]
    assert frame.selected_index == 1
    forward.click()
    assert slider.value == 2
    slider.value = slider.max
    assert forward.disabled
    back.click()
    assert slider.value == slider.max - 1
    held = next(t for t in film.turns if any(s.held >= film.threshold for s in t.ran))
    page = frame_html(film, held.number - 1)
    assert 'class="held"' in page and "time.sleep(HOLD)" in page
    assert "Ready" in page and "Running" in page and "Waiting" in page and "Timers" in page
    assert "Printed so far" in page
    assert "Turn" in frame_text(film, 0)
    for word in ("turn", "ready queue", "timer"):  # the glossary's words, on hover
        assert html.escape(TERMS[word]) in page


def test_a_long_films_player_renders_each_frame_when_asked() -> None:
    async def laps() -> None:
        for _ in range(400):
            await asyncio.sleep(0)

    film = stepper.run(laps())
    player = film.widget()
    (_, slider, _), frame = player.children[0].children, player.children[1]
    assert len(film.turns) > 300 and frame.value == frame_html(film, 0)
    slider.value = 250
    assert frame.value == frame_html(film, 249) and "Turn 250 of" in frame.value


def test_the_frame_escapes_what_the_program_printed() -> None:
    async def main() -> None:
        print("<script>alert(1)</script>")

    film = stepper.run(main())
    assert "<script>alert" not in frame_html(film, 0)


def test_the_step_magic_films_a_cell() -> None:
    lines = ["%%step strip\n", "await asyncio.sleep(1)\n", "print('hello')\n"]
    source = "".join(step_magic.rewrite(lines))
    assert source.splitlines()[2] == "    print('hello')"  # line numbers kept
    namespace: dict[str, Any] = {"asyncio": asyncio}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(source, "<cell>", "exec"), namespace)
    film = namespace["_citylib_step_film"]
    assert film.turns[-1].clock == 1.0
    assert film.turns[0].ready == ["this cell"]
    assert "Turn 1 of" in out.getvalue()
    assert step_magic.rewrite(["%%stepper\n"]) == ["%%stepper\n"]
    assert "raise ValueError" in step_magic.rewrite(["%%step fast\n", "pass\n"])[0]


# -- the private details of asyncio the stepper relies on ----------------------------


def test_private_asyncio_details_of_the_loop() -> None:
    loop = asyncio.SelectorEventLoop()
    try:
        assert callable(loop._run_once)  # type: ignore[attr-defined]
        assert type(loop._ready) is collections.deque  # type: ignore[attr-defined]
        assert loop._scheduled == []  # type: ignore[attr-defined]
        assert loop._thread_id is None  # type: ignore[attr-defined]
        assert callable(loop._asyncgen_firstiter_hook)  # type: ignore[attr-defined]
        assert callable(loop._asyncgen_finalizer_hook)  # type: ignore[attr-defined]
        timer = loop.call_later(1, print, "x")
        assert timer._callback is print and timer._args == ("x",)  # type: ignore[attr-defined]
        assert loop._scheduled == [timer]  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_private_asyncio_details_of_tasks() -> None:
    async def sleeper() -> None:
        await asyncio.sleep(1)

    loop = asyncio.SelectorEventLoop()
    try:
        task = loop.create_task(sleeper())
        (handle,) = loop._ready  # type: ignore[attr-defined]
        assert handle._callback.__self__ is task  # the step callback names its task
        assert task._fut_waiter is None  # type: ignore[attr-defined]
        asyncio.events._set_running_loop(loop)
        try:
            assert asyncio.events._get_running_loop() is loop
            loop._run_once()  # type: ignore[attr-defined]
        finally:
            asyncio.events._set_running_loop(None)
        assert isinstance(task._fut_waiter, asyncio.Future)  # type: ignore[attr-defined]
        task.cancel()
        (wakeup,) = loop._ready  # type: ignore[attr-defined]
        assert wakeup._callback.__self__ is task  # so does the wake-up callback
        asyncio.events._set_running_loop(loop)
        try:
            loop._run_once()  # type: ignore[attr-defined]
        finally:
            asyncio.events._set_running_loop(None)
        assert task.cancelled()
    finally:
        loop.close()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="_swap_current_task is 3.12+")
def test_private_asyncio_details_swap_current_task() -> None:
    swap = asyncio.tasks._swap_current_task  # type: ignore[attr-defined]

    async def outer() -> bool:
        loop, me = asyncio.get_running_loop(), asyncio.current_task()
        previous = swap(loop, None)
        nobody = asyncio.current_task() is None
        swap(loop, previous)
        return previous is me and nobody and asyncio.current_task() is me

    assert asyncio.run(outer())


def test_the_hold_sampler_thread_ends_with_the_film() -> None:
    before = {t.name for t in threading.enumerate()}
    stepper.run(asyncio.sleep(0))
    assert "citylib-stepper" not in {t.name for t in threading.enumerate()} - before
