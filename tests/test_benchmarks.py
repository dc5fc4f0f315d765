"""The benchmarks' quick path still runs and keeps its shape (never how fast it is)."""

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import BENCHMARKS, main

CHEAP = ["race", "recording", "lanes", "stepper", "chart", "import"]


def _figures(path: Path) -> list[dict[str, Any]]:
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["quick"] is True
    assert record["errors"] == {}
    assert record["machine"]["cpu_count"] >= 1
    assert record["machine"]["python"]
    figures: list[dict[str, Any]] = record["figures"]
    return figures


def _check_shape(figure: dict[str, Any]) -> None:
    assert figure["key"] in BENCHMARKS
    assert figure["figure"]
    assert figure["goal"]
    for side in ("citylib", "baseline"):
        sample = figure[side]
        assert sample["repeats"] == len(sample["values"]) >= 1
        assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in sample["values"])
        assert sample["min"] <= sample["median"] <= sample["max"]
    assert isinstance(figure["ratio"], float)
    assert math.isfinite(figure["ratio"])
    assert figure["ratio"] > 0
    assert figure["met"] is None  # a quick run judges nothing against the goals


def test_quick_run_of_the_cheap_benchmarks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", ",".join(CHEAP), "--out", str(out)]) == 0
    figures = _figures(out)
    assert list(dict.fromkeys(f["key"] for f in figures)) == CHEAP  # lanes has two rows
    for figure in figures:
        _check_shape(figure)
    printed = capsys.readouterr().out
    assert "| figure" in printed
    assert "met?" in printed


# The two tests below are about the results file, not a figure: they measure the two
# cheapest (a fraction of a second each, where import starts seven interpreters).


def test_one_figure_alone_updates_only_its_row(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "recording", "--out", str(out)]) == 0
    assert main(["--quick", "--only", "race", "--out", str(out)]) == 0
    assert [f["key"] for f in _figures(out)] == ["race", "recording"]


def test_quick_run_writes_nothing_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("benchmarks.__main__.RESULTS", tmp_path / "results.json")
    assert main(["--quick", "--only", "race"]) == 0
    assert not (tmp_path / "results.json").exists()


def test_unknown_figure_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "warp-drive"])
    assert "unknown figure warp-drive" in capsys.readouterr().err


@pytest.mark.server
def test_quick_surge(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "surge", "--out", str(out)]) == 0
    figures = _figures(out)
    assert len(figures) == 2
    for figure in figures:
        _check_shape(figure)


@pytest.mark.notebook
def test_quick_learner_sizing(tmp_path: Path) -> None:
    """A kernel's memory and CPU are read, and the node sizing comes out of them."""
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "learner", "--out", str(out)]) == 0
    figures = _figures(out)
    assert [f["key"] for f in figures] == ["learner", "learner"]
    for figure in figures:
        _check_shape(figure)
    kernel, surge = figures
    assert kernel["extra"]["errors"] == []
    assert kernel["extra"]["samples"] >= 2
    # a notebook's kernel holds more than an empty one; sizes are never asserted
    assert kernel["citylib"]["median"] > kernel["extra"]["bare_kernel"]["peak_rss_mb"] > 0
    size = surge["extra"]["sizing"]
    assert size["learners"] == min(size["learners_by_memory"], size["learners_by_cpu"]) >= 1
    assert "idle" in size["assumptions"]


@pytest.mark.notebook
def test_quick_grader(tmp_path: Path) -> None:
    """The grader's figure runs: a small batch beside one serial nbclient run."""
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "grader", "--out", str(out)]) == 0
    (figure,) = _figures(out)
    _check_shape(figure)
    (found,) = figure["extra"]["rounds"]
    assert found["counts"]["ok"] == found["copies"], found["problems"]  # every copy graded ok
    assert found["child_memory_mb"] > 0 and found["grader_memory_mb"] > 0
