"""The Parallel Fetch Sprint: its sources, its judge, the self-check and the stretch goal.

The judge runs in-process here (the grader's batch runs in tests/test_grading.py).
Every figure is in city seconds on the scaled clock, so no test reads wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import json
import linecache
import os
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from citylib import _cli as citylib_cli
from citylib import clock, sprint, timeline
from citylib._lessons import slips, sprint_contract
from citylib._lessons import sprint as sprint_lesson
from citylib._lessons.judge import (
    CHECKS,
    STRETCH_CHECKS,
    CallRecord,
    CheckResult,
    DriveRecord,
    JudgeSettings,
    Verdict,
    judge,
)
from citylib._lessons.judge import verdict as verdict_of
from citylib.grading import _notebook as notebook
from citylib.testing import run_virtual

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


async def pings_aside_fetch(sources: Any) -> dict[str, Any]:
    """Three lanes of pings kept aside; the merge itself made one lane at a time."""
    start = clock.now()
    pings = [asyncio.ensure_future(s()) for s in sources.values()]
    merged: dict[str, Any] = {}
    for name, source in sources.items():
        merged[name] = await source()
    merged["aside"] = [await ping for ping in pings]
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


def twice_the_speed() -> contextlib.AbstractContextManager[float]:
    """Twice the suite's speed: the judge's latencies still dwarf scheduling noise."""
    return clock.scaled(float(os.environ.get(clock.ENV_VAR) or 1) * 2)


@pytest.fixture(autouse=True)
def fast_city() -> Iterator[None]:
    with twice_the_speed():
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
        (twice_fetch, {"calls_once", "overlap"}),  # the merged weather came after the rest
        (pings_aside_fetch, {"calls_once", "overlap"}),
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


def test_check_explains_a_failure_by_its_cause(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(sprint.check(one_lane_fetch))
    out = capsys.readouterr().out
    assert out.count("✅ parallel_fetch") == len(CHECKS) - 1  # what works still shows
    assert "✅ parallel_fetch runs the calls at the same time" not in out
    assert "❌ Each await waited for its source's answer before the next call started" in out
    assert "What happened: the calls took turns" in out
    assert "💡 Try: Start every call first, then wait for them all with one await" in out
    assert f"Deliverable: {len(CHECKS) - 1}/{len(CHECKS)} checks passed" in out
    assert "one mistake stands in the way" in out


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
    assert "❌ The calls ran side by side: sequential_fetch should be the traffic jam" in out
    assert out.count("❌") == 1 and "in sequential_fetch, then run this cell again" in out
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
    # One lane made no task of any call: each call is a lane all the same, as promised,
    # drawn from what the judge saw (the drive's calls one after another).
    asyncio.run(sprint.check(one_lane_fetch))
    ((fig, alt),) = shown
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [r for r in rows if r.startswith("parallel_fetch")] == [
        "parallel_fetch, drive 1",
        "parallel_fetch, drive 2",
    ]
    assert rows.index("parallel_fetch, drive 2") == 4  # each drive, then its three calls
    assert sorted(r for r in rows if r.startswith("sources[")) == sorted(
        [f"sources[{name!r}]()" for name in sprint_contract.SOURCE_NAMES] * 2
    )
    assert "6 source calls" in fig.axes[0].get_title(loc="left")
    assert alt is not None and "at most 2 on the road at once" in alt  # a drive + one call

    shown.clear()

    async def unwritten(sources: Any = None) -> dict[str, Any]:
        raise NotImplementedError()

    asyncio.run(sprint.check(unwritten))
    assert shown == []  # nothing ran: nothing to draw
    asyncio.run(sprint.check(bind("uncalled", SLIPS["sources_uncalled"].code)))
    assert shown == []  # it stopped at its error on every drive: the diagnosis says it


# The slips: a learner's first tries, each one mistake; one message names its cause

STUB_HEAD = """import asyncio
import time

from citylib import clock, sprint


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
"""


def _answer(body: str) -> str:
    """An answer cell: the stub's first lines, then ``body`` as the function's rest."""
    return STUB_HEAD + "".join(f"    {line}\n" for line in body.strip("\n").splitlines())


def _merging(gathered: str, merge: str = "merged = dict(zip(sources, answers))") -> str:
    return _answer(
        f"""
start = clock.now()
answers = {gathered}
{merge}
merged["total_latency"] = clock.now() - start
return merged
"""
    )


@dataclass(frozen=True)
class Slip:
    """A hostile-but-plausible answer and what each cell must say about it.

    Attributes:
        code: The whole answer cell.
        diagnosis: The one diagnosis the self-check names (its id).
        cause: Words of its cause, as printed.
        drive: Words the test-drive cell prints (``None``: it runs, and shows the merge).
    """

    code: str
    diagnosis: str
    cause: str
    drive: str | None


UNCALLED = "You handed gather the sources, not calls of them: gather needs awaitables"
SLIPS: dict[str, Slip] = {
    "one_lane": Slip(
        _answer(
            """
start = clock.now()
merged = {}
for name, source in sources.items():
    merged[name] = await source()
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "took_turns",
        "one lane for everybody, so the waits added up",
        None,
    ),
    "sources_uncalled": Slip(
        _merging("await asyncio.gather(*sources.values())"),
        "uncalled_sources", UNCALLED, UNCALLED,
    ),
    "dict_values_uncalled": Slip(
        _merging("await asyncio.gather(sources.values())"),
        "uncalled_sources", UNCALLED, UNCALLED,
    ),
    "listed_uncalled": Slip(
        _merging("await asyncio.gather(*[s for s in sources.values()])"),
        "uncalled_sources", UNCALLED, UNCALLED,
    ),
    "names_gathered": Slip(
        _merging("await asyncio.gather(*sources)"), "uncalled_sources", UNCALLED, UNCALLED
    ),
    "awaits_a_source": Slip(
        _answer(
            """
start = clock.now()
merged = {}
for name, source in sources.items():
    merged[name] = await source
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "uncalled_sources",
        "You awaited a source, not a call of it",
        "You awaited a source, not a call of it",
    ),
    "no_star": Slip(
        _merging("await asyncio.gather([s() for s in sources.values()])"),
        "not_unpacked",
        "You handed gather one list of calls, not the calls themselves",
        "You handed gather one list of calls, not the calls themselves",
    ),
    "gather_not_awaited": Slip(
        _merging("asyncio.gather(*(s() for s in sources.values()))"),
        "gather_not_awaited",
        "You used what gather gave back without awaiting it",
        "You used what gather gave back without awaiting it",
    ),
    "calls_not_awaited": Slip(
        _answer(
            """
start = clock.now()
merged = {name: source() for name, source in sources.items()}
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "not_awaited",
        "You called the sources but never awaited the calls",
        "You called the sources but never awaited the calls",
    ),
    "plain_def": Slip(
        STUB_HEAD.replace("async def", "def")
        + """    start = clock.now()
    merged = {name: source() for name, source in sources.items()}
    merged["total_latency"] = clock.now() - start
    return merged
""",
        "not_awaited",
        "You called the sources but never awaited the calls",
        "Your parallel_fetch is a plain def",
    ),
    "returns_a_list": Slip(
        _answer("return await asyncio.gather(*(s() for s in sources.values()))"),
        "returns_list",
        "Your parallel_fetch returned a list (the answers in a row), not a dict",
        "Your parallel_fetch returned a list (the answers in a row), not a dict",
    ),
    "answers_as_keys": Slip(
        _merging(
            "await asyncio.gather(*(s() for s in sources.values()))",
            "merged = dict(zip(answers, sources))",
        ),
        "answers_as_keys",
        "You used the answers as the dict's keys",
        "You used the answers as the dict's keys",
    ),
    "names_sorted": Slip(
        _merging(
            "await asyncio.gather(*(s() for s in sources.values()))",
            "merged = dict(zip(sorted(sources), answers))",
        ),
        "wrong_names",
        "Every answer is in your dict, but some under another source's name",
        "Every answer is in your dict, but some under another source's name",
    ),
    "one_key": Slip(
        _answer(
            """
start = clock.now()
answers = await asyncio.gather(*(s() for s in sources.values()))
return {"answers": answers, "total_latency": clock.now() - start}
"""
        ),
        "missing_names",
        "Your dict has no keys 'weather', 'maps' and 'chat'",
        "Your dict has no keys 'weather', 'maps' and 'chat'",
    ),
    "time_sleep": Slip(
        _merging(
            "await asyncio.gather(*(s() for s in sources.values()))",
            "merged = dict(zip(sources, answers))\ntime.sleep(0.4)",
        ),
        "blocked_loop",
        "Something held the event loop: a blocking call such as time.sleep()",
        None,
    ),
    "asyncio_run": Slip(
        _merging("asyncio.run(asyncio.gather(*(s() for s in sources.values())))"),
        "asyncio_run",
        "You called asyncio.run() inside parallel_fetch",
        "You called asyncio.run() inside parallel_fetch",
    ),
    "asyncio_run_main": Slip(
        _answer(
            """
async def main():
    return await asyncio.gather(*(s() for s in sources.values()))

start = clock.now()
merged = dict(zip(sources, asyncio.run(main())))
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "asyncio_run",
        "You called asyncio.run() inside parallel_fetch",
        "You called asyncio.run() inside parallel_fetch",
    ),
    "tasks_returned": Slip(
        _answer(
            """
start = clock.now()
merged = {name: asyncio.create_task(s()) for name, s in sources.items()}
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "tasks_not_awaited",
        "You returned the tasks, not their answers",
        "You returned the tasks, not their answers",
    ),
    "task_result_too_soon": Slip(
        _answer(
            """
start = clock.now()
tasks = {name: asyncio.create_task(s()) for name, s in sources.items()}
merged = {name: task.result() for name, task in tasks.items()}
merged["total_latency"] = clock.now() - start
return merged
"""
        ),
        "task_not_done",
        "You asked a task for its result before it had finished",
        "You asked a task for its result before it had finished",
    ),
    "own_sources": Slip(
        STUB_HEAD.replace("    if sources is None:\n    ", "")
        + """    start = clock.now()
    answers = await asyncio.gather(*(s() for s in sources.values()))
    merged = dict(zip(sources, answers))
    merged["total_latency"] = clock.now() - start
    return merged
""",
        "own_sources",
        "Your parallel_fetch fetched from sources of its own, not the ones it was given",
        None,
    ),
    "no_total_latency": Slip(
        _answer(
            """
answers = await asyncio.gather(*(s() for s in sources.values()))
return dict(zip(sources, answers))
"""
        ),
        "no_latency",
        "Your dict has no 'total_latency'",
        "Your dict has no 'total_latency'",
    ),
    "hard_coded_latency": Slip(
        _merging(
            "await asyncio.gather(*(s() for s in sources.values()))",
            'merged = dict(zip(sources, answers))\nmerged["total_latency"] = 3.0\nreturn merged',
        ),
        "hard_coded_latency",
        "Your total_latency is 3.0 on every drive",
        None,
    ),
}  # fmt: skip

#: Slips only the test drive sees: the self-check always hands sources over.
DRIVE_ONLY: dict[str, Slip] = {
    "no_default": Slip(
        STUB_HEAD.replace("sources=None", "sources")
        + "    return await asyncio.gather(*(s() for s in sources.values()))\n",
        "", "", "Your parallel_fetch has no default for sources",
    ),
    "none_unhandled": Slip(
        STUB_HEAD.split("    if sources")[0]
        + "    answers = await asyncio.gather(*(s() for s in sources.values()))\n",
        "", "", "Your parallel_fetch used sources while it was still None",
    ),
}  # fmt: skip


def bind(name: str, code: str) -> Fetch:
    """Run an answer cell as a notebook would, its lines known to tracebacks."""
    filename = f"<answer cell {name}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(code, filename, "exec"), namespace)
    fn: Fetch = namespace["parallel_fetch"]
    return fn


async def drive_cell(fn: Fetch) -> None:
    """The notebook's test-drive cell, as the learner's notebook has it."""
    with sprint.hint_if_unwritten(fn):
        result = await fn()
        print(sprint.describe_result(result))


def unawaited_warnings(run: Callable[[], Any]) -> list[str]:
    """``run()``, then every "never awaited" warning it left behind (after a collection)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
        gc.collect()
    return [str(w.message) for w in caught if "never awaited" in str(w.message)]


@dataclass(frozen=True)
class Checked:
    """One slip's self-check: what it returned, printed, and left unawaited."""

    verdicts: list[Verdict | None]
    out: str
    unawaited: list[str]


@pytest.fixture(scope="module")
def checked_slips() -> dict[str, Checked]:
    """Every slip through the self-check once (on the real clock, each waits for its
    drives): one test reads each diagnosis, another every word of advice printed."""
    found = {}
    with twice_the_speed():
        for name, slip in SLIPS.items():
            fn = bind(name, slip.code)
            verdicts: list[Verdict | None] = []
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                left = unawaited_warnings(
                    lambda fn=fn, verdicts=verdicts: verdicts.append(
                        asyncio.run(sprint_lesson.check(fn))
                    )
                )
            found[name] = Checked(verdicts, printed.getvalue(), left)
    return found


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_each_slip_gets_one_diagnosis_naming_its_cause(
    name: str, checked_slips: dict[str, Checked]
) -> None:
    slip = SLIPS[name]
    checked = checked_slips[name]
    out, left = checked.out, checked.unawaited
    (found,) = checked.verdicts
    assert found is not None and not found.passed
    assert [d.id for d in found.diagnoses] == [slip.diagnosis], out
    (diagnosis,) = found.diagnoses
    assert set(diagnosis.checks) == failed(found)  # the one cause explains every ❌ check
    assert out.count("❌") == 1 and slip.cause in out, out
    assert "Traceback" not in out and not left
    assert "one mistake stands in the way" in out


@pytest.mark.parametrize("name", sorted(SLIPS) + sorted(DRIVE_ONLY))
def test_the_test_drive_names_a_slip_instead_of_a_traceback(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    slip = {**SLIPS, **DRIVE_ONLY}[name]
    fn = bind(name, slip.code)
    with clock.scaled(clock.speed() * 10):  # the default sources: 3 city seconds
        left = unawaited_warnings(lambda: asyncio.run(drive_cell(fn)))
    out = capsys.readouterr().out
    assert "Traceback" not in out and not left, out
    if slip.drive is None:
        assert out.startswith("Merged: weather, maps, chat\ntotal_latency: ")
    else:
        assert out.count("❌") == 1 and slip.drive in out, out
        assert "💡 Try:" in out


def test_a_slip_names_the_learner_s_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    fn = bind("uncalled", SLIPS["sources_uncalled"].code)
    asyncio.run(sprint_lesson.check(fn))
    line = "Where: line 11 of your cell: answers = await asyncio.gather(*sources.values())"
    assert line in capsys.readouterr().out
    with clock.scaled(clock.speed() * 10):
        asyncio.run(drive_cell(fn))
    assert line in capsys.readouterr().out


def test_an_unexpected_error_still_shows_in_full_from_the_learner_s_line() -> None:
    fn = bind("typo", _answer("return {'weather': sources['wheather']}"))
    with pytest.raises(KeyError, match="wheather") as raised:
        asyncio.run(drive_cell(fn))
    assert raised.traceback[-1].frame.code.raw.co_filename == "<answer cell typo>"


def test_the_right_answers_still_pass_with_their_output_unchanged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    taskgroup = _answer(
        """
start = clock.now()
async with asyncio.TaskGroup() as tg:
    tasks = {name: tg.create_task(source()) for name, source in sources.items()}
merged = {name: task.result() for name, task in tasks.items()}
merged["total_latency"] = clock.now() - start
return merged
"""
    )
    for fn in (gather_fetch, bind("taskgroup", taskgroup)):
        verdict = asyncio.run(sprint_lesson.check(fn))
        assert verdict is not None and verdict.passed and verdict.diagnoses == []
        out = capsys.readouterr().out
        assert out.count("✅") == len(CHECKS) and "❌" not in out
        assert out.splitlines()[-1] == (
            f"🎉 Deliverable complete: {len(CHECKS)}/{len(CHECKS)} checks passed. "
            "Popy unlocks the stretch goal for you!"
        )
        # The drive times itself on the city clock: on virtual time (the default sources
        # are pure asyncio) it reads exactly the slowest source, where a real clock at a
        # fast speed turned a busy machine's few milliseconds into city seconds.
        run_virtual(drive_cell(fn))
        merged, latency = capsys.readouterr().out.splitlines()
        assert merged == "Merged: weather, maps, chat"
        assert latency.startswith("total_latency: ") and latency.endswith(" s")
        assert float(latency.split()[1]) == pytest.approx(3.0)  # the slowest source, not 6


def test_two_mistakes_are_two_messages(capsys: pytest.CaptureFixture[str]) -> None:
    both = _answer(
        """
start = clock.now()
merged = {}
for name, source in sources.items():
    merged[name] = await source()
time.sleep(0.4)
merged["total_latency"] = clock.now() - start
return merged
"""
    )
    verdict = asyncio.run(sprint_lesson.check(bind("both", both)))
    out = capsys.readouterr().out
    assert verdict is not None
    assert [d.id for d in verdict.diagnoses] == ["took_turns", "blocked_loop"]
    assert out.count("❌") == 2 and "2 mistakes stand in the way" in out


def solution_lines() -> list[str]:
    """Every line between the solution notebook's BEGIN and END SOLUTION markers."""
    lines, inside = [], False
    for cell in notebook.load(SOLUTION)["cells"]:
        for line in notebook.source(cell).splitlines():
            if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 8:
                lines.append(line.strip())
    return lines


def test_no_hint_gives_a_solution_line_away(checked_slips: dict[str, Checked]) -> None:
    lines = solution_lines()
    assert "merged = dict(zip(names, answers))" in lines and "return merged" in lines
    texts = [c.hint for c in (*CHECKS, *STRETCH_CHECKS)]
    texts.append(Path(slips.__file__).read_text(encoding="utf-8"))  # every diagnosis' words
    assert set(checked_slips) == set(SLIPS)
    for checked in checked_slips.values():
        (verdict,) = checked.verdicts
        assert verdict is not None
        texts += [f"{d.cause}\n{d.fix}" for d in verdict.diagnoses]
    for text in texts:
        for line in lines:
            assert line not in text, f"a hint gives away {line!r}"


def test_a_number_written_in_fails_even_when_a_busy_machine_made_the_drives_late() -> None:
    """A late first drive (2.95 city seconds for a 1.5-second fetch) stretches its window
    to take 3.0; the same number on both drives still gives it away, while numbers that
    were measured pass. Nothing measured is longer than the judge's own stopwatch."""
    settings = JudgeSettings()

    def late_drives(first: float, second: float) -> list[DriveRecord]:
        made = [({"weather": 0.9, "maps": 1.5, "chat": 1.2}, 2.95, first),
                ({"weather": 2.6, "maps": 3.4, "chat": 2.9}, 3.5, second)]
        return [DriveRecord(lat, {}, took / 8.0, 0.0, 0.5, speed=8.0, result_type="dict",
                            result={"total_latency": value}) for lat, took, value in made]

    def latency_check(drives: list[DriveRecord]) -> CheckResult:
        return next(c for c in verdict_of(drives, settings).checks if c.id == "total_latency")

    written_in = verdict_of(late_drives(3.0, 3.0), settings)
    (check,) = [c for c in written_in.checks if c.id == "total_latency"]
    assert not check.passed
    took = "though they took 2.95 s and 3.50 s"
    assert check.detail == f"total_latency is 3.00 on every drive, {took}"
    assert "hard_coded_latency" in [d.id for d in written_in.diagnoses]
    assert latency_check(late_drives(2.94, 3.49)).passed  # measured, late as the drives
    assert not latency_check(late_drives(3.3, 3.49)).passed  # longer than the stopwatch


def test_the_grader_s_records_get_the_same_diagnosis() -> None:
    """The grader's drives carry results as data and errors as text: the same slips."""
    settings = JudgeSettings()

    def record(**observed: Any) -> DriveRecord:
        calls = observed.pop("calls", {})
        lat = {"weather": 1.0, "maps": 2.0, "chat": 1.5}
        return DriveRecord(lat, calls, 0.01, 0.0, 0.5, speed=8.0, **observed)

    where = "line 6 of your answer cell: answers = await asyncio.gather(*sources.values())"
    error = "TypeError: An asyncio.Future, a coroutine or an awaitable is required"
    uncalled = verdict_of([record(error=error, where=where)] * 2, settings)
    assert [d.id for d in uncalled.diagnoses] == ["uncalled_sources"]
    assert uncalled.diagnoses[0].where == where
    assert uncalled.diagnoses[0].cause.startswith("you handed gather the sources, not calls")
    called = {n: [CallRecord(0.0)] for n in ("weather", "maps", "chat")}
    coroutines = {n: {"$object": "coroutine"} for n in called} | {"total_latency": 0.0}
    pending = verdict_of(
        [record(calls=called, result=coroutines, result_type="dict")] * 2, settings
    )
    assert [d.id for d in pending.diagnoses] == ["not_awaited"]
    assert set(pending.diagnoses[0].checks) == failed(pending)
