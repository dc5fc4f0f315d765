"""One JupyterLab server and one headless Chromium for the browser tests."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from labserver import (
    CHROMIUM_ARGS,
    Lab,
    browser_unavailable,
    committed,
    find_chromium,
    running_lab,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/browser/``: screenshots, per-notebook summaries, the lab's log."""
    path = request.config.rootpath / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium; fails on CI, skips elsewhere, when it is missing."""
    path = find_chromium()
    if path is None:
        where = os.environ.get("CITYLIB_CHROMIUM") or "`chromium` on PATH, /usr/bin/chromium"
        browser_unavailable(f"chromium not found (looked for {where})")
    assert path is not None
    return path


# Module scope, not session: Playwright's sync API keeps an event loop running in
# the main thread while it is started, and every later test calling asyncio.run()
# would fail with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless chromium for the browser tests, driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is missing (pip install -e '.[test]')")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _serve(app: str, log: Path) -> Iterator[Lab]:
    # A folder of our own, not pytest's numbered tmp dirs: another pytest run on the
    # same machine may prune those while this lab still serves from one.
    with (
        tempfile.TemporaryDirectory(prefix=f"citylib-{app}-", ignore_cleanup_errors=True) as home,
        running_lab(Path(home), log, app=app) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def lab(artifacts_dir: Path, chromium_path: str) -> Iterator[Lab]:
    """One JupyterLab for the browser tests (started only when a browser is there to drive it)."""
    yield from _serve("lab", artifacts_dir / "jupyterlab.log")


@pytest.fixture(scope="module")
def notebook7(artifacts_dir: Path, chromium_path: str) -> Iterator[Lab]:
    """One Jupyter Notebook 7 server, for the notebooks also checked there."""
    yield from _serve("notebook", artifacts_dir / "notebook7.log")


#: The interaction tests, and the widget calls in a notebook's code that make each apply.
FEATURE_TESTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "test_toggles_change_chart_and_status": (
        "toggle",
        ("HighwayToggle(", "AwaitToggle(", "ChatbotToggle("),
    ),
    "test_run_buttons_redraw": ("button", ("RaceWidget(",)),
    "test_glossary_tips_show_on_hover": ("keyword", ("glossary(",)),
    "test_surge_on_async_route": ("surge", ("SurgeGame(",)),
    # The stepper's player: ``film.widget()`` (Film.widget is citylib's only ``widget()``).
    "test_stepper_players_step_through_turns": ("stepper", (".widget()",)),
}


def _builds(relpath: str, calls: tuple[str, ...]) -> bool:
    nb = json.loads(committed(relpath).read_text(encoding="utf-8"))
    code = "\n".join("".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code")
    return any(call in code for call in calls)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect an interaction test where the notebook builds no such widget.

    Deselected, not skipped: it does not apply there. A notebook that must offer the
    feature (``REQUIRED``) always keeps its test, which then fails if the widget is gone.
    """
    keep, drop = [], []
    for item in items:
        feature = FEATURE_TESTS.get(getattr(item, "originalname", ""))
        callspec = getattr(item, "callspec", None)
        target = callspec.params.get("run") if callspec is not None else None
        relpath = target[1] if isinstance(target, tuple) else None  # (app, relpath)
        if feature is None or not isinstance(relpath, str):
            keep.append(item)
            continue
        name, calls = feature
        required = item.module.requires(relpath, name)  # type: ignore[union-attr]
        (keep if required or _builds(relpath, calls) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
