"""Gradescope: ``citylib gradescope run --root DIR`` and ``citylib gradescope bundle OUT.zip``.

Every notebook of tests/submissions is graded once as a batch (``citylib grade``, a
fixed seed) and once on a simulated Gradescope layout (DIR/submission/, with the same
seed given the teacher's hidden way): its results.json must match its grades.csv row
check for check, and have the shape Gradescope's specification gives
(gradescope/autograder_samples, docs/specs.md).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from citylib._cli import main
from citylib._lessons.judge import CHECKS
from citylib.grading import DEFAULTS, grade
from citylib.grading._gradescope import SEED_ENV, run
from citylib.grading._rubric import parse

HERE = Path(__file__).parent
SUBMISSIONS = sorted((HERE / "submissions").glob("*.ipynb"))
SEED = 98765432101
TIMEOUT = 6.0
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
#: Top-level keys of results.json by the specification, and each test's.
TOP_KEYS = {"score", "execution_time", "output", "visibility", "stdout_visibility",
            "extra_data", "tests", "leaderboard"}  # fmt: skip
TEST_KEYS = {"score", "max_score", "status", "name", "number", "output", "tags",
             "visibility", "extra_data"}  # fmt: skip


def check_shape(data: Any) -> None:
    """results.json as Gradescope's specification has it: types and required keys."""
    assert isinstance(data, dict) and set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert isinstance(data["score"], (int, float)) and not isinstance(data["score"], bool)
    assert isinstance(data["output"], str) and data["output"]
    assert data["visibility"] in VISIBILITIES and data["stdout_visibility"] in VISIBILITIES
    assert isinstance(data.get("execution_time", 0), int)
    assert isinstance(data.get("extra_data", {}), dict)
    assert isinstance(data["tests"], list) and data["tests"]
    for test in data["tests"]:
        assert isinstance(test, dict) and set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        for key in ("name", "output", "number"):
            assert isinstance(test[key], str) and test[key], key
        for key in ("score", "max_score"):
            assert isinstance(test[key], (int, float)) and not isinstance(test[key], bool)
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES
        assert all(isinstance(t, str) for t in test.get("tags", []))
    json.dumps(data, allow_nan=False)  # strict JSON


@pytest.fixture(scope="module")
def batch(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Every notebook graded once as a batch with the fixed seed: its grades.csv rows
    and its grades.json records, by file name."""
    out = tmp_path_factory.mktemp("batch")
    grade(SUBMISSIONS, out, timeout=TIMEOUT, seed=SEED)
    with open(out / "grades.csv", encoding="utf-8", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    report = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    return rows, {r["submission"]: r for r in report["submissions"]}


def _words(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", text)


def _layout(tmp_path: Path, *notebooks: Path) -> Path:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    for nb in notebooks:
        shutil.copyfile(nb, root / "submission" / nb.name)
    return root


@pytest.mark.parametrize("notebook", SUBMISSIONS, ids=[p.stem for p in SUBMISSIONS])
def test_results_json_matches_the_batch_row_check_for_check(
    batch: Any, tmp_path: Path, notebook: Path
) -> None:
    rows, records = batch
    row, record = rows[notebook.name], records[notebook.name]
    root = _layout(tmp_path, notebook)
    run(root, seed=SEED, timeout=TIMEOUT)
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_shape(data)
    assert data["extra_data"]["status"] == row["status"]
    assert data["extra_data"]["sha256"] == row["sha256"]
    score = int(row["score"] or 0) + int(row["bonus"])
    assert data["score"] == score
    points = {c["id"]: c["points"] for c in record["details"]}
    tests = data["tests"]
    assert [t["tags"] for t in tests[: len(CHECKS)]] == [[c.id] for c in CHECKS]
    for check, test in zip(CHECKS, tests, strict=False):
        column = row[check.id]  # "1", "0", or "" when not judged
        assert test["status"] == ("passed" if column == "1" else "failed"), check.id
        assert test["score"] == points.get(check.id, 0), check.id
        assert test["max_score"] == DEFAULTS.weights[check.id]
        if column == "0":  # a failed check's feedback: its detail and hint, as on the page
            detail = next(c for c in record["details"] if c["id"] == check.id)
            assert test["output"].startswith(f"❌ {check.title}\n")
            # The detail holds what was measured (0.47 s of hold...), which varies by run.
            assert _words(detail["detail"]) in _words(test["output"])
            assert detail["hint"] in test["output"]
    stretch = tests[len(CHECKS)]
    assert len(tests) == len(CHECKS) + 1 and stretch["name"].startswith("Stretch goal")
    assert (stretch["score"], stretch["max_score"]) == (int(row["bonus"]), 0)
    assert stretch["status"] == ("passed" if row["stretch"] == "pass" else "failed")
    assert f"Sandbox: {row['sandbox']} (" in data["output"]
    assert "Rubric: default (sha256 " in data["output"]
    assert str(SEED) not in (root / "results" / "results.json").read_text(encoding="utf-8")


def test_the_scores_span_every_outcome(batch: Any) -> None:
    """The comparison above means something: the set holds passes, failures, and
    submissions that were never judged."""
    rows, _ = batch
    statuses = {r["status"] for r in rows.values()}
    assert {"ok", "error", "timeout", "child_died", "not_attempted"} <= statuses
    assert {r["score"] for r in rows.values()} >= {"10", "9", "5", "0"}
    assert any(r["stretch"] == "pass" for r in rows.values())


@pytest.mark.parametrize("count", [0, 2])
def test_none_or_several_notebooks_give_a_clear_results_json(tmp_path: Path, count: int) -> None:
    root = _layout(tmp_path, *SUBMISSIONS[:count])
    (root / "submission" / "notes.txt").write_text("my notes", encoding="utf-8")
    assert main(["gradescope", "run", "--root", str(root)]) == 0
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_shape(data)
    assert data["score"] == 0 and all(t["score"] == 0 for t in data["tests"])
    expected = "No notebook (.ipynb) was handed in" if count == 0 else "2 notebooks were handed in"
    assert data["output"].startswith(expected)


def test_a_folder_named_like_a_notebook_gives_a_clear_results_json(tmp_path: Path) -> None:
    root = _layout(tmp_path)
    (root / "submission" / "answer.ipynb").mkdir()
    assert main(["gradescope", "run", "--root", str(root)]) == 0
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_shape(data)
    assert data["score"] == 0 and "could not grade it" in data["output"]


def test_no_submission_folder_at_all(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    assert main(["gradescope", "run", "--root", str(root)]) == 0
    check_shape(json.loads((root / "results" / "results.json").read_text(encoding="utf-8")))


def test_run_autograders_command_with_a_teachers_rubric(tmp_path: Path) -> None:
    """The command run_autograder runs, as a process, with the seed from the
    environment and a rubric that hides a check and weighs blocking 3."""
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('name = "strict"\n[points]\nnon_blocking = 3\n'
                      '[students]\nhidden = ["non_blocking"]\nvisibility = "after_due_date"\n',
                      encoding="utf-8")  # fmt: skip
    root = _layout(tmp_path, HERE / "submissions" / "blocking_sleep.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "citylib", "gradescope", "run", "--root", str(root),
         "--rubric", str(rubric), "--timeout", str(TIMEOUT)],
        env={**os.environ, SEED_ENV: str(SEED)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_shape(data)
    assert data["score"] == 9 and data["visibility"] == "after_due_date"
    blocked = next(t for t in data["tests"] if t["tags"] == ["non_blocking"])
    assert (blocked["score"], blocked["max_score"], blocked["status"]) == (0, 3, "failed")
    assert blocked["visibility"] == "after_published"
    assert "time.sleep" not in blocked["output"]  # its detail and hint kept for later
    assert data["extra_data"]["rubric"]["name"] == "strict"
    assert f"Rubric: {parse(rubric.read_text()).label()}" in data["output"]
    assert "seed" not in json.dumps(data).lower() and str(SEED) not in json.dumps(data)


def test_a_malformed_rubric_is_refused_by_gradescope_run(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text("[points]\noverlap = -\n", encoding="utf-8")
    root = _layout(tmp_path)
    assert main(["gradescope", "run", "--root", str(root), "--rubric", str(rubric)]) == 2


def test_the_seed_option_is_not_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["gradescope", "run", "--help"])
    assert "--seed" not in capsys.readouterr().out


def test_the_bundle_holds_what_gradescope_runs(tmp_path: Path) -> None:
    rubric = tmp_path / "mine.toml"
    rubric.write_text('name = "mine"\n[points]\nnon_blocking = 2\n', encoding="utf-8")
    out = tmp_path / "autograder.zip"
    assert main(["gradescope", "bundle", str(out), "--rubric", str(rubric)]) == 0
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        wheels = [n for n in names if n.endswith(".whl")]
        assert {"setup.sh", "run_autograder", "rubric.toml"} <= set(names) and len(wheels) == 1
        assert all("/" not in n for n in names)  # at the zip's root, as Gradescope wants
        for script in ("setup.sh", "run_autograder"):
            mode = zf.getinfo(script).external_attr >> 16
            assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, script
            assert zf.read(script).startswith(b"#!/usr/bin/env bash\n")
        runner = zf.read("run_autograder").decode()
        assert "citylib gradescope run --root /autograder" in runner
        assert "--rubric /autograder/source/rubric.toml" in runner
        setup = zf.read("setup.sh").decode()
        assert f"pip install /autograder/source/{wheels[0]}" in setup
        assert "bubblewrap" in setup and "sys.version_info < (3, 11)" in setup
        assert zf.read("rubric.toml").decode() == rubric.read_text()
        (tmp_path / wheels[0]).write_bytes(zf.read(wheels[0]))
    for script in ("setup.sh", "run_autograder"):  # bash can parse them
        with zipfile.ZipFile(out) as zf:
            (tmp_path / script).write_bytes(zf.read(script))
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0


def test_the_bundled_wheel_installs_and_runs(tmp_path: Path) -> None:
    """The wheel pip installs on Gradescope, installed here apart (no dependencies:
    this venv has them) and run from there."""
    out = tmp_path / "autograder.zip"
    assert main(["gradescope", "bundle", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".whl"))
        (tmp_path / name).write_bytes(zf.read(name))
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(target), str(tmp_path / name)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert (target / "citylib" / "grading" / "templates" / "class.html.j2").is_file()
    assert list(target.glob("citylib-*.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import citylib; print(citylib.__file__)"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert where.stdout.strip() == str(target / "citylib" / "__init__.py")
    helped = subprocess.run(
        [sys.executable, "-m", "citylib", "gradescope", "run", "--help"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert helped.returncode == 0 and "--root" in helped.stdout
