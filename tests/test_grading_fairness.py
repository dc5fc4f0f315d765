"""Fairness: an honest submission's verdict never depends on what else is in the batch.

Honest answers are graded beside hostile neighbours (floods of frames during and after
the drives, two notebooks of 120,000 import cells above the answer, a loop that never
ends, loops held by time.sleep and in their own epoll), with --workers 4 as a class
would, three times: every honest verdict is the same each time, and full marks, and
each neighbour gets its own. 120,000 cells (12 MB) is about the least that still cost
honest answers their points before the judge read large notebooks apart and capped the
imports (60,000 did not, in two runs); the whole test takes about 30 s.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from citylib.grading import DEFAULTS, grade

HERE = Path(__file__).parent
SUBMISSIONS = HERE / "submissions"
HONEST = ("correct_gather", "correct_taskgroup")
NEIGHBOURS = {  # name -> (status, score) it must get, whatever its neighbours
    "forged_flood": ("error", 0),
    "late_flood": ("ok", DEFAULTS.max_score),  # its flood comes after its verdict
    "endless_loop": ("timeout", 0),
    "blocking_sleep": ("ok", 9),
    "attack_epoll_hold": ("ok", 9),
    "heavy_imports_a": ("over_limit", 0),
    "heavy_imports_b": ("over_limit", 0),
    "heavy_markdown": ("ok", DEFAULTS.max_score),  # read apart, graded like any other
}

# Appended to the right answer: once its drives are over, it floods the channel with
# well-formed call frames, as fast as the socket takes them.
LATE_FLOOD = """

import json as _json, os as _os, sys as _sys

_FD = int(_sys.argv[1])
_drives = 0
_fetch = parallel_fetch


def _flood():
    body = _json.dumps({"kind": "invoke", "drive": 0, "call": 1, "source": "maps"}).encode()
    try:
        while True:
            _os.write(_FD, (len(body).to_bytes(4, "big") + body) * 64)
    except OSError:
        pass
    asyncio.get_running_loop().call_later(0.001, _flood)


async def parallel_fetch(sources=None):
    global _drives
    merged = await _fetch(sources)
    _drives += 1
    if _drives == 2:
        asyncio.get_running_loop().call_later(0.01, _flood)
    return merged
"""


def _heavy(tmp: Path, name: str, *, imports: int, text_mb: float, tail: str = "") -> Path:
    """The right answer (and ``tail``) under ``imports`` import cells and ``text_mb`` MB
    of markdown."""
    nb = json.loads((SUBMISSIONS / "correct_gather.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parallel-fetch-sprint" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "".join(cell["source"]) + tail
    filler = [
        {"cell_type": "code", "metadata": {}, "source": "import os\n", "outputs": [],
         "execution_count": None}
        for _ in range(imports)
    ] + [
        {"cell_type": "markdown", "metadata": {}, "source": "vroom " * 170_000}
        for _ in range(round(text_mb))
    ]  # fmt: skip
    nb["cells"] = filler + nb["cells"]
    path = tmp / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def batch_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("fair")
    paths = []
    for n in range(3):
        for name in HONEST:
            copy = tmp / f"honest_{name}_{n}.ipynb"
            shutil.copy(SUBMISSIONS / f"{name}.ipynb", copy)
            paths.append(copy)
    for name in ("forged_flood", "endless_loop", "blocking_sleep", "attack_epoll_hold"):
        paths.append(Path(shutil.copy(SUBMISSIONS / f"{name}.ipynb", tmp / f"{name}.ipynb")))
    paths.append(_heavy(tmp, "heavy_imports_a", imports=120_000, text_mb=0))
    paths.append(_heavy(tmp, "heavy_imports_b", imports=120_000, text_mb=0))
    paths.append(_heavy(tmp, "heavy_markdown", imports=40, text_mb=2))
    paths.append(_heavy(tmp, "late_flood", imports=0, text_mb=0, tail=LATE_FLOOD))
    return paths


def test_honest_verdicts_do_not_depend_on_the_neighbours(
    batch_paths: list[Path], tmp_path: Path
) -> None:
    seen = []
    started = time.perf_counter()
    for run in range(3):
        batch = grade(batch_paths, tmp_path / f"run{run}", timeout=4.0, seed=2718, workers=4)
        got = {Path(r.submission).stem: r for r in batch.records}
        honest = {n: (r.status, r.score, r.checks) for n, r in got.items() if "honest" in n}
        assert all(v[:2] == ("ok", DEFAULTS.max_score) for v in honest.values()), {
            n: (r.status, r.score, [d.detail for d in r.details if not d.passed], r.drives)
            for n, r in got.items() if "honest" in n and r.score != DEFAULTS.max_score
        }  # fmt: skip
        for name, (status, score) in NEIGHBOURS.items():
            # A flood ends on whichever trips first, the frame it forged (error) or the
            # run's frame budget (over_limit): both earn 0, and only that is the point.
            allowed = {status, "over_limit"} if name == "forged_flood" else {status}
            assert got[name].status in allowed, (name, got[name].error)
            assert got[name].score == score, (name, got[name].error)
        seen.append(honest)
    assert seen[0] == seen[1] == seen[2]
    print(f"three batches of {len(batch_paths)}: {time.perf_counter() - started:.1f} s")
