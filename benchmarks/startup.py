"""``import citylib`` against ``import asyncio``, each in a fresh interpreter.

Every round starts two new Python processes, one per import, in turn; each times
its own import with ``time.perf_counter`` (interpreter start-up is the same for
both and is left out; the whole process's wall time goes in the record). A
warm-up round first compiles the byte code, which a fresh clone has not yet.
The processes start in the repository's root, as ``python -m benchmarks`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks._core import ROOT, Figure, Sample, interleave

KEY = "import"
GOAL_S = 0.3

_PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
took = time.perf_counter() - start
heavy = [m for m in ("matplotlib", "fastapi", "aiohttp", "ipywidgets", "numpy") if m in sys.modules]
print(json.dumps({{"seconds": took, "modules": len(sys.modules), "heavy": heavy}}))
"""


def probe(module: str) -> dict[str, Any]:
    """Import ``module`` in a fresh interpreter; its import time and the process's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    wall = time.perf_counter() - start
    return {**json.loads(out.stdout), "process": wall}


def run(quick: bool = False) -> list[Figure]:
    """Measure the figure (``quick``: 3 rounds)."""
    rounds = 3 if quick else 15
    probe("citylib")  # warm-up: byte code compiled, files in the page cache
    seen: dict[str, dict[str, Any]] = {}
    process: dict[str, list[float]] = {"citylib": [], "asyncio": []}

    def timed(module: str) -> float:
        result = probe(module)
        seen[module] = result
        process[module].append(result["process"])
        return float(result["seconds"])

    s = interleave(
        {"citylib": lambda: timed("citylib"), "asyncio": lambda: timed("asyncio")}, rounds
    )
    citylib, baseline = Sample(s["citylib"], "s"), Sample(s["asyncio"], "s")
    heavy = seen["citylib"]["heavy"]
    return [
        Figure(
            key=KEY,
            name="import citylib, fresh interpreter",
            citylib=citylib,
            baseline=baseline,
            baseline_name="import asyncio",
            goal=f"≤ {GOAL_S:g} s",
            met=citylib.median <= GOAL_S,
            notes=(
                f"citylib brings in asyncio itself; whole process "
                f"{Sample(process['citylib'], 's').text()} against "
                f"{Sample(process['asyncio'], 's').text()}; heavy libraries loaded: "
                f"{', '.join(heavy) if heavy else 'none'}."
            ),
            extra={
                "rounds": rounds,
                "process_s": {k: Sample(v, "s").as_dict() for k, v in process.items()},
                "modules_loaded": {k: v["modules"] for k, v in seen.items()},
                "heavy_modules": heavy,
            },
            paired=[c / a for c, a in zip(s["citylib"], s["asyncio"], strict=True)],
        )
    ]
