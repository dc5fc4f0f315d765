"""CI's helper that picks the newest Python to run the suite under a second time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEWEST = ROOT / ".ci" / "newest-python"


def _version(python: str) -> tuple[int, int]:
    out = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_newest_python_is_newer_than_the_default_and_runs() -> None:
    done = subprocess.run(
        ["bash", str(NEWEST)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = done.stdout.strip()
    if not found:
        pytest.skip("no Python newer than python3 on this machine (CI then runs once)")
    assert Path(found).is_absolute() and Path(found).is_file(), found
    assert _version(found) > _version("python3")
