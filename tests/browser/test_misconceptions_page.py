"""class.html for tests/submissions, opened in headless Chromium: the misconceptions
table and its lane charts are there, drawn, largest first, with no student's name.

The screenshot lands in test-artifacts/browser/class-misconceptions.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from citylib.grading import grade

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SUBMISSIONS = sorted((Path(__file__).parents[1] / "submissions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("class")
    grade(SUBMISSIONS, out, timeout=6.0, seed=4242)
    return out, json.loads((out / "grades.json").read_text(encoding="utf-8"))


def test_the_class_page_shows_the_misconceptions_and_their_charts(
    browser: Browser, graded: Any, artifacts_dir: Path
) -> None:
    out, data = graded
    table = data["misconceptions"]
    assert table
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto((out / "class.html").as_uri(), wait_until="load")
        heading = page.get_by_role("heading", name="The class's misconceptions")
        assert heading.is_visible()
        seen = page.evaluate(
            """() => {
                const t = document.querySelector('table.misconceptions');
                const rows = [...t.querySelectorAll('tr')].slice(1);
                return rows.map(r => {
                    const svg = r.querySelector('svg');
                    const box = svg ? svg.getBoundingClientRect() : null;
                    return {
                        id: r.querySelector('code').textContent,
                        count: r.cells[1].textContent,
                        taught: r.cells[3].textContent,
                        drawn: box ? box.width > 100 && box.height > 20 : false,
                        lanes: svg ? svg.querySelectorAll('rect').length : 0,
                        text: r.textContent,
                    };
                });
            }"""
        )
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "class-misconceptions.png"), full_page=True)
        section = page.locator("table.misconceptions")
        section.screenshot(path=str(artifacts_dir / "class-misconceptions-table.png"))
    finally:
        context.close()
    assert not errors
    assert [s["id"] for s in seen] == [m["id"] for m in table]
    assert [int(s["count"].split()[0]) for s in seen] == [m["count"] for m in table]
    for s, m in zip(seen, table, strict=True):
        assert m["notebook"] in s["taught"] and m["section"] in s["taught"]
    assert sum(s["drawn"] for s in seen) >= len(seen) // 2  # most rows have their chart
    assert all(s["lanes"] > 0 for s in seen if s["drawn"])
    names = [Path(r["submission"]).stem for r in data["submissions"]]
    for s in seen:  # anonymised: no student's file name in a row (slip ids aside)
        text = s["text"].replace(s["id"], "")
        assert not [n for n in names if n in text and n not in {x["id"] for x in table}]
    lines = [f"{m['count']:>3}  {m['id']}: {m['name']} — {m['notebook']} § {m['section']}"
             for m in table]  # fmt: skip
    (artifacts_dir / "class-misconceptions.txt").write_text("\n".join(lines) + "\n")
