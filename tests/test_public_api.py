"""The public API: four entry points, each pinned; notebooks and examples use nothing else."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import citylib

ROOT = Path(__file__).resolve().parents[1]

PINNED = {
    "citylib": {
        "MODES", "SERVICES", "RaceResult", "Request", "Service", "ServiceError", "Timeline",
        "Trip", "__version__", "ask_weather_service", "call", "call_blocking", "charts",
        "city_requests", "clock", "conditions", "crashes", "fetch_weather", "generate_image",
        "get_ai_reply", "lanes", "practice", "predict_makespan", "race_blocking", "race_modes",
        "recording", "roadblock", "run", "run_race", "server", "services", "sprint", "streaming",
        "surge", "timeline",
        "trace",
    },
    "citylib.widgets": {
        "AwaitToggle", "ChatbotToggle", "HighwayToggle", "RaceWidget", "RoadblockSign",
        "SurgeGame", "glossary", "serve_chat", "watch_race", "weather_check", "with_heartbeat",
    },
    "citylib.grading": {
        "CHECKS", "CSV_COLUMNS", "DEFAULTS", "GRADE_STATUSES", "Batch", "BatchReport",
        "GradeRecord", "JudgeSettings", "Verdict", "default_workers", "grade", "grade_batch",
        "judge", "measure_throughput", "merge", "write_reports",
    },
    "citylib.testing": {"run_virtual"},
    "citylib.server": {
        "SYSTEMS", "ManagedServer", "RoutingSystem", "app", "bare_app", "create_app",
        "shared_server", "system_path",
    },
}  # fmt: skip


@pytest.mark.parametrize("entry", sorted(PINNED))
def test_all_is_pinned(entry: str) -> None:
    assert set(importlib.import_module(entry).__all__) == PINNED[entry]


@pytest.mark.parametrize("entry", sorted(PINNED))
def test_every_public_name_resolves_and_is_documented(entry: str) -> None:
    module = importlib.import_module(entry)
    for name in module.__all__:
        value = getattr(module, name)
        if name != "__version__" and not isinstance(value, (tuple, dict, frozenset)):
            assert value.__doc__, f"{entry}.{name} has no docstring"


def test_every_private_module_exports_what_it_lists() -> None:
    """A module's ``__all__`` binds real names (and the package is importable whole)."""
    for path in sorted((ROOT / "citylib").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        module = importlib.import_module(name)
        for exported in getattr(module, "__all__", ()):
            assert hasattr(module, exported), f"{name}.__all__ lists {exported!r}, not bound"


def _imports(source: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import in ``source`` (names empty for ``import m``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _code_of(path: Path) -> str:
    if path.suffix == ".py":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            # IPython magics and shell lines are not Python; imports are on their own lines.
            lines += [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


#: citylib's public modules: the names in ``citylib.__all__`` that are modules.
MODULE_NAMES = sorted(n for n in citylib.__all__ if isinstance(getattr(citylib, n), ModuleType))
PUBLIC_MODULES = {f"citylib.{name}" for name in MODULE_NAMES}

COURSE_FILES = sorted([*ROOT.glob("notebooks/**/*.ipynb"), *ROOT.glob("examples/*.py")])


def public_use_problems(source: str) -> list[str]:
    """What in ``source`` reaches past the public entry points (empty when nothing does)."""
    problems = []
    for module, names in _imports(source):
        if module != "citylib" and not module.startswith("citylib."):
            continue
        if module in PUBLIC_MODULES:
            exported = set(importlib.import_module(module).__all__)
            problems += [
                f"imports {module}.{n}, not in its __all__" for n in names if n not in exported
            ]
            continue
        if module not in PINNED:
            problems.append(f"imports {module}, not a public entry point")
            continue
        public = PINNED[module]
        problems += [f"imports {module}.{n}, not in its __all__" for n in names if n not in public]
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "citylib"
            and node.attr not in PINNED["citylib"]
            and f"citylib.{node.attr}" not in PINNED
        ):
            problems.append(f"uses citylib.{node.attr}, not in citylib.__all__")
    return problems


@pytest.mark.parametrize("path", COURSE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_course_files_import_only_public_entry_points(path: Path) -> None:
    assert public_use_problems(_code_of(path)) == []


def test_the_public_use_check_can_fail() -> None:
    assert public_use_problems("from citylib._core.race import run_race") != []
    assert public_use_problems("from citylib.widgets import LiveWidget") != []
    assert public_use_problems("import citylib\ncitylib._core") != []
    assert public_use_problems("from citylib import charts, run_race") == []
    assert public_use_problems("from citylib.lanes import record\nimport citylib.sprint") == []
    assert public_use_problems("from citylib.lanes import _lanes_of") != []


_EVERY_SPELLING = """
import importlib, sys
name = sys.argv[1]
module = importlib.import_module("citylib." + name)    # import citylib.NAME
import citylib
assert sys.modules["citylib." + name] is module, "sys.modules holds another object"
assert getattr(citylib, name) is module, "citylib.NAME is another object"
exec("from citylib import " + name + " as again")       # from citylib import NAME
assert again is module
for public in module.__all__:                            # from citylib.NAME import Y
    exec("from citylib." + name + " import " + public)
print(len(module.__all__))
"""


def test_the_public_modules_are_known() -> None:
    assert len(MODULE_NAMES) >= 13 and {"lanes", "sprint", "roadblock"} <= set(MODULE_NAMES)


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_every_public_module_name_is_a_real_module(name: str) -> None:
    """``import citylib.X``, ``from citylib.X import Y``, ``from citylib import X``: one
    module object, each spelling tried first in a fresh interpreter."""
    for spelling in ("import", "from"):
        code = (
            _EVERY_SPELLING
            if spelling == "import"
            else (f"from citylib import {name}\n" + _EVERY_SPELLING)
        )
        out = subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert int(out.stdout) > 0


def test_every_public_file_is_a_public_name() -> None:
    """A new ``citylib/NAME.py`` is listed in ``citylib.__all__`` (and the other way)."""
    entry_points = {"widgets", "testing", "server"}
    files = {p.stem for p in (ROOT / "citylib").glob("*.py") if not p.stem.startswith("_")}
    assert files - entry_points == set(MODULE_NAMES) - entry_points
    assert set(MODULE_NAMES) <= files


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, citylib; "
        "heavy = [m for m in ('matplotlib', 'fastapi', 'aiohttp', 'ipywidgets', 'IPython') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        citylib.teleport  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "teleport" in str(exc)
    else:
        raise AssertionError("citylib.teleport should not exist")
