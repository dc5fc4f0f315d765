"""The course's notebooks as a learner meets them: guesses before answers, one source each.

Each learner's notebook (``notebooks/``) is the source; the teacher's (``solutions/``)
are generated from it, and the snippets under ``examples/`` are the very text the
notebooks show (``make notebooks`` writes both: ``tests/solution_notebooks.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEARNER = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.timeout(60)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def _hidden(cell: dict[str, Any]) -> bool:
    """Collapsed as JupyterLab 4 and Notebook 7 read it (both keys, kept in sync)."""
    md = cell.get("metadata", {})
    return md.get("collapsed") is True and md.get("jupyter", {}).get("outputs_hidden") is True


def _predict_zones(nb: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(guess cell, first cell that reads the guess, the guess's name) per 🔮 cell."""
    cells = nb["cells"]
    zones = []
    for i, cell in enumerate(cells):
        if "predict" not in cell.get("metadata", {}).get("tags", []):
            continue
        name = re.match(r"\s*(\w+)\s*=", _source(cell))
        assert name, f"the 🔮 cell {cell.get('id')} assigns no guess"
        reader = next(
            j
            for j in range(i + 1, len(cells))
            if cells[j]["cell_type"] == "code"
            and re.search(rf"\b{name[1]}\b", _source(cells[j]))
        )
        zones.append((i, reader, name[1]))
    return zones


@pytest.mark.parametrize("path", LEARNER, ids=lambda p: p.stem)
def test_no_measured_answer_shows_before_the_guess_is_revealed(path: Path) -> None:
    """Every output from a 🔮 guess to the cell that reveals it is collapsed until run.

    JupyterLab 4 and Notebook 7 show a collapsed output as a thin bar until the cell
    runs again (running a cell un-collapses it), so a learner reading down the page
    meets the guess before any measured figure; nbval still compares the outputs.
    """
    nb = _load(path)
    for start, reveal, name in _predict_zones(nb):
        for cell in nb["cells"][start + 1 : reveal + 1]:
            if cell["cell_type"] == "code" and cell.get("outputs"):
                assert _hidden(cell), (
                    f"{path.name}: cell {cell.get('id')} shows an output between the "
                    f"guess {name!r} and its reveal"
                )
