"""The practice solution notebooks, made from one source: the learner's notebook + the registry.

``notebooks/solutions/NAME.ipynb`` (for 01-04, 06, 07) is ``notebooks/NAME.ipynb`` with
each exercise cell's stub replaced by its exercise's ``solution_code`` (from
``citylib/_lessons/exercises/``), inside ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` markers as in the Sprint's solution notebook. The learner's notebook is the
source here (it carries the story's committed outputs, which ``citylib student`` would
clear), the registry the one place a solution is written; ``tests/test_practice.py``
checks the committed solution notebooks are exactly what this makes.

    make practice-solutions   # write them, then run each from a clean kernel
    .venv/bin/python tests/solution_notebooks.py 07_streaming_city   # just one
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citylib import practice  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def notebook_names() -> list[str]:
    """The notebooks with practice exercises, in course order."""
    return sorted({ex.notebook for ex in practice.EXERCISES.values()})


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def make_solution(learner: dict[str, Any]) -> dict[str, Any]:
    """``learner`` with every exercise cell's stub replaced by its marked solution."""
    nb = json.loads(json.dumps(learner))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "../examples/" in _source(cell):
            # A solution notebook sits one folder deeper, in notebooks/solutions/.
            cell["source"] = _source(cell).replace("../examples/", "../../examples/")
            cell["source"] = cell["source"].splitlines(keepends=True)
        ids = [
            t.split(":", 1)[1]
            for t in cell.get("metadata", {}).get("tags", [])
            if t.startswith("exercise:")
        ]
        if not ids:
            continue
        ex = practice.EXERCISES[ids[0]]
        text = _source(cell)
        if ex.stub.strip() not in text:
            raise ValueError(f"the exercise cell for {ex.id} does not hold its stub")
        solved = text.replace(ex.stub.strip(), f"{BEGIN}\n{ex.solution_code.strip()}\n{END}")
        cell["source"] = solved.splitlines(keepends=True)
        cell["outputs"], cell["execution_count"] = [], None
    return nb


def cell_sources(nb: dict[str, Any]) -> list[tuple[str, str]]:
    """What a notebook says, without what it printed: (kind, source) per cell."""
    return [(c["cell_type"], _source(c)) for c in nb["cells"]]


def main(names: list[str]) -> None:
    """Write the solution notebooks of ``names`` (default: every notebook with exercises)."""
    for name in names or notebook_names():
        learner = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        out = ROOT / "notebooks" / "solutions" / f"{name}.ipynb"
        out.write_text(
            json.dumps(make_solution(learner), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
