"""The grader's pages, opened in headless Chromium: no student-controlled markup runs.

A class of hostile records (markup, ``</script>``, ``javascript:`` links, event
handlers, bidi overrides in every field a student controls: the file name, what it
printed, its error, its notes, the failing line, the stretch status, a source's name)
and one really graded notebook that prints such markup are written as reports; every
page is opened as a teacher would (``file://``) and must run no script, fire no
handler, open no dialog, fetch nothing, and hold no element the grader did not write.
Each page is opened twice: as written (its Content-Security-Policy in force) and with
that policy cut out, so the escaping alone is shown to hold.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from citylib import _cli as cli
from citylib.grading import BatchReport
from citylib.grading._messages import CallSpan, CheckOutcome, DriveReport, GradeRecord
from citylib.grading._report import write_reports

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

HERE = Path(__file__).parent
SUBMISSIONS = HERE.parent / "submissions"

#: Each payload sets window.__pwned if it ever runs.
PAYLOADS = (
    "<script>window.__pwned='script'</script>",
    "</pre></code></title></style><script>window.__pwned='closed'</script>",
    "<img src=x onerror=\"window.__pwned='img'\">",
    '"><svg onload="window.__pwned=\'attr\'"><',
    "' onmouseover='window.__pwned=\"single\"' x='",
    "<a id=lure href=\"javascript:window.__pwned='link'\">click</a>",
    "<iframe srcdoc=\"<script>parent.__pwned='frame'</script>\"></iframe>",
    "<style>body{background:url(https://evil.example/x)}</style>",
    "<meta http-equiv=refresh content=\"0;url=javascript:window.__pwned='meta'\">",
    "\u202e<b>reversed</b>",
)
HOSTILE = "".join(PAYLOADS)
#: The pages screenshotted into test-artifacts/browser/ (report-*.png).
SHOWN = ("class", "prints", "script_window")

#: Elements a report may hold; anything else came from a student.
ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "i", "code",
    "pre", "ul", "li", "table", "tr", "th", "td", "span", "br", "div", "a", "img", "bdi",
    "svg", "defs", "pattern", "rect", "line", "text", "g", "tbody",
}  # fmt: skip

PRINTS = """import asyncio

from citylib import clock, sprint

print({hostile!r})


async def parallel_fetch(sources=None) -> dict:
    if sources is None:
        sources = sprint.default_sources()
    start = clock.now()
    names = list(sources)
    answers = await asyncio.gather(*(sources[name]() for name in names))
    merged = dict(zip(names, answers))
    merged["total_latency"] = clock.now() - start
    return merged
"""


def hostile_record(name: str) -> GradeRecord:
    drive = DriveReport(
        0, HOSTILE, {"weather": 1.0}, [CallSpan(HOSTILE, 0.0, 0.1, 1.0)], elapsed=1.1,
        reported=math.inf, outcome="returned", calls_span=1.0,
    )  # fmt: skip
    check = CheckOutcome("overlap", HOSTILE, False, HOSTILE, HOSTILE, 0, 5)
    return GradeRecord(
        name, name, "0" * 64, status="ok", score=5, error=HOSTILE, failing_line=HOSTILE,
        notes=[HOSTILE], output=HOSTILE, diagnosis=[HOSTILE], details=[check],
        stretch="fail", stretch_details=[check], stretch_drives=[drive], drives=[drive],
        sandbox=HOSTILE, grader_version=HOSTILE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("report-pages")
    names = [f"{p}.ipynb" for p in PAYLOADS] + ["javascript:window.__pwned='name'.ipynb"]
    records = [hostile_record(n) for n in names]
    report = BatchReport(HOSTILE, 1, HOSTILE, True, 1, 1.0, 60.0, 8.0, 20.0, shard=HOSTILE,
                         counts={HOSTILE: 1}, submissions=records)  # fmt: skip
    write_reports(report, root / "made", problems=[HOSTILE])
    # One really graded: what it prints reaches its page through the whole grader.
    nb = json.loads((SUBMISSIONS / "correct_gather.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parallel-fetch-sprint" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = PRINTS.format(hostile=HOSTILE)
    graded = root / "class" / "prints.ipynb"
    graded.parent.mkdir()
    graded.write_text(json.dumps(nb), encoding="utf-8")
    assert cli.main(["grade", str(graded), "--out", str(root / "graded"), "--quiet"]) == 0
    found = sorted(root.glob("*/feedback/*.html")) + sorted(root.glob("*/class.html"))
    assert len(found) == len(names) + 3
    return found


def _open(browser: Browser, path: Path, shots: Path | None) -> dict[str, object]:
    context = browser.new_context(java_script_enabled=True)
    page = context.new_page()
    seen: dict[str, list[str]] = {"dialogs": [], "requests": [], "errors": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.mouse.move(5, 5)
        for link in page.query_selector_all("a"):  # a lure hovered: nothing may run
            if link.is_visible():
                link.hover(timeout=2000)
        page.wait_for_timeout(200)
        state = page.evaluate(
            """() => ({
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
                tags: [...new Set([...document.querySelectorAll('*')].map(e => e.localName))],
                handlers: [...document.querySelectorAll('*')].flatMap(e =>
                    [...e.attributes].filter(a => a.name.startsWith('on')).map(a => a.name)),
                hrefs: [...document.querySelectorAll('[href]')].map(e => e.getAttribute('href')),
                images: [...document.images].map(i => i.src.slice(0, 22)),
                url: location.href,
                lure: document.querySelectorAll('#lure, iframe, [srcdoc]').length,
                text: document.body.innerText,
            })"""
        )
        if shots is not None:
            page.screenshot(path=str(shots), full_page=True)
    finally:
        context.close()
    return {**state, **seen}


def _without_policy(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    cut = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text, count=1)
    assert cut != text
    bare = path.with_name(path.stem + ".no-csp.html")
    bare.write_text(cut, encoding="utf-8")
    return bare


@pytest.mark.parametrize("policy", ["csp", "no-csp"])
def test_hostile_pages_run_no_student_markup(
    browser: Browser, pages: list[Path], artifacts_dir: Path, policy: str
) -> None:
    for path in pages:
        target = path if policy == "csp" else _without_policy(path)
        batch = path.parent.name if path.stem == "class" else path.parent.parent.name
        shot = artifacts_dir / f"report-{batch}-{path.stem[:24]}-{policy}.png"
        state = _open(browser, target, shot if path.stem.startswith(SHOWN) else None)
        where = f"{path} ({policy})"
        assert state["pwned"] is None, where
        assert state["dialogs"] == [] and state["errors"] == [], where
        assert set(state["tags"]) <= ALLOWED, (where, set(state["tags"]) - ALLOWED)  # type: ignore[arg-type]
        assert state["handlers"] == [] and state["lure"] == 0, where
        # The student's text is shown, as text: the payloads read as they were written
        # (the graded class's page has none: it shows no printed output).
        shown = (
            None if path.parent.name == "graded" and path.stem == "class" else str(state["text"])
        )
        assert shown is None or "<script>window.__pwned='script'</script>" in shown, where
        assert all(h.startswith(("feedback/", "#")) for h in state["hrefs"]), where  # type: ignore[attr-defined]
        assert all(i.startswith("data:image/png") for i in state["images"]), where  # type: ignore[attr-defined]
        assert state["url"] == target.as_uri(), where  # no refresh, no navigation
        assert state["requests"] == [target.as_uri()], (where, state["requests"])
