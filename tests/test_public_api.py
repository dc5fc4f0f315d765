"""The public API is pinned, and importing citylib stays light."""

import subprocess
import sys

import citylib

PINNED = {
    "MODES", "SERVICES", "RaceResult", "Request", "Service", "ServiceError", "Timeline",
    "Trip", "__version__", "call", "call_blocking", "charts", "city_requests", "cli",
    "clock", "compare", "conditions", "grading", "predict_makespan", "race",
    "race_blocking", "recording", "run", "run_race", "server", "services", "sprint",
    "surge", "timeline", "widgets", "crashes", "roadblock", "trace",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(citylib.__all__) == PINNED


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in citylib.__all__:
        value = getattr(citylib, name)
        if name != "__version__" and not isinstance(value, (tuple, dict)):
            assert value.__doc__, f"citylib.{name} has no docstring"


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
