"""The Parallel Fetch Sprint: its sources, its judge, the self-check and the stretch goal.

The judge runs in-process here (the grader's batch runs in tests/test_grading.py).
Every figure is in city seconds on the scaled clock, so no test reads wall time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from citylib import _cli as citylib_cli
from citylib import clock, sprint, timeline
from citylib._lessons import sprint as sprint_lesson
from citylib._lessons import sprint_contract
from citylib._lessons.judge import CHECKS, STRETCH_CHECKS, JudgeSettings, Verdict, judge
from citylib.grading import _notebook as notebook

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "notebooks" / "solutions" / "05_parallel_fetch_sprint.ipynb"
LEARNER = ROOT / "notebooks" / "05_parallel_fetch_sprint.ipynb"

Fetch = Callable[..., Coroutine[Any, Any, dict[str, Any]]]


async def gather_fetch(sources: Any = None) -> dict[str, Any]:
    sources = sprint.default_sources() if sources is None else sources
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[n]() for n in names))
    merged = dict(zip(names, answers, strict=True))
    merged["total_latency"] = clock.now() - start
    return merged


async def one_lane_fetch(sources: Any = None) -> dict[str, Any]:
    sources = sprint.default_sources() if sources is None else sources
    start = clock.now()
    merged = {}
    for name, source in sources.items():
        merged[name] = await source()
    merged["total_latency"] = clock.now() - start
    return merged


async def blocking_fetch(sources: Any) -> dict[str, Any]:
    start = clock.now()
    merged = await gather_fetch(sources)
    time.sleep(0.3)  # noqa: ASYNC251 - the mistake under test
    merged["total_latency"] = clock.now() - start
    return merged


async def hard_coded_fetch(sources: Any) -> dict[str, Any]:
    merged = await gather_fetch(sources)
    merged["total_latency"] = 3.0
    return merged


async def real_seconds_fetch(sources: Any) -> dict[str, Any]:
    start = time.perf_counter()
    merged = await gather_fetch(sources)
    merged["total_latency"] = time.perf_counter() - start
    return merged


async def missing_fetch(sources: Any) -> dict[str, Any]:
    start = clock.now()
    weather, chat = await asyncio.gather(sources["weather"](), sources["chat"]())
    return {"weather": weather, "chat": chat, "total_latency": clock.now() - start}


async def twice_fetch(sources: Any) -> dict[str, Any]:
    start = clock.now()
    merged = await gather_fetch(sources)
    merged["weather"] = await sources["weather"]()
    merged["total_latency"] = clock.now() - start
    return merged


async def edited_fetch(sources: Any) -> dict[str, Any]:
    merged = await gather_fetch(sources)
    merged["chat"]["extra"] = "edited"
    return merged


async def never_awaited_fetch(sources: Any) -> dict[str, Any]:
    start = clock.now()
    pending = sources["maps"]()  # called, forgotten
    assert pending is not None
    weather, chat = await asyncio.gather(sources["weather"](), sources["chat"]())
    return {"weather": weather, "chat": chat, "total_latency": clock.now() - start}


async def untouched_fetch(sources: Any = None) -> dict[str, Any]:
    raise NotImplementedError()


async def crashing_fetch(sources: Any) -> dict[str, Any]:
    raise KeyError("maps")


async def hanging_fetch(sources: Any) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


@pytest.fixture(autouse=True)
def fast_city() -> Iterator[None]:
    """Twice the suite's speed: the judge's latencies still dwarf scheduling noise."""
    with clock.scaled(clock.speed() * 2):
        yield


def run_judge(fn: Any, *, stretch: bool = False, **settings: Any) -> Verdict:
    return asyncio.run(judge(fn, JudgeSettings(**settings), stretch=stretch))


def failed(verdict: Verdict) -> set[str]:
    return {c.id for c in verdict.checks if not c.passed}


# The sources


def test_default_sources_are_three_slow_services_with_fresh_payloads() -> None:
    sources = sprint.default_sources()
    assert list(sources) == list(sprint_contract.SOURCE_NAMES)
    assert [s.service.latency for s in sources.values()] == [1.0, 2.0, 3.0]

    async def twice() -> tuple[dict[str, Any], dict[str, Any]]:
        return await sources["weather"](), await sources["weather"]()

    first, second = asyncio.run(twice())
    assert first == second and first is not second
    assert first["city"] == "Citypopy"
    assert sprint.default_sources() is not sources


def test_describe_sources_names_each_and_both_totals() -> None:
    text = sprint.describe_sources()
    assert "sources['chat']" in text and "3 s" in text
    assert "One lane, one after another: 6 s" in text
    assert "Async Highway, all at once: 3 s" in text


# The judge


def test_a_gather_answer_passes_every_check() -> None:
    verdict = run_judge(gather_fetch)
    assert verdict.status == "ok" and verdict.passed
    assert [c.id for c in verdict.checks] == [c.id for c in CHECKS]
    assert verdict.score == len(CHECKS) and verdict.drives == 2


def test_real_seconds_are_accepted_for_total_latency() -> None:
    assert run_judge(real_seconds_fetch).passed


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (one_lane_fetch, {"overlap"}),
        (blocking_fetch, {"non_blocking"}),
        (hard_coded_fetch, {"total_latency"}),
        (missing_fetch, {"calls_once", "payloads"}),
        (twice_fetch, {"calls_once"}),
        (edited_fetch, {"payloads"}),
        (never_awaited_fetch, {"calls_once", "payloads"}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_each_mistake_fails_its_own_check(fn: Fetch, expected: set[str]) -> None:
    verdict = run_judge(fn)
    assert verdict.status == "ok"
    assert failed(verdict) == expected
    for c in verdict.checks:
        assert bool(c.detail) == bool(c.hint) == (not c.passed)


def test_a_forgotten_await_is_named() -> None:
    verdict = run_judge(never_awaited_fetch)
    calls = next(c for c in verdict.checks if c.id == "calls_once")
    assert "maps was called but never awaited" in calls.detail


def test_untouched_is_not_attempted() -> None:
    verdict = run_judge(untouched_fetch)
    assert verdict.status == "not_attempted" and verdict.checks == []


def test_an_answer_that_always_raises_is_an_error_with_its_message() -> None:
    verdict = run_judge(crashing_fetch)
    assert verdict.status == "error"
    assert verdict.error == "KeyError: 'maps'"
    assert "returns_dict" in failed(verdict)


def test_a_hang_times_out_after_one_drive() -> None:
    with clock.scaled(200):  # the judge's limit is in city seconds: keep it short
        verdict = run_judge(hanging_fetch)
    assert verdict.status == "timeout" and verdict.drives == 1


def test_the_stretch_judge_wants_one_lane() -> None:
    assert run_judge(one_lane_fetch, stretch=True).passed
    verdict = run_judge(gather_fetch, stretch=True)
    assert [c.id for c in verdict.checks] == [c.id for c in STRETCH_CHECKS]
    assert failed(verdict) == {"one_lane"}


def test_the_same_seed_drives_the_same_latencies() -> None:
    seen: list[dict[str, float]] = []

    async def spy(sources: Any) -> dict[str, Any]:
        seen.append({n: s.latency for n, s in sources.items()})
        return await gather_fetch(sources)

    run_judge(spy, seed=7)
    run_judge(spy, seed=7)
    run_judge(spy, seed=8)
    assert seen[0:2] == seen[2:4] != seen[4:6]
    assert max(seen[1].values()) >= 1.5 * max(seen[0].values())  # no constant fits both


def test_a_verdict_survives_json() -> None:
    verdict = run_judge(hard_coded_fetch)
    again = Verdict.from_dict(json.loads(json.dumps(verdict.to_dict())))
    assert again == verdict


# The self-check and the stretch goal


def test_check_celebrates_a_right_answer(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.check(gather_fetch, draw=False))  # the lanes' summary has a ✅ too
    out = capsys.readouterr().out
    assert out.count("✅") == len(CHECKS) and "❌" not in out
    assert "🎉 Deliverable complete" in out


def test_check_explains_a_failure_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.check(one_lane_fetch))
    out = capsys.readouterr().out
    assert "❌ parallel_fetch runs the calls at the same time" in out
    assert "What happened: the calls took turns" in out
    assert "💡 Try: Start every call before awaiting any of them" in out
    assert f"Deliverable: {len(CHECKS) - 1}/{len(CHECKS)} checks passed" in out


def test_check_says_not_attempted_yet(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.check(untouched_fetch))
    out = capsys.readouterr().out
    assert "⏳ Not attempted yet" in out and "NotImplementedError" in out


def test_an_unwritten_answer_gets_a_hint_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def drive(fn: Fetch) -> dict[str, Any] | None:
        result = None
        with sprint.hint_if_unwritten(fn):
            result = await fn()
        return result

    assert asyncio.run(drive(untouched_fetch)) is None
    out = capsys.readouterr().out
    assert "⏳ Not attempted yet: untouched_fetch still raises NotImplementedError" in out
    assert "replace `raise NotImplementedError()`" in out
    # A written answer runs untouched, and any other error still shows in full.
    assert asyncio.run(drive(gather_fetch))["total_latency"] > 0  # type: ignore[index]
    assert capsys.readouterr().out == ""
    with pytest.raises(KeyError):
        asyncio.run(drive(functools.partial(crashing_fetch, {})))


def test_check_wants_the_function_not_a_call(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.check(gather_fetch()))  # type: ignore[arg-type]
    assert "without parentheses" in capsys.readouterr().out


def test_the_stretch_goal_stays_locked_until_the_deliverable_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(sprint.compare_timings(one_lane_fetch, one_lane_fetch))
    out = capsys.readouterr().out
    assert (
        "🔒 Stretch goal locked. Complete the deliverable first, then unlock the stretch goal."
        in out
    )
    assert "sequential" not in out


def test_an_unlocked_stretch_asks_for_sequential_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.compare_timings(gather_fetch, untouched_fetch))
    out = capsys.readouterr().out
    assert "🔓 Stretch goal unlocked" in out and "⏳ Not attempted yet" in out


def test_a_parallel_sequential_fetch_is_sent_back(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.compare_timings(gather_fetch, gather_fetch))
    out = capsys.readouterr().out
    assert "❌ sequential_fetch runs the calls one after another" in out
    assert "measured total" not in out


def test_compare_timings_prints_side_by_side_and_draws_both_lanes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[Any] = []
    monkeypatch.setattr(sprint, "_draw", drawn.append)
    asyncio.run(sprint.compare_timings(gather_fetch, one_lane_fetch))
    out = capsys.readouterr().out
    assert "sequential" in out and "async" in out and "measured total" in out
    assert "your total_latency" in out and "× faster" in out
    (results,) = drawn
    one_lane, highway = results
    assert (one_lane.mode, highway.mode) == ("sync", "async")
    assert {t.lane for t in one_lane.timeline} == {"lane 1"}
    assert len({t.lane for t in highway.timeline}) == 3
    # One lane: the 3 s chat waited in line behind weather and maps.
    assert one_lane.makespan > 1.5 * highway.makespan
    assert max(one_lane.waits.values()) > 2.5 and max(highway.waits.values()) < 0.5


def test_the_lanes_are_drawn_with_citylib_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    from citylib import charts

    shown: list[tuple[Any, str | None]] = []
    monkeypatch.setattr(charts, "show", lambda fig, alt=None: shown.append((fig, alt)))

    async def both() -> list[Any]:
        return [
            (await sprint_lesson._timed_run(one_lane_fetch, "sync")).result,
            (await sprint_lesson._timed_run(gather_fetch, "async")).result,
        ]

    with clock.scaled(200):
        results = asyncio.run(both())
    sprint._draw(results)
    ((fig, alt),) = shown
    assert len(fig.axes) >= 2 and alt is not None and "faster" in alt


def test_one_lane_each_puts_turns_in_one_lane_and_overlaps_in_many() -> None:
    turns = [timeline.Trip(n, n, "x", s, s, s + 1) for n, s in (("a", 0.0), ("b", 1.0))]
    assert {t.lane for t in sprint_lesson._one_lane_each(turns)} == {"lane 1"}
    together = [timeline.Trip(n, n, "x", 0.0, 0.0, 1.0 + i) for i, n in enumerate("abc")]
    lanes = [t.lane for t in sprint_lesson._one_lane_each(together)]
    assert lanes == ["lane 1", "lane 2", "lane 3"]
    assert all(t.queued == 0.0 for t in sprint_lesson._one_lane_each(turns))


# The notebooks: tags, nbgrader metadata, the learner's copy


def test_the_learner_notebook_is_the_solution_with_solutions_cleared() -> None:
    made, cleared = notebook.make_student(notebook.load(SOLUTION))
    assert cleared == 2
    learner = notebook.load(LEARNER)
    assert [notebook.source(c) for c in made["cells"]] == [
        notebook.source(c) for c in learner["cells"]
    ], "run `make student` after editing the solution notebook"
    text = json.dumps(learner)
    assert "### BEGIN SOLUTION" not in text and "teacher-only" not in text
    assert "raise NotImplementedError()" in text
    # The unwritten stubs show hints, not tracebacks: no cell expects an error.
    for cell in learner["cells"]:
        assert "raises-exception" not in cell.get("metadata", {}).get("tags", [])
        assert all(o.get("output_type") != "error" for o in cell.get("outputs", []))


@pytest.mark.parametrize("path", [SOLUTION, LEARNER], ids=["solution", "learner"])
def test_both_notebooks_carry_the_sprint_wording_tags_and_nbgrader_ids(path: Path) -> None:
    nb = notebook.load(path)
    text = "\n".join(notebook.source(c) for c in nb["cells"])
    for words in (
        "Parallel Fetch Sprint",
        "Deliverable:** Call three slow mock sources concurrently and return one merged "
        "response with total latency.",
        "Stretch:** Print side-by-side timing for sequential vs async.",
        "Complete the deliverable first, then unlock the stretch goal.",
        "Popy",
    ):
        assert words in text
    for tag, function in (
        (sprint_contract.SPRINT_TAG, "parallel_fetch"),
        (sprint_contract.STRETCH_TAG, "sequential_fetch"),
    ):
        index, how = notebook.find_cell(nb, tag, function)
        assert how == "tag" and index is not None
        cell = nb["cells"][index]
        assert cell["metadata"]["nbgrader"]["grade_id"] == tag
        assert cell["metadata"]["nbgrader"]["solution"] is True
        assert nb["cells"][index - 1]["cell_type"] == "markdown"  # a story before the code


def test_extract_finds_the_cells_by_tag_then_nbgrader_then_definition() -> None:
    nb = notebook.load(SOLUTION)
    found = notebook.extract(nb)
    assert "async def parallel_fetch" in found.answer
    assert "async def sequential_fetch" in found.stretch
    assert "from importlib.metadata import version" in found.preamble
    assert not found.notes
    for cell in nb["cells"]:
        cell["metadata"].pop("tags", None)
    assert notebook.find_cell(nb, sprint_contract.SPRINT_TAG, "parallel_fetch")[1] == "nbgrader"
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    assert notebook.find_cell(nb, sprint_contract.SPRINT_TAG, "parallel_fetch")[1] == "definition"
    assert "tag" in notebook.extract(nb).notes[0]


def test_extract_keeps_imports_from_cells_with_magics() -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": "%matplotlib inline\nimport math\nx = 1"},
        {"cell_type": "code", "metadata": {}, "source": "!pip list\nfrom os import path"},
        {"cell_type": "code", "metadata": {"tags": [sprint_contract.SPRINT_TAG]}, "source": "pass"},
    ]
    found = notebook.extract({"cells": cells})
    assert found.preamble == ["import math", "from os import path"]


def test_make_student_refuses_unbalanced_markers() -> None:
    cell = {"cell_type": "code", "metadata": {}, "source": "### BEGIN SOLUTION\nx = 1\n"}
    with pytest.raises(ValueError, match="without"):
        notebook.make_student({"cells": [cell]})


def test_make_student_keeps_indentation_and_clears_markdown_answers() -> None:
    code = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    md = "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    cells = [
        {"cell_type": "code", "metadata": {}, "source": code, "outputs": [1], "execution_count": 3},
        {"cell_type": "markdown", "metadata": {}, "source": md},
    ]
    made, cleared = notebook.make_student({"cells": cells})
    assert cleared == 2
    assert (
        made["cells"][0]["source"]
        == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )
    assert made["cells"][0]["outputs"] == [] and made["cells"][0]["execution_count"] is None
    assert made["cells"][1]["source"] == "Why?\nYOUR ANSWER HERE"


def test_the_student_command_writes_the_learner_notebook(tmp_path: Path) -> None:
    target = tmp_path / "learner.ipynb"
    assert citylib_cli.main(["student", str(SOLUTION), str(target)]) == 0
    assert notebook.load(target)["cells"]


def test_load_rejects_what_is_not_a_notebook(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(notebook.NotebookError, match="cannot read"):
        notebook.load(bad)
    bad.write_text('{"cells": 3}')
    with pytest.raises(notebook.NotebookError, match="no list of cells"):
        notebook.load(bad)


def test_check_draws_the_learner_s_own_lanes_from_its_drives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from citylib import charts

    shown: list[tuple[Any, str | None]] = []
    monkeypatch.setattr(charts, "show", lambda fig, alt=None: shown.append((fig, alt)))
    asyncio.run(sprint.check(gather_fetch))
    ((fig, alt),) = shown
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows.count("parallel_fetch, drive 1") == rows.count("parallel_fetch, drive 2") == 1
    assert sorted(r for r in rows if r.startswith("sources[")) == sorted(
        [f"sources[{name!r}]()" for name in sprint_contract.SOURCE_NAMES] * 2
    )
    assert "Heartbeat._beat" not in rows  # the judge's own machinery is not the learner's
    assert alt is not None and "never held" in alt

    shown.clear()
    asyncio.run(sprint.check(one_lane_fetch))  # one lane: the drives, no source lanes
    rows = [t.get_text() for t in shown[0][0].axes[0].get_yticklabels()]
    assert rows == ["parallel_fetch, drive 1", "parallel_fetch, drive 2"]

    shown.clear()

    async def unwritten(sources: Any = None) -> dict[str, Any]:
        raise NotImplementedError()

    asyncio.run(sprint.check(unwritten))
    assert shown == []  # nothing ran: nothing to draw
