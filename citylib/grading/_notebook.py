"""Reading Sprint notebooks: the answer cells, their imports, the learner's copy.

Notebooks are read as plain JSON (nbformat 4) rather than through ``nbformat``:
its schema validation costs most of a second to import, and a grader worker
pays that once per submission. Cells are found by their tag, else by nbgrader's
``grade_id`` (read where present; nbgrader itself is not needed), else by the
function they define.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citylib._lessons.sprint_contract import SPRINT_TAG, STRETCH_TAG
from citylib.grading._messages import DEFAULTS

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "Extracted",
    "NotebookError",
    "extract",
    "find_cell",
    "load",
    "make_student",
    "parse",
    "source",
    "write_student",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
#: Cells with this tag are the teacher's alone: ``make student`` drops them.
TEACHER_TAG = "teacher-only"

_CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
_MARKDOWN_STUB = ("YOUR ANSWER HERE",)


class NotebookError(ValueError):
    """The file is not a Jupyter notebook this grader can read."""


def load(path: str | Path) -> dict[str, Any]:
    """Read a notebook file as a dict, with a clear error when it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise NotebookError(f"cannot read the file as a notebook: {exc}") from None
    return parse(data)


def parse(data: bytes | str) -> dict[str, Any]:
    """A notebook's bytes (or text) as a dict, with a clear error when it is not one."""
    try:
        nb = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(f"cannot read the file as a notebook: {exc}") from None
    except RecursionError:  # [[[[... a hundred thousand deep
        raise NotebookError("cannot read the file as a notebook: nested too deeply") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError("the file has no list of cells; is it a notebook?")
    if nb.get("nbformat", 4) != 4:
        raise NotebookError(f"the file is nbformat {nb.get('nbformat')!r}; 4 is needed")
    return nb


def source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (notebooks store a string or a list of lines)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _tags(cell: dict[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _grade_id(cell: dict[str, Any]) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return str(meta.get("grade_id", "")) if isinstance(meta, dict) else ""


def _without_magics(code: str) -> str:
    """Code with IPython-only lines (``%magic``, ``!shell``) commented out, for ``ast``."""
    return re.sub(r"(?m)^(\s*)([%!])", r"\1#\2", code)


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(_without_magics(code))
    except (SyntaxError, ValueError):
        return None


def _defines(code: str, name: str) -> bool:
    tree = _parse(code)
    return tree is not None and any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
        for node in tree.body
    )


def find_cell(nb: dict[str, Any], tag: str, function: str) -> tuple[int | None, str]:
    """Where the answer lives: the code cell tagged ``tag``, else nbgrader's, else the def.

    Returns:
        The cell's index (``None`` when not found) and how it was found:
        ``"tag"``, ``"nbgrader"``, ``"definition"`` or ``""``.
    """
    cells = nb["cells"]
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    for i, c in code:
        if tag in _tags(c):
            return i, "tag"
    for i, c in code:
        if _grade_id(c) == tag:
            return i, "nbgrader"
    found = [i for i, c in code if _defines(source(c), function)]
    return (found[-1], "definition") if found else (None, "")


def _imports(code: str) -> list[str]:
    """The top-level import statements of a cell, as source lines."""
    tree = _parse(code)
    if tree is None:
        return []
    lines = code.splitlines()
    return [
        "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]


@dataclass
class Extracted:
    """The code a grader runs from one submission.

    Attributes:
        preamble: The imports of every code cell above the answer.
        answer: The answer cell (``parallel_fetch``), or ``""`` when none was found.
        stretch: The stretch cell (``sequential_fetch``), or ``""``.
        notes: Things the teacher should know (such as a missing tag).
    """

    preamble: list[str] = field(default_factory=list)
    answer: str = ""
    stretch: str = ""
    notes: list[str] = field(default_factory=list)


def extract(nb: dict[str, Any]) -> Extracted:
    """Pick out what a grader needs: the answer cells and the imports above them."""
    out = Extracted()
    index, how = find_cell(nb, SPRINT_TAG, "parallel_fetch")
    if index is None:
        out.notes.append(f"no code cell tagged {SPRINT_TAG!r} defines parallel_fetch")
        return out
    if how == "definition":
        out.notes.append(
            f"the tag {SPRINT_TAG!r} is missing; graded cell {index + 1}, "
            "which defines parallel_fetch"
        )
    cells = nb["cells"]
    out.answer = source(cells[index])
    stretch_index, _ = find_cell(nb, STRETCH_TAG, "sequential_fetch")
    if stretch_index is not None and stretch_index != index:
        out.stretch = source(cells[stretch_index])
    last = max(index, stretch_index if stretch_index is not None else -1)
    for i, cell in enumerate(cells[:last]):
        if cell.get("cell_type") == "code" and i not in (index, stretch_index):
            code = source(cell)
            if "import" in code:  # no parse for a cell that cannot hold one
                out.preamble.extend(_imports(code))
            if len(out.preamble) > DEFAULTS.imports:
                break  # past the grader's limit: the judge refuses it, no need to read on
    return out


def _clear_solutions(text: str, stub: tuple[str, ...]) -> tuple[str, int]:
    """Replace each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by ``stub``."""
    out: list[str] = []
    cleared = 0
    inside = False
    for line in text.splitlines(keepends=True):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise ValueError(f"nested {BEGIN_SOLUTION!r}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(f"{indent}{s}\n" for s in stub)
        elif marker == END_SOLUTION:
            if not inside:
                raise ValueError(f"{END_SOLUTION!r} without {BEGIN_SOLUTION!r}")
            inside = False
            cleared += 1
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN_SOLUTION!r} without {END_SOLUTION!r}")
    return "".join(out).rstrip("\n"), cleared


def make_student(nb: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The learner's notebook: solutions cleared, teacher-only cells and outputs gone.

    Returns:
        The new notebook and how many solution regions were cleared.
    """
    cells = []
    cleared = 0
    for cell in nb["cells"]:
        if TEACHER_TAG in _tags(cell):
            continue
        new = json.loads(json.dumps(cell))  # a deep copy of plain JSON
        kind = new.get("cell_type")
        stub = _CODE_STUB if kind == "code" else _MARKDOWN_STUB
        text, n = _clear_solutions(source(new), stub)
        cleared += n
        new["source"] = text
        if kind == "code":
            new["outputs"] = []
            new["execution_count"] = None
        cells.append(new)
    student = {**nb, "cells": cells}
    return student, cleared


def write_student(solution: str | Path, learner: str | Path) -> int:
    """Write the learner's notebook made from ``solution``; returns regions cleared."""
    student, cleared = make_student(load(solution))
    if cleared == 0:
        raise ValueError(f"{solution} has no {BEGIN_SOLUTION!r} region to clear")
    Path(learner).write_text(
        json.dumps(student, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return cleared
