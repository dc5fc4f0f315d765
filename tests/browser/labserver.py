"""A throwaway JupyterLab server for the browser tests, and where to find chromium.

The lab serves a temporary copy of ``notebooks/`` with autosave off, so running
cells never writes to a committed notebook. Its kernels inherit ``CITYLIB_SPEED``
(the root conftest sets 20) so the city runs fast, and they get no ``MPLBACKEND``,
so charts render inline exactly as they do in a learner's lab.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Flags verified with Debian's chromium as root in a container (DESIGN.md).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAB_START_TIMEOUT = 90.0
LAB_STOP_TIMEOUT = 20.0

#: JupyterLab user settings for the test lab: no news toast to cover what we hover,
#: no update check, no autosave (nothing is ever written back).
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # No blank page after the last cell, so a screenshot of the notebook ends with it.
    "@jupyterlab/notebook-extension/tracker": {"scrollPastEnd": False},
}


def notebooks_source() -> Path:
    """The folder whose notebooks are checked: ``notebooks/``, or a scratch folder.

    ``CITYLIB_BROWSER_NOTEBOOKS`` points the harness at another folder laid out like
    ``notebooks/`` (used to develop the harness itself).
    """
    override = os.environ.get("CITYLIB_BROWSER_NOTEBOOKS", "").strip()
    return Path(override).resolve() if override else REPO / "notebooks"


def find_chromium() -> str | None:
    """Debian's chromium (``CITYLIB_CHROMIUM`` overrides); Playwright cannot download one here."""
    override = os.environ.get("CITYLIB_CHROMIUM", "").strip()
    if override:
        return override if Path(override).is_file() else None
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def browser_unavailable(reason: str) -> None:
    """Fail on CI (where ``.ci/run`` installs chromium), skip on a laptop without one."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install chromium` to run tests/browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Lab:
    """A running JupyterLab: its address and the folder it serves."""

    url: str
    root: Path
    log: Path
    _cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API (no token; the XSRF cookie the lab page sets)."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        if method != "GET" and not self._xsrf():
            opener.open(f"{self.url}/lab", timeout=10).close()
        request = urllib.request.Request(f"{self.url}{path}", method=method)
        if method != "GET":
            request.add_header("X-XSRFToken", self._xsrf())
        with opener.open(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _xsrf(self) -> str:
        return next((c.value or "" for c in self._cookies if c.name == "_xsrf"), "")

    def shutdown_kernels(self) -> None:
        """End every session's kernel, so a notebook's servers never outlive its test."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def _lab_environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CITYLIB_SPEED"] = os.environ.get("CITYLIB_SPEED", "20")
    env.pop("MPLBACKEND", None)
    env["JUPYTER_CONFIG_DIR"] = str(home / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    env["IPYTHONDIR"] = str(home / "ipython")
    return env


def _log_tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab not up after {LAB_START_TIMEOUT:.0f} s:\n{_log_tail(log)}")


def _stop(process: subprocess.Popen[bytes], lab: Lab | None) -> None:
    """Ask the server to shut down (it ends its kernels), then make sure of it."""
    if process.poll() is None:
        if lab is None:  # never came up: nothing to ask
            process.terminate()
        else:
            with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                lab.api("POST", "/api/shutdown")
    try:
        process.wait(timeout=LAB_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Kernels run in the server's process group; end any straggler of ours.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def running_lab(home: Path, log: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1, a free port, no token, serving a copy of the notebooks.

    ``home`` (an empty folder) receives the copy, the settings and Jupyter's runtime
    files; the server's output goes to ``log``. The server stops when the block ends,
    however it ends.
    """
    root = home / "root"
    shutil.copytree(
        notebooks_source(),
        root / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    _write_settings(home / "settings")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # window.jupyterapp: the tests read cell models and kernel state from it.
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=_lab_environment(home),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels share a process group we can end
        )
        lab = None
        try:
            _wait_until_up(url, process, log)
            lab = Lab(url=url, root=root, log=log)
            yield lab
        finally:
            _stop(process, lab)
