"""The learner's ``citylib.charts``: every picture in the course, and :func:`show`.

``charts.show(result)`` draws any result a notebook gets (a race, several races, a
timeline, a heartbeat's pulse, a crash lesson, a surge, notebook 07's streams, queues
and retries) as a PNG with its one-line
text alternative below it; ``charts.show(figure, alt=...)`` shows a figure you drew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from citylib._core.race import RaceResult
from citylib._core.timeline import Timeline
from citylib._lessons.crashes import Lesson
from citylib._lessons.heartbeat import Pulse
from citylib._lessons.streaming import FirstWords, Pipeline, RetryRun, StreamRush
from citylib._lessons.surge import SurgeResult
from citylib._views.chatbot import rush_chart
from citylib._views.heartbeat import pulse_chart
from citylib._views.lesson_charts import lesson_chart, surge_chart
from citylib._views.race_charts import LaneBoard, LaneChart, compare, describe, gantt, text_chart
from citylib._views.stream_charts import (
    first_words_chart,
    pipeline_chart,
    retry_chart,
    streams_chart,
)
from citylib._views.style import PALETTE, to_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "LaneBoard",
    "LaneChart",
    "compare",
    "describe",
    "draw",
    "first_words_chart",
    "gantt",
    "lesson_chart",
    "pipeline_chart",
    "pulse_chart",
    "retry_chart",
    "rush_chart",
    "show",
    "streams_chart",
    "surge_chart",
    "text_chart",
    "to_png",
]


def draw(result: Any, **options: Any) -> tuple[Figure, str]:
    """A course result's chart and its one-line text alternative.

    Args:
        result: A race, a list of races, a timeline, a pulse, a crash lesson or a surge.
        **options: Passed to the chart (``horizon=``, city seconds the time axis
            spans, for a crash lesson or a heartbeat).
    """
    if isinstance(result, RaceResult):
        return gantt(result), result.summary()
    if isinstance(result, Timeline):
        return gantt(result), f"{result.name or 'Trips'}: done in {result.makespan:.1f} s."
    if isinstance(result, Pulse):
        return pulse_chart(result, **options), result.summary()
    if isinstance(result, Lesson):
        return lesson_chart(result, **options), result.summary
    if isinstance(result, SurgeResult):
        return surge_chart(result), result.summary()
    if isinstance(result, Sequence) and result and all(isinstance(r, RaceResult) for r in result):
        return compare(result), describe(result)
    if isinstance(result, FirstWords | Pipeline | RetryRun):
        chart = {FirstWords: first_words_chart, Pipeline: pipeline_chart, RetryRun: retry_chart}
        return chart[type(result)](result), result.summary()  # type: ignore[operator]
    if isinstance(result, StreamRush):
        return streams_chart(result), result.summary()
    if isinstance(result, Sequence) and result and all(isinstance(r, StreamRush) for r in result):
        return streams_chart(result), " ".join(r.summary() for r in result)
    raise TypeError(
        f"charts.show() draws a course result (a race, a lesson, a surge...) or a "
        f"matplotlib Figure, not {type(result).__name__}"
    )


def show(item: Any, alt: str | None = None, **options: Any) -> None:
    """Display a chart as a PNG in a notebook, with its text alternative below it.

    Args:
        item: A ``matplotlib`` Figure, or any result :func:`draw` knows.
        alt: The text alternative (a course result brings its own summary).
        **options: Passed to the chart, as in :func:`draw`.
    """
    from IPython.display import Image, display
    from matplotlib.figure import Figure

    if isinstance(item, Figure):
        fig, text = item, alt
    else:
        fig, summary = draw(item, **options)
        text = summary if alt is None else alt
    display(Image(to_png(fig)))
    if text:
        print(text)
