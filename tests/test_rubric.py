"""The teacher's rubric: points per check, needs, the bonus, what students see.

The default rubric is today's weights and reproduces today's scores exactly; a
teacher's rubric (blocking worth 3) changes the scores of the same verdicts; every
page and grades.json say which rubric counted; a rubric breaking a teaching rule is
used with a warning that says so; a malformed one is refused, naming the line or key.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from citylib._cli import main
from citylib.grading import DEFAULTS
from citylib.grading._rubric import DEFAULT, RubricError, default_toml, load, parse

HERE = Path(__file__).parent
SUBMISSIONS = HERE / "submissions"
NAMES = ("correct_gather", "blocking_sleep", "sequential_awaits", "hard_coded_latency",
         "missing_source", "uncalled_sources")  # fmt: skip
#: Today's scores (tests/test_grading.py's EXPECTED), and the stretch bonus.
TODAY = {"correct_gather": 10, "blocking_sleep": 9, "sequential_awaits": 5,
         "hard_coded_latency": 9, "missing_source": 5, "uncalled_sources": 0}  # fmt: skip
SEED = 271828
TIMEOUT = 6.0

TEACHER = """
name = "blocking matters"
bonus = 2

[points]
non_blocking = 3

[students]
hidden = ["total_latency"]
hints = false
"""


def _grade(out: Path, rubric: str | None) -> dict[str, Any]:
    args = ["grade", *(str(SUBMISSIONS / f"{n}.ipynb") for n in NAMES), "--out", str(out),
            "--seed", str(SEED), "--timeout", str(TIMEOUT), "--quiet"]  # fmt: skip
    if rubric is not None:
        args += ["--rubric", rubric]
    assert main(args) == 0
    data: dict[str, Any] = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The same notebooks and seed under no rubric, the printed default, and a teacher's."""
    root = tmp_path_factory.mktemp("rubric")
    (root / "default.toml").write_text(default_toml(), encoding="utf-8")
    (root / "teacher.toml").write_text(TEACHER, encoding="utf-8")
    found = {}
    for kind, rubric in (("none", None), ("printed", str(root / "default.toml")),
                         ("teacher", str(root / "teacher.toml"))):  # fmt: skip
        found[kind] = (root / kind, _grade(root / kind, rubric))
    return found


def _by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(r["submission"]).stem: r for r in data["submissions"]}


def test_the_default_rubric_reproduces_todays_scores(graded: Any) -> None:
    for kind in ("none", "printed"):
        records = _by_name(graded[kind][1])
        assert {n: r["score"] for n, r in records.items()} == TODAY
        assert all(r["max_score"] == 10 for r in records.values())
        assert graded[kind][1]["rubric"]["name"] == "default"
    assert graded["none"][1]["rubric"] == graded["printed"][1]["rubric"]
    assert graded["none"][1]["rubric"]["sha256"] == DEFAULT.sha256


def test_a_teachers_rubric_changes_the_scores_of_the_same_verdicts(graded: Any) -> None:
    today, teacher = _by_name(graded["none"][1]), _by_name(graded["teacher"][1])
    for name in NAMES:  # the same file and seed: the same verdict
        assert teacher[name]["checks"] == today[name]["checks"], name
        assert teacher[name]["max_score"] == 12
    assert teacher["correct_gather"]["score"] == 12
    assert teacher["blocking_sleep"]["score"] == 9  # blocking now costs 3 of 12
    assert teacher["hard_coded_latency"]["score"] == 11
    assert teacher["sequential_awaits"]["score"] == 6  # capped at half of 12
    blocked = {c["id"]: c for c in teacher["blocking_sleep"]["details"]}["non_blocking"]
    assert (blocked["points"], blocked["max_points"]) == (0, 3)
    bonuses = {r["stretch"]: r["bonus"] for r in teacher.values() if r["stretch"]}
    assert bonuses.get("pass", 2) == 2 and all(b in (0, 2) for b in bonuses.values())
    csv = (graded["teacher"][0] / "canvas.csv").read_text(encoding="utf-8").splitlines()
    assert csv[1].endswith(",12")  # Points Possible


def test_every_page_names_the_rubric_used(graded: Any) -> None:
    out, data = graded["teacher"]
    label = f"blocking matters (sha256 {data['rubric']['sha256'][:12]})"
    pages = [out / "class.html", *sorted((out / "feedback").glob("*.html"))]
    assert len(pages) == len(NAMES) + 1
    for page in pages:
        assert f"Rubric: {label}" in page.read_text(encoding="utf-8"), page.name
    assert data["rubric"]["points"]["non_blocking"] == 3 and data["rubric"]["bonus"] == 2
    default_page = (graded["none"][0] / "class.html").read_text(encoding="utf-8")
    assert f"Rubric: default (sha256 {DEFAULT.sha256[:12]})" in default_page


def test_what_students_see_follows_the_rubric(graded: Any) -> None:
    out, data = graded["teacher"]
    page = (out / "feedback" / "hard_coded_latency.html").read_text(encoding="utf-8")
    record = _by_name(data)["hard_coded_latency"]
    latency = {c["id"]: c for c in record["details"]}["total_latency"]
    assert not latency["passed"] and latency["detail"] and latency["hint"]
    assert latency["title"] in page  # the check and its mark stay
    assert latency["detail"] not in page and latency["hint"] not in page  # hidden
    blocked = (out / "feedback" / "blocking_sleep.html").read_text(encoding="utf-8")
    hint = {c["id"]: c for c in _by_name(data)["blocking_sleep"]["details"]}["non_blocking"]
    assert hint["detail"] in blocked and hint["hint"] not in blocked  # hints = false
    today = (graded["none"][0] / "feedback" / "blocking_sleep.html").read_text(encoding="utf-8")
    assert hint["hint"] in today


def test_show_rubric_prints_a_valid_editable_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "--show-rubric"]) == 0
    text = capsys.readouterr().out
    data = tomllib.loads(text)
    assert data["points"] == DEFAULTS.weights and data["needs"] == DEFAULTS.needs
    assert data["bonus"] == 1 and data["cap_without_overlap"] == DEFAULTS.max_score // 2
    assert parse(text).record() == DEFAULT.record()
    assert parse(text).sha256 == DEFAULT.sha256  # the printed file is the default itself


@pytest.mark.parametrize(
    ("text", "warned"),
    [
        ("[points]\noverlap = 1\n", "points.overlap is 1 of 6: less than half"),
        ("[points]\nnon_blocking = -2\n", "points.non_blocking is -2: a check worth negative"),
        ("cap_without_overlap = 8\n", "cap_without_overlap is 8 of 10: more than half"),
        ("bonus = -1\n", "bonus is -1"),
    ],
)
def test_a_rubric_breaking_a_teaching_rule_is_used_with_a_warning(text: str, warned: str) -> None:
    rubric = parse(text)
    assert any(warned in w for w in rubric.warnings), rubric.warnings
    assert parse(default_toml()).warnings == ()


def test_the_cli_warns_and_grades_with_a_rule_breaking_rubric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = tmp_path / "cheap_overlap.toml"
    rubric.write_text('name = "cheap overlap"\n[points]\noverlap = 1\n', encoding="utf-8")
    code = main(["grade", str(SUBMISSIONS / "sequential_awaits.ipynb"), "--out",
                 str(tmp_path / "out"), "--rubric", str(rubric), "--seed", "5", "--quiet",
                 "--timeout", str(TIMEOUT)])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: the rubric breaks a teaching rule: points.overlap is 1 of 6" in err
    data = json.loads((tmp_path / "out" / "grades.json").read_text(encoding="utf-8"))
    assert data["submissions"][0]["score"] == 3  # one lane: half of 6, as the rubric says
    assert data["rubric"]["warnings"] and "less than half" in data["rubric"]["warnings"][0]
    page = (tmp_path / "out" / "class.html").read_text(encoding="utf-8")
    assert "This rubric breaks a teaching rule: points.overlap is 1 of 6" in page


def test_a_negative_check_never_makes_a_negative_score(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text("[points]\nnon_blocking = -20\n", encoding="utf-8")
    assert main(["grade", str(SUBMISSIONS / "correct_gather.ipynb"), "--out",
                 str(tmp_path / "out"), "--rubric", str(rubric), "--quiet",
                 "--timeout", str(TIMEOUT)]) == 0  # fmt: skip
    data = json.loads((tmp_path / "out" / "grades.json").read_text(encoding="utf-8"))
    assert data["submissions"][0]["score"] == 0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[points]\noverlap = \n", "line 2"),
        ("[points\n", "line 1"),
        ("[points]\noverlapp = 5\n", "points.overlapp: no such check"),
        ("[points]\noverlap = 2.5\n", "points.overlap: wants a whole number"),
        ('[points]\noverlap = "5"\n', "points.overlap: wants a whole number"),
        ("[points]\noverlap = true\n", "points.overlap: wants a whole number"),
        ("points = 3\n", "points: wants a table"),
        ("bonsu = 1\n", "bonsu: not a rubric key"),
        ('[needs]\npayloads = "payloads"\n', "needs.payloads: 'payloads' is not another check"),
        ('[needs]\npayloads = "speed"\n', "needs.payloads: 'speed' is not another check"),
        ('[students]\nhidden = ["nope"]\n', "students.hidden"),
        ('[students]\nvisibility = "sometimes"\n', "students.visibility"),
        ("[students]\nhints = 1\n", "students.hints"),
        ("[students]\nshow = true\n", "students.show: not a rubric key"),
        ('name = ""\n', "name: wants a non-empty string"),
    ],
)
def test_a_malformed_rubric_is_refused_naming_the_line_or_key(text: str, named: str) -> None:
    with pytest.raises(RubricError, match=None) as raised:
        parse(text)
    assert named in str(raised.value)


def test_the_cli_refuses_a_malformed_rubric_before_grading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = tmp_path / "broken.toml"
    rubric.write_text("[points]\noverlap = five\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["grade", str(SUBMISSIONS / "correct_gather.ipynb"), "--out", str(out),
                 "--rubric", str(rubric)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"citylib grade --rubric: {rubric}: not TOML" in err and "line 2" in err
    assert not (out / "grades.json").exists()
    with pytest.raises(RubricError, match="cannot read the rubric"):
        load(tmp_path / "missing.toml")
