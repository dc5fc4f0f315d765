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


# -- One source, one direction: make notebooks ----------------------------------------

TEACHER = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_every_learner_notebook_has_its_teacher_notebook_outside_the_learner_folder() -> None:
    assert [p.name for p in TEACHER] == [p.name for p in LEARNER]
    assert not (ROOT / "notebooks" / "solutions").exists()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # make lab / make notebook serve the learner's folder only.
    assert makefile.count("--ServerApp.root_dir=notebooks ") == 2


@pytest.mark.parametrize("path", LEARNER, ids=lambda p: p.stem)
def test_each_teacher_notebook_is_what_make_notebooks_makes(path: Path) -> None:
    from solution_notebooks import cell_sources, make_solution

    made = make_solution(_load(path))
    committed = _load(ROOT / "solutions" / path.name)
    assert cell_sources(committed) == cell_sources(made), "run `make notebooks`"
    # Same metadata cell by cell (tags, collapsed guesses), so the two read alike.
    assert [c.get("metadata", {}).get("tags") for c in committed["cells"]] == [
        c.get("metadata", {}).get("tags") for c in made["cells"]
    ]


def test_the_sprint_teacher_notebook_turns_back_into_the_learner_one() -> None:
    """``citylib student`` (nbgrader's way) undoes ``make notebooks`` exactly."""
    from solution_notebooks import cell_sources

    from citylib.grading import _notebook as notebook

    name = "05_parallel_fetch_sprint.ipynb"
    student, cleared = notebook.make_student(_load(ROOT / "solutions" / name))
    assert cleared == 2
    assert cell_sources(student) == cell_sources(_load(ROOT / "notebooks" / name))
    # ...and the answers are not in the learner's notebook, nor in citylib.
    answer = "merged[name] = await source()"
    assert answer in json.dumps(_load(ROOT / "solutions" / name))
    assert answer not in (ROOT / "notebooks" / name).read_text(encoding="utf-8")
    assert not any(
        answer in p.read_text(encoding="utf-8") for p in (ROOT / "citylib").rglob("*.py")
    )


def _example_cells() -> list[tuple[str, str, dict[str, Any]]]:
    from solution_notebooks import example_of

    return [
        (path.name, str(example_of(cell)), cell)
        for path in LEARNER
        for cell in _load(path)["cells"]
        if cell["cell_type"] == "code" and example_of(cell)
    ]


def test_the_notebooks_show_every_example_file() -> None:
    shown = {name for _, name, _ in _example_cells()}
    files = {
        p.relative_to(ROOT / "examples").as_posix()
        for p in (ROOT / "examples").rglob("*.py")
        if p.name != "__init__.py"
    }
    assert shown == files


@pytest.mark.parametrize(
    "cell", _example_cells(), ids=lambda c: f"{c[0][:2]}-{c[1]}" if isinstance(c, tuple) else ""
)
def test_each_example_cell_is_its_file(cell: tuple[str, str, dict[str, Any]]) -> None:
    """The cell holds the example's very text (``make notebooks`` writes it from the file)."""
    from solution_notebooks import example_cell_source

    notebook, name, found = cell
    assert _source(found) == example_cell_source(found), (
        f"{notebook} shows examples/{name} differently: run `make notebooks`"
    )


# -- Notebooks that work wherever notebooks/ is copied ---------------------------------


@pytest.mark.parametrize("path", LEARNER + TEACHER, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_no_cell_reads_a_path_outside_its_own_folder(path: Path) -> None:
    for cell in _load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = _source(cell)
        for sign in ("../", "..\\", "examples/", "Path(__file__)"):
            assert sign not in text, f"{path.name}: cell {cell.get('id')} reads {sign!r}"


# -- The stepper's films: the course's programs, not a slip in the cell --------------

# A film whose main() died of a slip in the cell's own code (a name the cell never
# imported, say), as its printed summary says it: "tiny_pipeline() raised NameError".
SLIP_IN_FILM = re.compile(
    r"\w+\(\) raised (NameError|UnboundLocalError|AttributeError|ImportError"
    r"|ModuleNotFoundError|SyntaxError|TypeError)\b"
)


def _printed(cell: dict[str, Any]) -> str:
    texts = []
    for out in cell.get("outputs", []):
        text = out.get("text", out.get("data", {}).get("text/plain", ""))
        texts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(texts)


@pytest.mark.parametrize("path", LEARNER + TEACHER, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_no_stepper_film_ends_in_a_slip_of_its_cell(path: Path) -> None:
    """07's producer film once died in its first turn of a NameError (its cell used
    ``asyncio`` and another cell imported it): one turn, the player's forward ▶
    disabled, and the saved summary still ended in ✅. The films teach the loop, so
    their saved summaries must not name such an error."""
    for cell in _load(path)["cells"]:
        if cell["cell_type"] != "code" or "stepper" not in _source(cell):
            continue
        slip = SLIP_IN_FILM.search(_printed(cell))
        assert slip is None, (
            f"{path.name}: cell {cell.get('id')}'s film {slip[0] if slip else ''}: "
            "the cell's code is missing something (an import?)"
        )
