"""The exercises, one module per notebook (Kaggle learntools' layout), assembled here.

Each ``exNN_<notebook>`` module holds its notebook's exercises and predict-then-run
questions, each exercise with a judge that drives the learner's answer against AI
City's services and measures it (:mod:`._measure` holds what they share). This
registry only gathers them, in course order: a new exercise goes into its
notebook's module, and its module into :data:`_NOTEBOOKS` once.
"""

from __future__ import annotations

from citylib._lessons.exercises import (
    ex01_traffic_jam,
    ex02_await,
    ex03_concurrency_race,
    ex04_async_fastapi,
    ex06_when_lanes_crash,
    ex07_streaming_city,
)
from citylib._lessons.exercises.ex06_when_lanes_crash import FALLBACK
from citylib._lessons.practice import Exercise, Prediction

__all__ = ["EXERCISES", "FALLBACK", "PREDICTIONS"]

#: Every notebook's module, in course order.
_NOTEBOOKS = (
    ex01_traffic_jam,
    ex02_await,
    ex03_concurrency_race,
    ex04_async_fastapi,
    ex06_when_lanes_crash,
    ex07_streaming_city,
)

#: Every exercise, by id, in course order.
EXERCISES: dict[str, Exercise] = {ex.id: ex for m in _NOTEBOOKS for ex in m.EXERCISES}

#: Every predict-then-run question, by id.
PREDICTIONS: dict[str, Prediction] = {p.id: p for m in _NOTEBOOKS for p in m.PREDICTIONS}

if len(EXERCISES) != sum(len(m.EXERCISES) for m in _NOTEBOOKS):  # pragma: no cover
    raise RuntimeError("two exercises share an id")
