"""The learner's ``citylib.practice``: checked exercises, and predict-then-run.

``ex = practice.exercise("01_highway")``, then ``await ex.check(commute)``,
``ex.hint()`` and ``ex.solution()`` (the machinery is
:mod:`citylib._lessons.practice`, the exercises :mod:`citylib._lessons.exercises`).
This module adds the one drawing: :func:`reveal` shows a predict-then-run guess as a
ghost over the measured lanes and says how close it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from citylib._core.race import RaceResult
from citylib._core.timeline import Timeline
from citylib._lessons.crashes import Lesson
from citylib._lessons.exercises import EXERCISES, FALLBACK, PREDICTIONS
from citylib._lessons.practice import (
    Check,
    Exercise,
    Guess,
    Practice,
    Prediction,
    Verdict,
    score_guess,
)
from citylib._views import charts
from citylib._views.style import TEXT

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EXERCISES",
    "FALLBACK",
    "PREDICTIONS",
    "Check",
    "Exercise",
    "Guess",
    "Practice",
    "Prediction",
    "Verdict",
    "exercise",
    "reveal",
]

# One handle per exercise, so that `practice.exercise(id).hint()` moves on a level each
# call, however the learner spells it.
_handles: dict[str, Practice] = {}


def exercise(exercise_id: str) -> Practice:
    """The exercise ``exercise_id``: ``await .check(answer)``, ``.hint()``, ``.solution()``."""
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise ValueError(f"there is no exercise {exercise_id!r}; the exercises are: {known}")
    if exercise_id not in _handles:
        _handles[exercise_id] = Practice(EXERCISES[exercise_id])
    return _handles[exercise_id]


def reveal(prediction_id: str, guess: Any, result: RaceResult | Lesson | Timeline) -> None:
    """Draw the measured lanes with the guess as a ghost over them, and score the guess.

    Args:
        prediction_id: A key of :data:`PREDICTIONS`, such as ``"01_jam_makespan"``.
        guess: The learner's number (``...`` while none was entered).
        result: The run the guess was about: a race, a crash lesson or a timeline.
    """
    if prediction_id not in PREDICTIONS:
        known = ", ".join(sorted(PREDICTIONS))
        raise ValueError(f"there is no prediction {prediction_id!r}; the predictions are: {known}")
    source: RaceResult | Timeline = result.timeline if isinstance(result, Lesson) else result
    if not isinstance(source, RaceResult | Timeline):
        raise TypeError(
            f"reveal() needs the run's result (a race or a lesson), not {type(result).__name__}"
        )
    scored = score_guess(PREDICTIONS[prediction_id], guess, source.makespan)
    charts.show(ghost_chart(source, scored), alt=scored.message)


def ghost_chart(source: RaceResult | Timeline, scored: Guess) -> Figure:
    """The run's lane chart, the guessed makespan drawn over it as a ghost."""
    fig = charts.gantt(source)
    ax = fig.axes[0]
    if scored.guess is not None:
        guess = max(scored.guess, 0.0)
        ax.axvspan(0, guess, color="#7f7fff", alpha=0.10, hatch="//", zorder=0, linewidth=0)
        ax.axvline(guess, color="#5050d0", linestyle=(0, (2, 2)), linewidth=2, zorder=4)
        low, high = ax.get_xlim()
        ax.set_xlim(low, max(high, guess * 1.2))  # room for the guess's label
        ax.annotate(
            f"your guess: {scored.guess:g} s",
            xy=(guess, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -14),
            textcoords="offset points",
            color="#5050d0",
            fontsize=9,
            fontweight="bold",
        )
        _add_to_title(ax, f"your guess {scored.guess:g} s, off by {abs(scored.off_by or 0):.1f} s")
    else:
        _add_to_title(ax, "no guess entered")
    return fig


def _add_to_title(ax: Axes, line: str) -> None:
    """A second title line, on the side the chart's own title is (lane charts: the left)."""
    loc: Literal["left", "center"] = "left" if ax.get_title(loc="left") else "center"
    ax.set_title(f"{ax.get_title(loc=loc)}\n{line}", loc=loc, color=TEXT)
