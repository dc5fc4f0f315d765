"""One rule for "the loop was held": the practice check, the Sprint's self-check and the
lanes chart ask the one watcher with one threshold, and judge one answer alike."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from citylib import call, clock, lanes, practice
from citylib._core.watch import HELD_CITY_SECONDS, MIN_STALL, STALL_THRESHOLD, held_threshold
from citylib._lessons import sprint as sprint_lesson
from citylib._views.glossary import WORDS

HOLD = 0.3  # real seconds: over the rule's threshold at every speed


def test_the_rule_at_each_speed() -> None:
    assert held_threshold(1) == STALL_THRESHOLD == 0.1
    assert held_threshold(10) == pytest.approx(HELD_CITY_SECONDS / 10) == 0.05
    assert held_threshold(20) == MIN_STALL  # half a city second would be 25 ms: noise
    with clock.scaled(10):
        assert held_threshold() == held_threshold(10)


def test_the_glossary_states_the_rule_with_the_code_s_numbers() -> None:
    text = WORDS["held (the event loop)"]
    assert f"{STALL_THRESHOLD:g} s of real time" in text and f"{MIN_STALL:g} s" in text
    assert "half a city second" in text


async def _commute(hold: float) -> list[Any]:
    if hold:
        time.sleep(hold)  # noqa: ASYNC251  (the hold under test)
    return list(await asyncio.gather(call("chat"), call("maps"), call("weather")))


async def _parallel_fetch(sources: Any, hold: float) -> dict[str, Any]:
    start = clock.now()
    if hold:
        time.sleep(hold)  # noqa: ASYNC251  (the hold under test)
    names = list(sources)
    answers = await asyncio.gather(*(sources[n]() for n in names))
    return {**dict(zip(names, answers, strict=True)), "total_latency": clock.now() - start}


async def _three_verdicts(hold: float) -> tuple[bool, bool, bool]:
    """(practice check, Sprint self-check, lanes chart): did each say the loop was held?"""

    async def commute() -> list[Any]:
        return await _commute(hold)

    verdict = await practice.exercise("01_highway").check(commute)
    (loop_check,) = [c for c in verdict.checks if "event loop" in c.label]
    practice_held = not loop_check.ok

    async def parallel_fetch(sources: Any = None) -> dict[str, Any]:
        return await _parallel_fetch(sources, hold)

    sprint_verdict = await sprint_lesson.check(parallel_fetch)
    assert sprint_verdict is not None
    (blocking,) = [c for c in sprint_verdict.checks if c.id == "non_blocking"]
    sprint_held = not blocking.passed

    with lanes.record() as rec:
        await _commute(hold)
    return practice_held, sprint_held, bool(rec.stalls)


@pytest.mark.timeout(120)
# At speed 2 the old practice rule (0.8 city seconds = 0.4 real) let a 0.3 s hold pass.
@pytest.mark.parametrize("speed", [2.0, 20.0])
def test_one_answer_one_verdict_at_two_speeds(
    speed: float, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> tuple[tuple[bool, bool, bool], tuple[bool, bool, bool]]:
        with clock.scaled(speed):
            return await _three_verdicts(HOLD), await _three_verdicts(0.0)

    holding, polite = asyncio.run(main())
    capsys.readouterr()
    assert holding == (True, True, True), f"a {HOLD} s hold at speed {speed:g}"
    assert polite == (False, False, False), f"a polite answer at speed {speed:g}"
