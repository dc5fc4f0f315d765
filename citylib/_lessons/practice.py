"""Practice: a checked exercise in every notebook, judged from what the answer *did*.

Kaggle Learn's ``q.check() / q.hint() / q.solution()`` is the anchor. Each
:class:`Exercise` names the notebook it belongs to, the name the learner's cell
binds (``answer_name``), the stub that cell starts with and a solution. Its judge
runs the learner's answer against AI City's services and measures it: which
services were called and when (a timeline of trips, in city seconds), how long the
event loop went without a heartbeat, what came back. Nothing the answer prints is
read. Each measurement becomes a :class:`Check`: ✅ or ❌, what was measured, and for
a ❌ the cause in words.

Hints come in levels: first the cause, in words, then the shape of the fix. No hint
holds a line of the solution (a test checks it); :meth:`Practice.solution` shows it.

The exercises live in :mod:`citylib._lessons.exercises`, one module per notebook
(``ex01_traffic_jam``, ...); this module is the machinery they share. Predict-then-run guesses
are :class:`Prediction`\\ s, scored by :func:`score_guess`; the drawing of the guess
over the measured lanes is :mod:`citylib._views.practice_views`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from citylib._core import clock
from citylib._core.watch import Stall, Watch

__all__ = [
    "STATUSES",
    "Check",
    "Exercise",
    "GiveUpError",
    "Guess",
    "NotAttemptedError",
    "Practice",
    "Prediction",
    "Verdict",
    "heartbeat",
    "is_untouched",
    "judge",
    "score_guess",
]

#: What a verdict can say: every check passed, one failed, the answer raised an
#: error, or the stub is still there.
STATUSES = ("passed", "failed", "error", "not_attempted")


class NotAttemptedError(Exception):
    """Raised inside a judge when the answer is still the stub."""


class GiveUpError(Exception):
    """Raised inside a judge when the answer cannot be measured (its message says why)."""


@dataclass(frozen=True)
class Check:
    """One measured check.

    Attributes:
        ok: Whether the answer passed it.
        label: What was checked, in a few words.
        measured: What was measured, in words and numbers.
        cause: For a failed check, why, in words (empty when it passed).
    """

    ok: bool
    label: str
    measured: str
    cause: str = ""

    def line(self) -> str:
        """The check as one printed line."""
        mark = "✅" if self.ok else "❌"
        text = f"{mark} {self.label}: {self.measured}"
        if not self.ok and self.cause:
            text += f"\n   ↳ {self.cause}"
        return text


@dataclass(frozen=True)
class Verdict:
    """What :meth:`Practice.check` found.

    Attributes:
        exercise: The exercise's id.
        status: One of :data:`STATUSES`.
        checks: Every check that was measured, in order.
        message: One sentence for a verdict with no checks (not attempted, an error).
    """

    exercise: str
    status: str
    checks: tuple[Check, ...] = ()
    message: str = ""

    def __repr__(self) -> str:
        return f"Verdict({self.exercise!r}, status={self.status!r})"

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return self.status == "passed"

    @property
    def cause(self) -> str:
        """The first failed check's cause, or the message."""
        for c in self.checks:
            if not c.ok:
                return c.cause
        return self.message

    def summary(self) -> str:
        """One line: the status and what decided it."""
        if self.status == "passed":
            return f"{self.exercise}: passed, {len(self.checks)} of {len(self.checks)} checks. 🎉"
        if self.status == "failed":
            bad = sum(1 for c in self.checks if not c.ok)
            return (
                f"{self.exercise}: not yet, {bad} of {len(self.checks)} checks failed: {self.cause}"
            )
        return f"{self.exercise}: {self.status.replace('_', ' ')}: {self.message}"


Judge = Callable[[Any], Awaitable[list[Check]]]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its notebook, the learner's name to bind, stub, solution and hints.

    Attributes:
        id: The registry's key, such as ``"01_highway"``.
        notebook: The notebook's name without ``.ipynb``, such as ``"01_traffic_jam"``.
        title: A few words for headings.
        answer_name: The name the learner's cell must bind (a function, a class or a value).
        stub: The exercise cell's code as the learner first sees it.
        solution_code: A passing answer, as source (self-contained: it imports what it uses).
        hints: At least two levels: first the cause in words, then the shape of the fix.
        judge: Measures an answer and returns the checks (see :func:`judge`).
        limit: City seconds one check may take before it is called off.
        real_seconds: The answer writes seconds of its own to asyncio, as the course
            advises (``asyncio.timeout(2)``), and asyncio counts real seconds while
            AI City's clock runs ``CITYLIB_SPEED`` times fast. Its check runs the city
            at real time (speed 1), so the answer's seconds and the city's are one
            unit at every ``CITYLIB_SPEED``.
    """

    id: str
    notebook: str
    title: str
    answer_name: str
    stub: str
    solution_code: str
    hints: list[str]
    judge: Judge = field(repr=False, compare=False)
    limit: float = 60.0
    real_seconds: bool = False

    def __post_init__(self) -> None:
        if len(self.hints) < 2:
            raise ValueError(f"exercise {self.id!r} needs at least two hint levels")


def is_untouched(answer: Any) -> bool:
    """Is ``answer`` still a stub: ``...``, or a function whose body is only ``...``?"""
    if answer is Ellipsis:
        return True
    func = inspect.unwrap(answer) if callable(answer) else None
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    empty = _EMPTY_ASYNC if inspect.iscoroutinefunction(func) else _EMPTY
    return code.co_code == empty.co_code and not code.co_names


def _empty() -> None: ...


async def _empty_async() -> None: ...


_EMPTY = _empty.__code__
_EMPTY_ASYNC = _empty_async.__code__


async def judge(exercise: Exercise, answer: Any) -> Verdict:
    """Measure ``answer`` with the exercise's judge; never raises for a bad answer.

    A stub is ``not_attempted``; an answer that raises (``NotImplementedError``
    counts as the stub) or hangs past the exercise's limit gets a verdict that says
    so, and the notebook carries on.
    """
    if is_untouched(answer):
        return Verdict(exercise.id, "not_attempted", message=_not_attempted(exercise))
    try:
        with clock.scaled(1) if exercise.real_seconds else contextlib.nullcontext():
            async with asyncio.timeout(clock.to_real(exercise.limit) + 5.0):
                checks = await exercise.judge(answer)
    except (NotAttemptedError, NotImplementedError):
        return Verdict(exercise.id, "not_attempted", message=_not_attempted(exercise))
    except GiveUpError as exc:
        return Verdict(exercise.id, "failed", (Check(False, "can be checked", str(exc), str(exc)),))
    except TimeoutError:
        message = (
            f"your answer was still running after {exercise.limit:g} city seconds, so the "
            "check called it off: something in it waits forever"
        )
        return Verdict(exercise.id, "error", message=message)
    except (Exception, SystemExit) as exc:  # a learner's error is a verdict, never a crash
        message = f"your answer raised {type(exc).__name__}: {exc}"
        return Verdict(exercise.id, "error", message=message)
    status = "passed" if checks and all(c.ok for c in checks) else "failed"
    return Verdict(exercise.id, status, tuple(checks))


def _not_attempted(exercise: Exercise) -> str:
    return (
        f"`{exercise.answer_name}` is still the stub (not attempted yet): write your answer "
        "in the exercise cell, run it, then check again"
    )


class Practice:
    """The learner's handle on one exercise: ``check``, ``hint`` and ``solution``."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self._hints_shown = 0

    def __repr__(self) -> str:
        ex = self.exercise
        return f"<exercise {ex.id!r}: {ex.title}; bind `{ex.answer_name}`, then await .check(it)>"

    async def check(self, answer: Any) -> Verdict:
        """Judge ``answer`` from measurements, print every check, return the verdict."""
        verdict = await judge(self.exercise, answer)
        print(_report(verdict, self.exercise))
        return verdict

    def hint(self) -> None:
        """Print the next hint level (the last one again once all are shown)."""
        hints = self.exercise.hints
        level = min(self._hints_shown, len(hints) - 1)
        self._hints_shown = level + 1
        more = "" if level + 1 == len(hints) else " (ask again for the next one)"
        print(f"💡 Hint {level + 1} of {len(hints)}{more}:\n{hints[level]}")

    def solution(self) -> None:
        """Print the solution's code."""
        print(f"🔑 One solution for {self.exercise.title}:\n\n{self.exercise.solution_code}")


def _report(verdict: Verdict, exercise: Exercise) -> str:
    lines = [c.line() for c in verdict.checks]
    if verdict.status == "passed":
        lines.append(f"🎉 Passed: {exercise.title}. Well driven!")
    elif verdict.status == "not_attempted":
        lines.append(f"✍️ Not attempted: {verdict.message}.")
    elif verdict.status == "error":
        lines.append(f"💥 {verdict.message}. Fix it and check again; `.hint()` can help.")
    else:
        lines.append("🔧 Not yet. Read the ↳ line, then try `.hint()` for a nudge.")
    return "\n".join(lines)


# -- measuring helpers the judges share ----------------------------------------------------


@dataclass
class Beats:
    """What the loop watcher saw while an answer ran: every time the loop was held.

    Attributes:
        stalls: Each stretch the loop stood still at least ``threshold`` (real seconds).
        threshold: The course's one rule at the clock's speed
            (:func:`~citylib._core.watch.held_threshold`).
    """

    stalls: list[Stall] = field(default_factory=list)
    threshold: float = 0.0

    @property
    def longest_gap(self) -> float:
        """Real seconds the loop was held at the longest (0 when it never was)."""
        return max((s.duration for s in self.stalls), default=0.0)


@contextmanager
def heartbeat() -> Iterator[Beats]:
    """Ask the one loop watcher whether the block held the event loop.

    The same watcher, with the same threshold, that draws the lanes charts' stalls and
    the roadblock sign (:class:`~citylib._core.watch.Watch`), so a check and a chart
    of the same answer never disagree. The name stays from the heartbeat it was.
    """
    beats = Beats()
    watcher = Watch(announce=False)
    beats.threshold = watcher.threshold
    with watcher:
        yield beats
    beats.stalls = list(watcher.roadblocks)


# -- predict, then run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A question asked before a run: the learner's guess is scored against the measurement.

    Attributes:
        id: The registry's key.
        notebook: The notebook it belongs to.
        question: What the learner guesses, in words.
        unit: The guess's unit (``"s"``).
        explain: One sentence on where the true figure comes from, shown after the run.
    """

    id: str
    notebook: str
    question: str
    unit: str
    explain: str


@dataclass(frozen=True)
class Guess:
    """A guess against a measurement.

    Attributes:
        prediction: The prediction's id.
        guess: The learner's number, or ``None`` when none was entered.
        measured: What the run measured.
        message: One or two lines saying how close it was.
    """

    prediction: str
    guess: float | None
    measured: float
    message: str

    @property
    def off_by(self) -> float | None:
        """How far the guess was from the measurement (``None`` with no guess)."""
        return None if self.guess is None else self.guess - self.measured


def score_guess(prediction: Prediction, guess: Any, measured: float) -> Guess:
    """Compare ``guess`` with ``measured``; a missing or silly guess gets a clear message."""
    unit = prediction.unit
    if guess is Ellipsis or guess is None:
        msg = (
            f"No guess yet: put your number in the guess cell above ({prediction.question}), "
            f"run it, then this one. Measured: {measured:.1f} {unit}. {prediction.explain}"
        )
        return Guess(prediction.id, None, measured, msg)
    if isinstance(guess, bool) or not isinstance(guess, int | float) or not math.isfinite(guess):
        msg = (
            f"Your guess should be a number of {unit} (such as 12), not {guess!r}. "
            f"Measured: {measured:.1f} {unit}. {prediction.explain}"
        )
        return Guess(prediction.id, None, measured, msg)
    value = float(guess)
    off = value - measured
    close = abs(off) <= max(0.5, 0.1 * measured)
    if close:
        verdict = "🎯 Spot on" if abs(off) <= 0.25 else "👍 Close"
    else:
        verdict = "🤔 " + ("Too long" if off > 0 else "Too short")
    msg = (
        f"{verdict}: you guessed {value:g} {unit}, the run measured {measured:.1f} {unit} "
        f"(off by {abs(off):.1f} {unit}). {prediction.explain}"
    )
    return Guess(prediction.id, value, measured, msg)
