"""A notebook open in JupyterLab, driven the way a learner drives it.

Clicks go through the lab's own menus and the widgets' own buttons. What the test
then *reads* (cell outputs, kernel state, messages from widget callbacks) comes from
the lab's models through ``window.jupyterapp`` (the server runs with
``--LabApp.expose_app_in_browser``), which is exact where screen text is not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import ElementHandle, Locator, Page

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_ERRORS = ("Error displaying widget", "Error creating widget", "Could not create view")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_SCREENSHOT_HEIGHT = 16000  # chromium's limit for one capture

_PANEL = "window.jupyterapp.shell.currentWidget"

JS_KERNEL_STATUS = f"() => {_PANEL}?.sessionContext?.session?.kernel?.status ?? null"

JS_LISTEN_IOPUB = f"""() => {{
  const kernel = {_PANEL}.sessionContext.session.kernel;
  window.__citylibIopub = [];
  kernel.iopubMessage.connect((_, msg) => {{
    const type = msg.header.msg_type;
    if (type !== 'error' && !(type === 'stream' && msg.content.name === 'stderr')) return;
    window.__citylibIopub.push({{
      type,
      parent: msg.parent_header?.msg_type ?? null,
      text: type === 'error'
        ? msg.content.traceback.join('\\n') || `${{msg.content.ename}}: ${{msg.content.evalue}}`
        : msg.content.text,
    }});
  }});
}}"""

JS_PROGRESS = f"""() => {{
  const panel = {_PANEL};
  const cells = panel.content.widgets;
  const busy = [];
  cells.forEach((cell, index) => {{
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    if (prompt && prompt.textContent.includes('[*]')) busy.push(index);
  }});
  return {{kernel: panel.sessionContext.session?.kernel?.status ?? null, busy}};
}}"""

# Per cell: the model's outputs (trimmed) and, for each, what the page shows.
JS_CELLS = f"""(errorTexts) => {{
  const panel = {_PANEL};
  return panel.content.widgets.map((cell, index) => {{
    const model = cell.model;
    const info = {{index, type: model.type, count: null, source: model.sharedModel.getSource(),
                  outputs: []}};
    if (model.type !== 'code') return info;
    info.count = model.executionCount;
    const shown = [...cell.node.querySelectorAll(
      ':scope .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output')];
    for (let i = 0; i < model.outputs.length; i++) {{
      const out = model.outputs.get(i).toJSON();
      const node = shown[i];
      const pageText = node ? node.innerText : '';
      info.outputs.push({{
        output_type: out.output_type,
        name: out.name ?? null,
        text: out.output_type === 'stream' ? String(out.text).slice(0, 2000) : null,
        error: out.output_type === 'error'
          ? [`${{out.ename}}: ${{out.evalue}}`, ...(out.traceback ?? [])].join('\\n').slice(0, 3000)
          : null,
        mimes: Object.keys(out.data ?? {{}}),
        widget: !!(out.data && out.data['{WIDGET_MIME}']),
        rendered_widget: !!node && (node.classList.contains('jupyter-widgets')
          || !!node.querySelector('.jupyter-widgets')),
        widget_error: errorTexts.some((t) => pageText.includes(t)),
        page_text: pageText.slice(0, 300),
      }});
    }}
    return info;
  }});
}}"""

# The picture and the status line that belong with a toggle (same widget, same output).
JS_TOGGLE_STATE = """(toggle) => {
  const scope = toggle.closest('.citylib-widget')
    || toggle.closest('.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output');
  const inToggle = (el) => toggle.contains(el) || el.contains(toggle);
  let chart = scope.querySelector('.citylib-chart');
  const chartHook = !!chart;
  if (!chart) chart = scope.querySelector('img');
  let pictures = '';
  if (chart) {
    const imgs = chart.tagName === 'IMG' ? [chart] : [...chart.querySelectorAll('img')];
    const canvases = [...chart.querySelectorAll('canvas')];
    pictures = imgs.map((i) => i.src).join('|')
      + canvases.map((c) => c.toDataURL()).join('|')
      || chart.innerHTML;
  }
  let status = [...scope.querySelectorAll('.citylib-status')];
  const statusHook = status.length > 0;
  if (!statusHook) {
    status = [...scope.querySelectorAll('.widget-html, .widget-htmlmath, .widget-label')]
      .filter((el) => !inToggle(el) && el.offsetParent !== null);
  }
  return {
    chart: chart ? pictures : null,
    status: status.length ? status.map((el) => el.innerText.trim()).join(' | ') : null,
    chart_hook: chartHook,
    status_hook: statusHook,
  };
}"""

# Shown = laid out, not hidden, not transparent, and really on top at its centre.
JS_SHOWN = """(el) => {
  const rect = el.getBoundingClientRect();
  if (!el.getClientRects().length || rect.width < 2 || rect.height < 2) return false;
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    if (parseFloat(style.opacity) < 0.5) return false;
  }
  const x = Math.min(Math.max(rect.left + rect.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(rect.top + rect.height / 2, 0), innerHeight - 1);
  const top = document.elementFromPoint(x, y);
  return !!top && (el === top || el.contains(top));
}"""


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` real seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_steady(read: Callable[[], Any], hold: float, timeout: float) -> tuple[Any, bool]:
    """Read until the value stays the same for ``hold`` seconds; (last value, settled)."""
    deadline = time.monotonic() + timeout
    value = read()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= hold:
            return value, True
    return value, False


@dataclass
class RunReport:
    """What happened when the notebook ran."""

    finished: bool = False
    seconds: float = 0.0
    busy_cells: list[int] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)


class LabNotebook:
    """One notebook open in its own browser page."""

    def __init__(self, page: Page, url: str) -> None:
        """``url``: the page that opens the notebook (``labserver.notebook_url``)."""
        self.page = page
        self.url = url
        self.console: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console.append(f"console.error: {message.text[:500]}")

    # -- opening and running -------------------------------------------------------

    def open(self, kernel_timeout: float = 60) -> None:
        page = self.page
        page.goto(self.url)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        page.wait_for_function(
            f"() => {_PANEL}?.sessionContext?.session?.kernel?.status === 'idle'"
            " || !!document.querySelector('.jp-Dialog')",
            timeout=kernel_timeout * 1000,
        )
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            raise AssertionError(f"a dialog blocks the notebook: {dialog.first.inner_text()!r}")
        # JupyterLab: close the file browser for room. Notebook 7 opens without one.
        page.evaluate(
            """() => {
              const app = window.jupyterapp;
              if (!app.shell.leftCollapsed
                  && app.commands.hasCommand('application:toggle-left-area')) {
                return app.commands.execute('application:toggle-left-area');
              }
            }"""
        )
        page.evaluate(JS_LISTEN_IOPUB)

    def run_all(self, timeout: float) -> RunReport:
        """Clear old outputs, then Run → Run All Cells; wait for idle with no ``[*]``."""
        page = self.page
        # Stale committed outputs would otherwise stand in for fresh ones while cells queue.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel").get_by_text(
            "Run All Cells", exact=True
        ).click()
        started = time.monotonic()
        report = RunReport()
        progress: dict[str, Any] = {}

        def settled() -> bool:
            nonlocal progress
            progress = page.evaluate(JS_PROGRESS)
            return progress["kernel"] == "idle" and not progress["busy"]

        # Idle between two cells is not the end: require it three polls running.
        deadline = started + timeout
        streak = 0
        while time.monotonic() < deadline and streak < 3:
            streak = streak + 1 if settled() else 0
            time.sleep(0.25)
        report.finished = streak >= 3
        report.seconds = time.monotonic() - started
        report.busy_cells = list(progress.get("busy", []))
        report.cells = self.cells()
        return report

    def cells(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(JS_CELLS, list(WIDGET_ERRORS))
        return result

    def iopub_problems(self) -> list[dict[str, Any]]:
        """Errors and stderr the kernel sent since the notebook opened, with their cause."""
        result: list[dict[str, Any]] = self.page.evaluate("() => window.__citylibIopub")
        return result

    def kernel_status(self) -> str | None:
        status: str | None = self.page.evaluate(JS_KERNEL_STATUS)
        return status

    # -- reading widgets -----------------------------------------------------------

    def toggle_state(self, toggle: ElementHandle) -> dict[str, Any]:
        state: dict[str, Any] = toggle.evaluate(JS_TOGGLE_STATE)
        return state

    def shown(self, element: ElementHandle | Locator) -> bool:
        return bool(element.evaluate(JS_SHOWN))

    def widget_errors_shown(self) -> int:
        """How many times the notebook shows a widget error such as "Error displaying widget"."""
        text = self.page.locator(".jp-NotebookPanel").inner_text()
        return sum(text.count(t) for t in WIDGET_ERRORS)

    # -- pictures ------------------------------------------------------------------

    def screenshot_notebook(self, path: Path) -> None:
        """The whole notebook in one picture: grow the window to the notebook's height.

        Cells outside the window are not laid out (``content-visibility: auto``) and
        count with a guessed height, so the window grows until nothing is left below.
        """
        page = self.page
        size = page.viewport_size or {"width": 1400, "height": 900}
        height = size["height"]
        try:
            for _ in range(6):
                hidden: int = page.evaluate(
                    f"""() => {{
                      const scroller = {_PANEL}.node.querySelector('.jp-WindowedPanel-outer');
                      scroller.scrollTop = 0;
                      return scroller.scrollHeight - scroller.clientHeight;
                    }}"""
                )
                if hidden <= 0 or height >= MAX_SCREENSHOT_HEIGHT:
                    break
                height = min(height + hidden + 40, MAX_SCREENSHOT_HEIGHT)
                page.set_viewport_size({"width": size["width"], "height": height})
                page.wait_for_timeout(600)  # relayout, images decode
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(size)
            page.wait_for_timeout(300)

    def screenshot_element(self, element: ElementHandle | Locator, path: Path) -> None:
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(path))
