"""A throwaway JupyterLab server for the browser tests, and where to find chromium.

The lab serves a temporary copy of ``notebooks/`` with autosave off, so running
cells never writes to a committed notebook. The copy is trusted (``jupyter trust``,
as ``make lab`` does), so committed outputs keep their ``<style>`` from the first
look. The same harness serves Jupyter Notebook 7 (``app="notebook"``), whose pages
are built from JupyterLab's parts. Its kernels inherit ``CITYLIB_SPEED``
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


def committed(relpath: str) -> Path:
    """The committed file of ``relpath``: ``solutions/NAME`` is the teacher's, in ``solutions/``."""
    if relpath.startswith("solutions/"):
        return REPO / relpath
    return notebooks_source() / relpath


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
    app: str = "lab"  # or "notebook": Jupyter Notebook 7
    env: dict[str, str] = field(default_factory=dict)  # the server's (and trust's) environment
    _cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API (no token; the XSRF cookie the lab page sets)."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        if method != "GET" and not self._xsrf():
            home = "tree" if self.app == "notebook" else "lab"  # a page that sets the cookie
            opener.open(f"{self.url}/{home}", timeout=10).close()
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
    # Notebook signatures (jupyter trust) go to a database of the test's own.
    env["JUPYTER_DATA_DIR"] = str(home / "data")
    return env


#: What each app's server is called on the command line, and where it opens a notebook.
APPS: dict[str, tuple[str, str]] = {
    "lab": ("jupyterlab", "LabApp"),
    "notebook": ("notebook", "JupyterNotebookApp"),
}


def notebook_url(app: str, base: str, relpath: str) -> str:
    """The page that opens ``notebooks/RELPATH`` in ``app``."""
    if app == "notebook":
        return f"{base}/notebooks/notebooks/{relpath}"
    return f"{base}/lab/tree/notebooks/{relpath}?reset"


def trust(paths: list[Path], env: dict[str, str]) -> None:
    """``jupyter trust`` the notebooks, as ``make lab`` does before opening them."""
    subprocess.run(
        [sys.executable, "-m", "jupyter", "trust", *map(str, paths)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def is_trusted(path: Path, env: dict[str, str]) -> bool:
    """Whether the notebook's signature is in the (test's own) trust database."""
    done = subprocess.run(
        [sys.executable, "-c", _IS_TRUSTED, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip() == "True"


_IS_TRUSTED = """
import sys, nbformat
from nbformat.sign import NotebookNotary
print(NotebookNotary().check_signature(nbformat.read(sys.argv[1], as_version=4)))
"""


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
def running_lab(home: Path, log: Path, app: str = "lab") -> Iterator[Lab]:
    """JupyterLab (or Notebook 7) on 127.0.0.1, a free port, no token, serving a trusted
    copy of the notebooks.

    ``home`` (an empty folder) receives the copy, the settings and Jupyter's runtime
    files; the server's output goes to ``log``. The server stops when the block ends,
    however it ends.
    """
    module, config = APPS[app]
    root = home / "root"
    shutil.copytree(
        notebooks_source(),
        root / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    # notebooks/ alone, as a hub or a download gets it (nothing beside it is read); the
    # teacher's notebooks ride along in a folder of the copy, to be run the same way.
    (root / "notebooks" / "solutions").mkdir()
    for solved in sorted((REPO / "solutions").glob("*.ipynb")):
        shutil.copy2(solved, root / "notebooks" / "solutions" / solved.name)
    env = _lab_environment(home)
    trust(sorted((root / "notebooks").rglob("*.ipynb")), env)
    _write_settings(home / "settings")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", module,
        "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        # window.jupyterapp: the tests read cell models and kernel state from it.
        f"--{config}.expose_app_in_browser=True",
        f"--{config}.user_settings_dir={home / 'settings'}",
        f"--{config}.workspaces_dir={home / 'workspaces'}",
    ]  # fmt: skip
    if app == "lab":  # Notebook 7 has neither setting
        command += [
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels share a process group we can end
        )
        lab = None
        try:
            _wait_until_up(url, process, log)
            lab = Lab(url=url, root=root, log=log, app=app, env=env)
            yield lab
        finally:
            _stop(process, lab)
