"""``make notebooks``: the course's notebooks, each made from one source, in one direction.

1. ``examples/**.py`` → the notebook cells that show them. A cell whose metadata says
   ``{"citylib": {"example": "step3_gather.py"}}`` holds that file: its code without the
   module docstring and the ``if __name__ == "__main__":`` block (a notebook is
   ``__main__``, and its loop is already running), or, in a cell that starts with
   ``%%writefile``, the whole file after that line. The files are the source: they are
   linted and tested (``tests/test_examples.py``); the cells are written from them.
2. ``notebooks/NAME.ipynb`` (the learner's) → ``solutions/NAME.ipynb`` (the teacher's,
   outside the folder ``make lab`` opens): each practice exercise's stub replaced by the
   registry's ``solution_code`` (``citylib/_lessons/exercises/``, which ``ex.solution()``
   shows),
   each Sprint cell's ``raise NotImplementedError()`` by its answer from
   ``solutions/sprint_answers.py`` (never shipped with citylib), inside nbgrader's
   ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers.

``tests/test_course_notebooks.py`` checks the committed notebooks are what this makes.

    make notebooks                                   # write them all, then run each
    .venv/bin/python tests/solution_notebooks.py     # write them only
"""

from __future__ import annotations

import ast
import json
import runpy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citylib import practice  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SPRINT_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
EXAMPLES = ROOT / "examples"
LEARNER = ROOT / "notebooks"
TEACHER = ROOT / "solutions"


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def example_of(cell: dict[str, Any]) -> str | None:
    """The example file a cell shows (a path under ``examples/``), if any."""
    name = cell.get("metadata", {}).get("citylib", {}).get("example")
    return str(name) if name else None


def shown_code(text: str) -> str:
    """An example file as a notebook cell runs it: no module docstring, no ``__main__`` block."""
    tree = ast.parse(text)
    lines = text.splitlines()
    end = len(lines)
    for node in reversed(tree.body):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Compare) and ast.unparse(test) in (
            "__name__ == '__main__'",
            '__name__ == "__main__"',
        ):
            end = node.lineno - 1
            break
    start = 0
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        start = first.end_lineno or 0
    return "\n".join(lines[start:end]).strip("\n")


def example_cell_source(cell: dict[str, Any]) -> str:
    """What a cell showing an example must hold, made from the example's file."""
    name = example_of(cell)
    assert name is not None
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    first = _source(cell).split("\n", 1)[0]
    if first.startswith("%%writefile"):
        return f"{first}\n{text.rstrip()}"
    return shown_code(text)


def with_examples(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` with every example cell written from its file (outputs kept)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and example_of(cell):
            cell["source"] = _lines(example_cell_source(cell))
    return nb


def _indented(block: str, indent: str) -> str:
    return "".join(f"{indent}{line}" if line.strip() else line for line in _lines(block))


def _solve_sprint(text: str, answer: str) -> str:
    """The stub's two lines in ``text`` replaced by ``answer`` between the markers."""
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        if line.strip() == SPRINT_STUB[0] and lines[i + 1].strip() == SPRINT_STUB[1]:
            indent = line[: len(line) - len(line.lstrip())]
            body = _indented(answer.strip("\n") + "\n", indent).rstrip("\n")
            solved = [f"{indent}{BEGIN}", body, f"{indent}{END}"]
            return "\n".join([*lines[:i], *solved, *lines[i + 2 :]])
    raise ValueError("the Sprint cell does not hold the stub `# YOUR CODE HERE` / `raise ...`")


def sprint_answers() -> dict[str, str]:
    """The teacher's Sprint answers, by the tag of the cell they go in."""
    answers = runpy.run_path(str(TEACHER / "sprint_answers.py"))["ANSWERS"]
    return dict(answers)


def make_solution(learner: dict[str, Any]) -> dict[str, Any]:
    """The teacher's notebook: ``learner`` with every stub replaced by its marked solution."""
    nb = json.loads(json.dumps(learner))
    answers = sprint_answers()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        text = _source(cell)
        exercise = [t.split(":", 1)[1] for t in tags if t.startswith("exercise:")]
        sprint = [t for t in tags if t in answers]
        if exercise:
            ex = practice.EXERCISES[exercise[0]]
            if ex.stub.strip() not in text:
                raise ValueError(f"the exercise cell for {ex.id} does not hold its stub")
            text = text.replace(ex.stub.strip(), f"{BEGIN}\n{ex.solution_code.strip()}\n{END}")
        elif sprint:
            text = _solve_sprint(text, answers[sprint[0]])
        else:
            continue
        cell["source"] = _lines(text)
        cell["outputs"], cell["execution_count"] = [], None
    return nb


def cell_sources(nb: dict[str, Any]) -> list[tuple[str, str]]:
    """What a notebook says, without what it printed: (kind, source) per cell."""
    return [(c["cell_type"], _source(c)) for c in nb["cells"]]


def _write(path: Path, nb: dict[str, Any]) -> None:
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def main(names: list[str]) -> None:
    """Write the example cells and the teacher's notebooks (default: every notebook)."""
    paths = [LEARNER / f"{n}.ipynb" for n in names] or sorted(LEARNER.glob("*.ipynb"))
    for path in paths:
        learner = json.loads(path.read_text(encoding="utf-8"))
        updated = with_examples(learner)
        if updated != learner:
            _write(path, updated)
            print(f"wrote {path.relative_to(ROOT)} (its example cells)")
        out = TEACHER / path.name
        _write(out, make_solution(updated))
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
