"""citylib.practice: every stub is not_attempted, every solution passes, wrong answers fail
with a cause, hints never give a solution line away, bad answers never crash.

Solutions live only in the registry (``solution_code``); these tests run each one
through its own check, so the registry is the one source for ``ex.solution()``.
Real clock at a moderate speed: several judges measure blocking (``time.sleep``,
threads), which virtual time cannot see.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import linecache
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from citylib import clock, practice
from citylib.testing import run_virtual

ROOT = Path(__file__).resolve().parents[1]

# What every exercise cell has in scope in its notebook before the stub runs.
PRELUDE = """
import asyncio
import time
from fastapi import FastAPI
import citylib
from citylib import call, call_blocking, clock, crashes, practice, services, streaming
SECOND = clock.to_real(1)
FALLBACK = practice.FALLBACK
"""


def _bind(exercise: Any, source: str) -> Any:
    """Run the learner's cell as Jupyter does: its lines readable (linecache), so that a
    message can show the learner's own line."""
    source = source.lstrip("\n")  # the cell as the learner typed it, line 1 first
    name = f"<cell {exercise.id} {abs(hash(source))}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    namespace: dict[str, Any] = {}
    exec(PRELUDE, namespace)  # the cells above the exercise
    exec(compile(source, name, "exec"), namespace)
    return namespace[exercise.answer_name]


SPEED = 10  # one clock for binding an answer (its SECOND) and for judging it
# The thread pool's judge races real threads against the highway with 0.6 city seconds
# to spare: 60 ms at speed 10, which a worker thread waiting for a busy core can use up
# (seen with four test workers on two cores). The careful clock's speed gives it 150 ms.
SPEEDS = {"03_pool_size": 4.0}


def _check(exercise_id: str, answer: Any, *, virtual: bool = False) -> Any:
    async def main() -> Any:
        with clock.scaled(SPEEDS.get(exercise_id, SPEED)):
            return await practice.exercise(exercise_id).check(answer)

    return run_virtual(main()) if virtual else asyncio.run(main())


def _check_source(exercise_id: str, source: str, *, virtual: bool = False) -> Any:
    with clock.scaled(SPEEDS.get(exercise_id, SPEED)):
        answer = _bind(practice.EXERCISES[exercise_id], source)
    return _check(exercise_id, answer, virtual=virtual)


IDS = sorted(practice.EXERCISES)


def test_every_notebook_has_an_exercise() -> None:
    notebooks = {ex.notebook for ex in practice.EXERCISES.values()}
    want = {"01_traffic_jam", "02_await", "03_concurrency_race", "04_async_fastapi"}
    assert want | {"06_when_lanes_crash", "07_streaming_city"} <= notebooks


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_contract_fields(exercise_id: str) -> None:
    ex = practice.EXERCISES[exercise_id]
    assert ex.id == exercise_id
    assert (ROOT / "notebooks" / f"{ex.notebook}.ipynb").exists()
    assert isinstance(ex.hints, list) and len(ex.hints) >= 2
    assert ex.title and ex.answer_name.isidentifier()
    compile(ex.stub, "stub", "exec")
    compile(ex.solution_code, "solution", "exec")


@pytest.mark.parametrize("exercise_id", IDS)
def test_no_hint_contains_a_solution_line(exercise_id: str) -> None:
    ex = practice.EXERCISES[exercise_id]
    lines = [line.strip() for line in ex.solution_code.splitlines()]
    for hint in ex.hints:
        for line in lines:
            if len(line) > 8:
                assert line not in hint, f"hint gives away {line!r}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("exercise_id", IDS)
def test_the_stub_is_not_attempted(exercise_id: str) -> None:
    ex = practice.EXERCISES[exercise_id]
    verdict = _check_source(exercise_id, ex.stub)
    assert verdict.status == "not_attempted" and not verdict.passed
    assert "Not attempted" in str(verdict)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_passes(exercise_id: str) -> None:
    ex = practice.EXERCISES[exercise_id]
    verdict = _check_source(exercise_id, ex.solution_code)
    out = str(verdict)
    assert verdict.passed, out
    assert verdict.status == "passed" and "❌" not in out and out.count("✅") == len(verdict.checks)


def test_not_implemented_is_not_attempted() -> None:
    async def commute() -> None:
        raise NotImplementedError

    assert _check("01_highway", commute).status == "not_attempted"


# A wrong answer a learner writes first, and a word the failing check's cause must name.
WRONG = {
    "01_highway": (
        """
async def commute():
    return [await call("chat"), await call("maps"), await call("weather")]
""",
        "one after another",
    ),
    "02_polite_courier": (
        """
def wrap(parcel):
    time.sleep(SECOND)
    return f"📦 {parcel}"

async def polite_courier(parcel):
    await asyncio.sleep(SECOND)
    return wrap(parcel)
""",
        "held the event loop",
    ),
    # One hopper straight through: as if sleep(0) kept the loop.
    "02_sleep_zero_order": (
        'predicted_order = ["🚕 1", "🚕 2", "🚌 1", "🚌 2", "🚚 1", "🚚 2"]',
        "hands the loop back",
    ),
    "03_pool_size": ("pool_size = 3", "waits in line"),
    "04_morning_route": (
        """
morning_app = FastAPI()

@morning_app.get("/morning")
async def morning():
    weather = await services.fetch_weather()
    chat = await services.get_ai_reply()
    return {"weather": weather, "chat": chat}
""",
        "one after another",
    ),
    "06_toll_booth": (
        """
async def drive_all(names):
    return await asyncio.gather(*(citylib.call(n) for n in names))
""",
        "nothing made the fourth car wait",
    ),
    "06_timeout_fallback": (
        """
async def chat_or_sorry():
    try:
        async with asyncio.timeout(2):
            return await citylib.call("chat")
    except TimeoutError:
        return None
""",
        "return FALLBACK",
    ),
    "07_shout": (
        """
async def shout(prompt):
    tokens = [t async for t in streaming.stream_reply(prompt)]
    for t in tokens:
        yield t.upper()
""",
        "one-shot reply in disguise",
    ),
}


# Exercises whose judge and wrong answer above are pure asyncio (no thread, no blocking
# call, no real server): the wrong answer is judged on virtual time, where what the judge
# measures is exact and the city's seconds (20 of them for the hung chat) take no real
# time. Solutions are judged on the real clock, where the judge's slack must hold.
PURE_ASYNCIO_WRONG = {"01_highway", "06_toll_booth", "06_timeout_fallback", "07_shout"}


def test_every_exercise_has_a_wrong_answer_here() -> None:
    assert set(WRONG) == set(IDS)
    assert set(IDS) >= PURE_ASYNCIO_WRONG


@pytest.mark.timeout(120)
@pytest.mark.parametrize("exercise_id", IDS)
def test_a_wrong_answer_fails_with_its_cause(exercise_id: str) -> None:
    source, cause = WRONG[exercise_id]
    verdict = _check_source(exercise_id, source, virtual=exercise_id in PURE_ASYNCIO_WRONG)
    out = str(verdict)
    assert verdict.status == "failed", out
    assert cause in verdict.cause, verdict.cause
    assert "❌" in out and cause.lower() in out.lower()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("exercise_id", "answer", "words"),
    [
        ("03_pool_size", 0, "at least 1 thread"),
        ("03_pool_size", 10**9, "at most 64"),
        ("03_pool_size", "six", "not a number"),
        ("03_pool_size", True, "whole number"),
        ("01_highway", 42, "should be a function"),
        ("04_morning_route", object(), "FastAPI app"),
        ("07_shout", lambda prompt: ["HELLO"], "not a stream"),
        ("02_sleep_zero_order", "🚕 1 🚌 1", "should be a list"),
        ("02_sleep_zero_order", ["🚕 1", 2], "should be a string"),
        ("02_sleep_zero_order", ["🚕 1", "🚌 1"], "each once"),
    ],
)
def test_silly_answers_get_a_clear_message(exercise_id: str, answer: Any, words: str) -> None:
    verdict = _check(exercise_id, answer)
    assert verdict.status == "failed" and words in verdict.cause


@pytest.mark.timeout(60)
def test_an_answer_that_raises_or_exits_is_a_verdict_not_a_crash() -> None:
    async def boom() -> None:
        raise ZeroDivisionError("oops")

    async def leave() -> None:
        raise SystemExit(3)

    assert "ZeroDivisionError: oops" in _check("01_highway", boom).message
    assert _check("01_highway", leave).status == "error"


@pytest.mark.timeout(60)
def test_an_answer_that_hangs_is_called_off() -> None:
    async def forever(prompt: str) -> None:
        await asyncio.Event().wait()

    verdict = _check("07_shout", forever)  # not an async generator: refused before running
    assert verdict.status == "failed"

    async def hang() -> None:
        await asyncio.Event().wait()

    exercise = practice.EXERCISES["01_highway"]
    short = type(exercise)(**{**exercise.__dict__, "limit": 1.0})

    async def main() -> Any:
        with clock.scaled(SPEED):
            from citylib._lessons.practice import judge

            return await judge(short, hang)

    # Only asyncio waits here (the hang, the heartbeat, the judge's timeout): on virtual
    # time the limit and the real seconds of grace the judge adds pass at once.
    verdict = run_virtual(main())
    assert verdict.status == "error"
    assert "still running after 1 city seconds" in verdict.message


def test_hints_go_level_by_level(capsys: pytest.CaptureFixture[str]) -> None:
    from citylib._lessons.practice import Practice

    ex = Practice(practice.EXERCISES["01_highway"])
    ex.hint()
    first = capsys.readouterr().out
    ex.hint()
    second = capsys.readouterr().out
    ex.hint()
    third = capsys.readouterr().out
    assert "Hint 1 of 2" in first and "cause" in first.lower()
    assert "Hint 2 of 2" in second and "shape of the fix" in second
    assert "Hint 2 of 2" in third
    ex.solution()
    assert practice.EXERCISES["01_highway"].solution_code in capsys.readouterr().out


def test_an_unknown_exercise_names_the_real_ones() -> None:
    with pytest.raises(ValueError, match="01_highway"):
        practice.exercise("01_higway")


@pytest.mark.parametrize(
    ("guess", "words"),
    [(..., "No guess yet"), ("ten", "should be a number"), (float("nan"), "should be a number"),
     (18, "Spot on"), (12, "Too short"), (30, "Too long")],
)  # fmt: skip
def test_guesses_are_scored(guess: Any, words: str) -> None:
    from citylib._lessons.practice import score_guess

    scored = score_guess(practice.PREDICTIONS["01_jam_makespan"], guess, 18.05)
    assert words in scored.message and "18.1 s" in scored.message


def test_a_guess_is_drawn_as_a_ghost(capsys: pytest.CaptureFixture[str]) -> None:
    from citylib._lessons.practice import score_guess
    from citylib._views.practice_views import ghost_chart

    race = run_virtual(citylib_race())  # the highway: 8 s
    practice.reveal("01_jam_makespan", 12, race)
    assert "Too long: you guessed 12 s, the run measured 8.0 s" in capsys.readouterr().out
    practice.reveal("01_jam_makespan", ..., race)
    assert "No guess yet" in capsys.readouterr().out
    fig = ghost_chart(race, score_guess(practice.PREDICTIONS["01_jam_makespan"], 12, 8.0))
    ax = fig.axes[0]
    assert "your guess 12 s" in ax.get_title(loc="left") and ax.get_xlim()[1] >= 12


async def citylib_race() -> Any:
    from citylib import run_race

    return await run_race("async")


def _exercise_cells(notebook: Path) -> list[tuple[list[str], str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [
        (c["metadata"].get("tags", []), "".join(c["source"]))
        for c in cells
        if "exercise" in c["metadata"].get("tags", [])
    ]


@pytest.mark.parametrize("exercise_id", IDS)
def test_each_exercise_has_its_tagged_cell(exercise_id: str) -> None:
    """The learner's cell is tagged ``exercise`` and ``exercise:<id>`` and holds the stub."""
    ex = practice.EXERCISES[exercise_id]
    cells = _exercise_cells(ROOT / "notebooks" / f"{ex.notebook}.ipynb")
    mine = [src for tags, src in cells if f"exercise:{exercise_id}" in tags]
    assert len(mine) == 1, f"{ex.notebook} has no exercise cell for {exercise_id}"
    assert ex.stub.strip() in mine[0]
    assert f'practice.exercise("{exercise_id}")' in mine[0] or exercise_id in mine[0]


SOLVED = sorted({ex.notebook for ex in practice.EXERCISES.values()})


@pytest.mark.parametrize("name", SOLVED)
def test_each_solution_notebook_is_made_from_the_learner_notebook(name: str) -> None:
    """One source: the learner's notebook with each stub replaced by the registry's solution."""
    from solution_notebooks import cell_sources, make_solution

    learner = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    solved = json.loads(
        (ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8")
    )
    assert cell_sources(solved) == cell_sources(make_solution(learner))


@pytest.mark.parametrize("name", SOLVED)
def test_each_solution_notebook_passed_every_check_when_it_ran(name: str) -> None:
    """The committed outputs: every exercise's check cell in the solution notebook passed."""
    solved = json.loads(
        (ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8")
    )
    shown = [
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in solved["cells"]
        if c["cell_type"] == "code" and "await ex.check(" in "".join(c["source"])
        for o in c["outputs"]
    ]
    titles = [ex.title for ex in practice.EXERCISES.values() if ex.notebook == name]
    passed = [t for t in titles if any(f"🎉 Passed: {t}." in out for out in shown)]
    assert passed == titles and not any("❌" in out for out in shown)


# -- the red team: every exercise done wrong the ways a beginner would ------------------------

from practice_red_team import WRONGS, Wrong  # noqa: E402


class _Logged(logging.Handler):
    """What asyncio logs (such as "exception was never retrieved"): the learner sees it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def check_wrong(wrong: Wrong) -> tuple[Any, str]:
    """Check a wrong answer as a learner would, and ask for the first hint.

    Returns the verdict and the first hint's text. Python's warnings are recorded:
    none about a coroutine never awaited may reach the learner.
    """
    from citylib._lessons.practice import Practice

    handle = Practice(practice.EXERCISES[wrong.exercise])
    speed = SPEEDS.get(wrong.exercise, SPEED)
    with clock.scaled(speed):
        answer = _bind(practice.EXERCISES[wrong.exercise], wrong.source)

    async def main() -> Any:
        with clock.scaled(speed):
            return await handle.check(answer)

    logged = _Logged()
    logging.getLogger("asyncio").addHandler(logged)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            verdict = run_virtual(main()) if wrong.virtual else asyncio.run(main())
            gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(logged)
    raw = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not raw, f"a raw warning reached the learner: {raw}"
    assert not logged.records, f"asyncio logged to the learner: {logged.records}"
    out = io.StringIO()
    with redirect_stdout(out):
        handle.hint()
    return verdict, out.getvalue()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("wrong", WRONGS, ids=[f"{w.exercise}: {w.how}" for w in WRONGS])
def test_each_beginner_mistake_is_named_once_and_hinted(wrong: Wrong) -> None:
    verdict, hint = check_wrong(wrong)
    shown = str(verdict)
    assert verdict.status == "failed", shown
    assert verdict.slip is not None and verdict.slip.id == wrong.slip, shown
    assert wrong.words.lower() in shown.lower(), shown
    assert shown.count("💡 Try:") == 1, shown  # one mistake, one message
    assert "Verdict(" not in shown and "Traceback" not in shown
    for label in wrong.no_tick:
        assert f"✅ {label}" not in shown, f"a ✅ for what did not happen: {label}\n{shown}"
    assert "Hint 1 of" in hint and wrong.hint in hint, hint
    for words in wrong.not_in_hint:
        assert words not in hint, hint
    for line in practice.EXERCISES[wrong.exercise].solution_code.splitlines():
        if len(line.strip()) > 8:  # the message and hint give the shape, never a line
            words = (verdict.slip.cause, verdict.slip.fix, hint)  # "Where:" is their own line
            assert all(line.strip() not in w for w in words), line


def test_the_red_team_covers_every_exercise_three_ways() -> None:
    for exercise_id in IDS:
        ways = [w for w in WRONGS if w.exercise == exercise_id]
        assert len(ways) >= 3, exercise_id
    named = {w.slip for w in WRONGS}
    brief = {"not_awaited", "blocked", "one_after_another", "uncalled", "extra_parentheses"}
    brief |= {"plain_for", "deadline_not_caught", "booth_outside"}
    assert brief <= named


def test_a_verdict_shows_as_its_report_not_a_repr() -> None:
    source = WRONGS[0].source
    verdict = _check_source("01_highway", source, virtual=True)
    text: list[str] = []

    class Printer:
        def text(self, value: str) -> None:
            text.append(value)

    verdict._repr_pretty_(Printer(), False)
    assert text == [str(verdict)] == [repr(verdict)]
    assert "Verdict(" not in text[0] and "never awaited" in text[0]


def test_hints_answer_the_last_mistake_then_fall_back() -> None:
    from citylib._lessons.practice import Practice

    handle = Practice(practice.EXERCISES["01_highway"])
    wrong = next(w for w in WRONGS if w.exercise == "01_highway" and w.slip == "uncalled")
    with clock.scaled(SPEED):
        answer = _bind(handle.exercise, wrong.source)

    async def main(answer: Any) -> Any:
        with clock.scaled(SPEED):
            return await handle.check(answer)

    run_virtual(main(answer))
    assert "recipe" in handle.hints()[0] and "shape of the fix" in handle.hints()[1]
    with clock.scaled(SPEED):
        wrong_order = _bind(
            handle.exercise,
            "async def commute():\n    return await asyncio.gather(call('weather'), "
            "call('maps'), call('chat'))\n",
        )
    verdict = run_virtual(main(wrong_order))
    assert verdict.slip is None and not verdict.passed  # no slip known: the fixed hints
    assert handle.hints() == handle.exercise.hints


def test_a_stray_call_never_awaited_fails_even_a_passing_answer() -> None:
    source = """
async def commute():
    call("maps")  # a stray call: it never drives
    return list(await asyncio.gather(call("chat"), call("maps"), call("weather")))
"""
    verdict = _check_source("01_highway", source, virtual=True)
    assert verdict.status == "failed" and verdict.slip is not None
    assert verdict.slip.id == "not_awaited" and 'call("maps")  # a stray' in verdict.slip.where


def test_a_check_without_await_says_so_and_warns_of_nothing() -> None:
    async def commute() -> list[Any]:
        return []

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pending = practice.exercise("01_highway").check(commute)
        shown = repr(pending)
        del pending
        gc.collect()
    assert "write await in front of it" in shown and "await ex.check(commute)" in shown
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_other_warnings_an_answer_raises_still_show() -> None:
    """Only "never awaited" is turned into a message: every other warning shows as usual."""

    async def commute() -> list[Any]:
        warnings.warn("the learner's own warning", RuntimeWarning, stacklevel=1)
        return list(await asyncio.gather(*(practice_call(n) for n in ("chat", "maps", "weather"))))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verdict = _check("01_highway", commute, virtual=True)
    assert verdict.passed, str(verdict)
    assert [str(w.message) for w in caught] == ["the learner's own warning"]


def practice_call(name: str) -> Any:
    from citylib import call

    return call(name)


# 06's lesson advises asyncio.timeout(2), which counts real seconds: its check runs the
# city at real time, so the advice passes as written at every CITYLIB_SPEED (before,
# at speed 10 it gave up after 20 city seconds and failed).
_AS_ADVISED = """
async def chat_or_sorry():
    try:
        async with asyncio.timeout(2):
            return await citylib.call("chat")
    except TimeoutError:
        return FALLBACK
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("speed", [10.0, 20.0])
def test_the_lesson_s_asyncio_timeout_passes_as_written(
    speed: float,
) -> None:
    answer = _bind(practice.EXERCISES["06_timeout_fallback"], _AS_ADVISED)

    async def main() -> Any:
        with clock.scaled(speed):
            return await practice.exercise("06_timeout_fallback").check(answer)

    verdict = run_virtual(main())
    assert verdict.passed, str(verdict)
    (deadline,) = [c for c in verdict.checks if "gives up" in c.label]
    assert "2.0 s" in deadline.measured
