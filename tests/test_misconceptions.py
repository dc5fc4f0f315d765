"""The class's misconceptions: every slip counted across the class, largest first, one
anonymised example's lanes each, and the notebook section that teaches it; the same
counts in grades.json. (tests/browser/test_misconceptions_page.py opens class.html.)"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from citylib._lessons import slips
from citylib.grading import grade
from citylib.grading._messages import CallSpan, DriveReport, GradeRecord
from citylib.grading._misconceptions import TAUGHT, count

HERE = Path(__file__).parent
NOTEBOOKS = HERE.parent / "notebooks"
NAMES = ("correct_gather", "blocking_sleep", "sequential_awaits", "hard_coded_latency",
         "uncalled_sources", "missing_source", "source_twice", "forged_verdict")  # fmt: skip


def _headings(notebook: str) -> set[str]:
    nb = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
    return {
        line.strip()
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith("#")
    }


def test_every_slip_has_a_section_that_teaches_it() -> None:
    ids = set(re.findall(r'Diagnosis\(\s*"([a-z_]+)"', Path(slips.__file__).read_text()))
    assert ids and ids <= set(TAUGHT), ids - set(TAUGHT)
    for slip, (name, (notebook, section)) in TAUGHT.items():
        assert name and section in _headings(notebook), (slip, notebook, section)


def _record(name: str, status: str, found: list[str], sha: str) -> GradeRecord:
    spans = [CallSpan("weather", 0.0, 0.0, 1.0)] if found else []
    drives = [DriveReport(0, "parallel_fetch", {"weather": 1.0}, spans, elapsed=1.0)]
    return GradeRecord(name, name, sha, status=status, slips=found, drives=drives)  # type: ignore[arg-type]


def test_count_is_per_submission_largest_first_with_a_stable_example() -> None:
    records = [
        _record("alice.ipynb", "ok", ["took_turns"], "c"),
        _record("bob.ipynb", "ok", ["blocked_loop", "took_turns", "took_turns"], "a"),
        _record("carol.ipynb", "error", ["uncalled_sources"], "b"),
        _record("dave.ipynb", "ok", [], "d"),
        _record("erin.ipynb", "timeout", ["never_finished"], "e"),  # not judged: not counted
    ]
    found = count(records)
    assert [(m.id, m.count) for m in found] == [
        ("took_turns", 2), ("blocked_loop", 1), ("uncalled_sources", 1),
    ]  # fmt: skip
    assert found[0].share == pytest.approx(2 / 4)
    assert found[0].example is not None and found[0].example.submission == "bob.ipynb"
    assert [m.id for m in count(list(reversed(records)))] == [m.id for m in found]
    assert found[0].to_dict() == {
        "id": "took_turns", "name": TAUGHT["took_turns"][0], "count": 2, "share": 0.5,
        "notebook": "01_traffic_jam.ipynb", "section": "The Async Highway Opens ✨",
    }  # fmt: skip
    assert count([]) == []


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("class")
    handed = tmp_path_factory.mktemp("handed")
    for i, name in enumerate(NAMES):  # students' names, none of them a slip's
        shutil.copyfile(HERE / "submissions" / f"{name}.ipynb", handed / f"pupil{i:02d}.ipynb")
    grade(sorted(handed.glob("*.ipynb")), out, timeout=6.0, seed=11)
    return out, json.loads((out / "grades.json").read_text(encoding="utf-8"))


def test_grades_json_counts_every_diagnosis_of_the_class(reports: Any) -> None:
    _, data = reports
    made: dict[str, int] = {}
    for r in data["submissions"]:
        assert len(r["slips"]) == len(r["diagnosis"])  # each diagnosis kept by id
        for slip in set(r["slips"]):
            made[slip] = made.get(slip, 0) + 1
    table = data["misconceptions"]
    assert {m["id"]: m["count"] for m in table} == made
    assert [m["count"] for m in table] == sorted(made.values(), reverse=True)
    by_id = {m["id"]: m for m in table}
    for slip in ("took_turns", "blocked_loop", "hard_coded_latency", "uncalled_sources"):
        assert slip in by_id, slip
    assert by_id["blocked_loop"]["notebook"] == "02_await.ipynb"
    judged = sum(r["status"] in ("ok", "error") for r in data["submissions"])
    assert by_id["took_turns"]["share"] == round(by_id["took_turns"]["count"] / judged, 4)


def test_class_html_shows_the_table_with_anonymised_examples(reports: Any) -> None:
    out, data = reports
    page = (out / "class.html").read_text(encoding="utf-8")
    start = page.index("<h2>The class's misconceptions</h2>")
    table = page[start : page.index("</table>", start)]
    rows = table.count("<tr>") - 1
    assert rows == len(data["misconceptions"])
    positions = [table.index(f"<code>{m['id']}</code>") for m in data["misconceptions"]]
    assert positions == sorted(positions)  # largest first, as grades.json
    for m in data["misconceptions"]:
        assert m["section"] in table
        assert f"notebooks/{m['notebook']}" in table
    drawn = {  # a slip with a call made in some submission's first drive has its example
        slip
        for r in data["submissions"]
        if r["drives"] and r["drives"][0]["spans"]
        for slip in r["slips"]
    }
    assert table.count("<svg") == len(drawn) > 0
    assert table.count("— (no call was made)") == rows - len(drawn)
    for r in data["submissions"]:  # anonymised: no submission's name
        assert Path(r["submission"]).stem not in table
