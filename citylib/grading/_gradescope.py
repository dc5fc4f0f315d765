"""``citylib gradescope bundle OUT.zip`` and ``citylib gradescope run --root DIR``.

Gradescope's autograder specification (gradescope/autograder_samples, docs/specs.md):
the teacher uploads a zip holding ``setup.sh`` (run once, as root, on Gradescope's
Ubuntu image) and ``run_autograder`` (run for every submission, in ``/autograder``);
the zip lands in ``/autograder/source``, the student's files in
``/autograder/submission``, and ``run_autograder`` writes
``/autograder/results/results.json``.

The bundle carries citylib itself as a wheel built from the installed package, the
rubric, and the two scripts: ``setup.sh`` installs Python 3.11 or later, bubblewrap
and the wheel into ``/autograder/venv``; ``run_autograder`` calls
``citylib gradescope run --root /autograder``. ``run`` grades the one notebook in
``submission/`` exactly as ``citylib grade`` grades it (the same batch code, the same
judge and sandbox) and writes one Gradescope test per check, the stretch goal as a
test of its own worth extra credit, the sandbox level and the rubric in the top-level
``output``. None or several notebooks, or the grader failing, still write a
results.json that says so: Gradescope shows that to the student, never a crash.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import io
import json
import os
import sys
import traceback
import zipfile
from pathlib import Path
from typing import Any

import citylib
from citylib import __version__
from citylib._lessons.judge import CHECKS
from citylib.grading import _rubric
from citylib.grading._batch import grade_batch
from citylib.grading._messages import DEFAULTS, GradeRecord
from citylib.grading._rubric import Rubric, RubricError
from citylib.grading._safe import printable
from citylib.grading._sandbox import Limits, describe, detection

__all__ = ["SEED_ENV", "add_cli", "bundle", "results", "run"]

#: The teacher's fixed seed for ``run`` (never shown to students; without it each
#: submission gets a fresh secret seed). ``--seed`` does the same, and is not listed.
SEED_ENV = "CITYLIB_GRADESCOPE_SEED"

_STRETCH_NAME = "Stretch goal: sequential_fetch (extra credit)"

_STATUS_TEXT = {
    "ok": "✅ graded",
    "not_attempted": "⏳ not attempted yet: parallel_fetch still raises NotImplementedError",
    "timeout": "⏱ timed out: nothing ran to the end, so no points",
    "child_died": "💥 your code ended its own process: no points",
    "error": "⚠️ your code stopped with an error: no points",
    "over_limit": "📏 your notebook went past one of the grader's limits: no points",
    "grader_fault": "🛠 the grader failed, not you: your teacher will regrade it",
}


def _check_output(record: GradeRecord, check_id: str, rubric: Rubric) -> tuple[str, bool | None]:
    """One check's feedback text, as the feedback page words it, and whether it passed."""
    passed = record.checks.get(check_id)
    detail = next((c for c in record.details if c.id == check_id), None)
    if passed is None or detail is None:
        return f"Not judged: {_STATUS_TEXT.get(record.status, record.status)}.", None
    if passed:
        return f"✅ {detail.title}", True
    lines = [f"❌ {detail.title}"]
    if check_id in rubric.hidden:
        lines.append("(Your teacher keeps this check's details for later.)")
    else:
        if detail.detail:
            lines.append(detail.detail)
        if rubric.hints and detail.hint:
            lines.append(f"💡 {detail.hint}")
    return "\n".join(lines), False


def _stretch_test(record: GradeRecord, rubric: Rubric) -> dict[str, Any]:
    words = {
        "pass": "🌟 passed",
        "fail": "❌ not yet",
        "locked": "🔒 locked: complete the deliverable first, then unlock the stretch goal",
        "not_attempted": "not attempted",
        "": "not judged",
    }
    lines = [words.get(record.stretch, f"not passed ({record.stretch})")]
    for c in record.stretch_details:
        if not c.passed:
            lines.append(f"❌ {c.title}" + (f": {c.detail}" if c.detail else ""))
    return {
        "name": _STRETCH_NAME,
        "number": str(len(CHECKS) + 1),
        "tags": ["stretch"],
        "score": record.bonus,
        "max_score": 0,  # extra credit: its points come on top of the assignment's
        "status": "passed" if record.stretch == "pass" else "failed",
        "output": printable("\n".join(lines)),
        "visibility": "visible",
    }


def results(record: GradeRecord, rubric: Rubric) -> dict[str, Any]:
    """Gradescope's results.json for one graded submission."""
    tests = []
    for number, check in enumerate(CHECKS, 1):
        output, passed = _check_output(record, check.id, rubric)
        earned = next((c.points for c in record.details if c.id == check.id), 0)
        tests.append(
            {
                "name": check.title,
                "number": str(number),
                "score": earned,
                "max_score": rubric.points[check.id],
                "status": "passed" if passed else "failed",
                "output": printable(output),
                "tags": [check.id],
                # A hidden check's test waits until the teacher publishes the grades.
                "visibility": "after_published" if check.id in rubric.hidden else "visible",
            }
        )
    tests.append(_stretch_test(record, rubric))
    score = 0 if record.score is None else record.score
    lines = [
        _STATUS_TEXT.get(record.status, record.status),
        f"Score: {'no score yet' if record.score is None else f'{score}/{record.max_score}'}"
        + (f" + {record.bonus} bonus" if record.bonus else ""),
    ]
    if record.error:
        lines.append(f"What happened: {record.error[:2000]}")
    if record.diagnosis:
        lines += ["", "What to fix:", *(f"• {d}" for d in record.diagnosis)]
    lines += [
        "",
        f"Sandbox: {record.sandbox} ({_describe(record.sandbox)}); verified: "
        f"{'yes' if record.verified else 'no'}",
        f"Rubric: {rubric.label()}",
        f"Graded by citylib {record.grader_version}.",
    ]
    return {
        "score": score + record.bonus,
        "execution_time": round(record.seconds),
        "output": printable("\n".join(lines)),
        "visibility": rubric.visibility,
        "stdout_visibility": "hidden",  # the grader's log is the teacher's
        "tests": tests,
        "extra_data": {
            "status": record.status,
            "sandbox": record.sandbox,
            "verified": record.verified,
            "sha256": record.sha256,
            "slips": list(record.slips),
            "rubric": rubric.record(),
            "grader_version": record.grader_version,
        },
    }


def _describe(level: str) -> str:
    try:
        return describe(level)
    except KeyError:
        return "a level this grader does not know"


def _no_grade(message: str, rubric: Rubric, status: str) -> dict[str, Any]:
    """results.json when nothing could be graded: 0 points and why, every check listed."""
    tests = [
        {
            "name": c.title,
            "number": str(n),
            "score": 0,
            "max_score": rubric.points[c.id],
            "status": "failed",
            "output": "Not judged: " + message,
            "tags": [c.id],
            "visibility": "visible",
        }
        for n, c in enumerate(CHECKS, 1)
    ]
    return {
        "score": 0,
        "output": f"{message}\nRubric: {rubric.label()}\nGraded by citylib {__version__}.",
        "visibility": rubric.visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"status": status, "rubric": rubric.record()},
    }


def _notebooks(folder: Path) -> list[Path]:
    """The notebooks handed in (Jupyter's checkpoints left out)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.relative_to(folder).parts
    )


def run(
    root: str | Path,
    *,
    rubric: Rubric = _rubric.DEFAULT,
    seed: int | None = None,
    timeout: float = DEFAULTS.timeout,
) -> dict[str, Any]:
    """Grade the notebook in ``root``/submission and write ``root``/results/results.json.

    Returns:
        What it wrote.
    """
    root = Path(root)
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    found = _notebooks(root / "submission")
    if len(found) != 1:
        names = ", ".join(printable(str(p.relative_to(root / "submission"))) for p in found)
        message = (
            "No notebook (.ipynb) was handed in: upload the .ipynb file Jupyter saved."
            if not found
            else f"{len(found)} notebooks were handed in ({names}): upload only the Sprint's "
            "one notebook."
        )
        data = _no_grade(message, rubric, "not_attempted" if not found else "error")
    else:
        try:
            sandbox = detection(Limits())
            print(sandbox.summary(), flush=True)  # the teacher's log (stdout is hidden)
            batch = grade_batch(
                found, workers=1, seed=seed, rubric=rubric, timeout=timeout,
                sandbox=sandbox.sandbox,
            )  # fmt: skip
            data = results(batch.records[0], rubric)
        except ValueError as exc:  # nothing gradable: a folder named .ipynb, ...
            data = _no_grade(f"The grader could not grade it: {printable(str(exc))}", rubric,
                             "error")  # fmt: skip
        except Exception:  # the grader's own failure: said so, never a crash
            traceback.print_exc(file=sys.stdout)
            data = _no_grade(
                "🛠 The grader failed, not you: your teacher will regrade it.", rubric,
                "grader_fault",
            )  # fmt: skip
    (out / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                      encoding="utf-8")  # fmt: skip
    return data


# ------------------------------------------------------------------------ the bundle

_SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip \\
    bubblewrap util-linux iproute2 ca-certificates
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # An older Ubuntu image: citylib needs Python 3.11 or later.
    apt-get install -y --no-install-recommends software-properties-common gpg-agent
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.12 python3.12-venv
    PYTHON=python3.12
fi
"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install /autograder/source/{wheel}
/autograder/venv/bin/citylib gradescope --help > /dev/null
"""

_RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades the notebook in
# /autograder/submission and writes /autograder/results/results.json.
cd /autograder
exec /autograder/venv/bin/citylib gradescope run --root /autograder \\
    --rubric /autograder/source/rubric.toml
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel() -> tuple[str, bytes]:
    """citylib as installed here, as a wheel (its name and bytes): the package's files
    and its metadata, so ``pip install`` brings its dependencies along."""
    dist = importlib.metadata.distribution("citylib")
    version = dist.version
    info = f"citylib-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    package = Path(citylib.__file__).parent
    for path in sorted(package.rglob("*")):
        parts = path.relative_to(package).parts
        if path.is_file() and "__pycache__" not in parts and path.suffix != ".pyc":
            files.append(("/".join(("citylib", *parts)), path.read_bytes()))
    metadata = dist.read_text("METADATA") or (
        f"Metadata-Version: 2.1\nName: citylib\nVersion: {version}\n"
    )
    files.append((f"{info}/METADATA", metadata.encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files.append((f"{info}/entry_points.txt", entry_points.encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: citylib gradescope bundle\n"
                  b"Root-Is-Purelib: true\nTag: py3-none-any\n"))  # fmt: skip
    record = "\n".join([*(_record_line(n, d) for n, d in files), f"{info}/RECORD,,"]) + "\n"
    files.append((f"{info}/RECORD", record.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return f"citylib-{version.replace('-', '_')}-py3-none-any.whl", buffer.getvalue()


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    entry = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    entry.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
    entry.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(entry, data)


def bundle(out: str | Path, rubric: Rubric = _rubric.DEFAULT) -> list[str]:
    """Write Gradescope's autograder zip to ``out``; returns the names it holds."""
    name, data = wheel()
    with zipfile.ZipFile(out, "w") as zf:
        _add(zf, "setup.sh", _SETUP.replace("{wheel}", name).encode(), 0o755)
        _add(zf, "run_autograder", _RUN.encode(), 0o755)
        _add(zf, "rubric.toml", (rubric.source or _rubric.default_toml()).encode())
        _add(zf, name, data)
        return zf.namelist()


# ----------------------------------------------------------------------- the command


def _rubric_from(args: argparse.Namespace) -> Rubric | None:
    if not args.rubric:
        return _rubric.DEFAULT
    try:
        found = _rubric.load(args.rubric)
    except RubricError as exc:
        print(f"citylib gradescope: {exc}", file=sys.stderr)
        return None
    for warning in found.warnings:
        print(f"citylib gradescope: warning: the rubric breaks a teaching rule: {warning}",
              file=sys.stderr)  # fmt: skip
    return found


def _seed(text: str | None) -> int | None:
    text = text if text is not None else os.environ.get(SEED_ENV)
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"the seed must be a whole number, not {text!r}") from None


def _run(args: argparse.Namespace) -> int:
    rubric = _rubric_from(args)
    if rubric is None:
        return 2
    if args.action == "bundle":
        names = bundle(args.out, rubric)
        print(f"Wrote {args.out}: {', '.join(names)}. Upload it as the assignment's autograder.")
        return 0
    data = run(args.root, rubric=rubric, seed=_seed(args.seed), timeout=args.timeout)
    print(f"Wrote {Path(args.root) / 'results' / 'results.json'}: score {data['score']}")
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``gradescope`` subcommand (``bundle`` and ``run``)."""
    parser = subparsers.add_parser(
        "gradescope",
        help="grade the Sprint on Gradescope: build the autograder zip, or run it",
        description="Gradescope's autograder for the Parallel Fetch Sprint.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = actions.add_parser("bundle", help="write the autograder zip to upload to Gradescope")
    make.add_argument("out", metavar="OUT.zip")
    grade = actions.add_parser(
        "run", help="grade DIR/submission, write DIR/results/results.json (run_autograder)"
    )
    grade.add_argument("--root", default="/autograder", metavar="DIR",
                       help="Gradescope's folder (default: %(default)s)")  # fmt: skip
    grade.add_argument("--timeout", type=float, default=DEFAULTS.timeout, metavar="S",
                       help="seconds the submission may run (default: %(default)s)")  # fmt: skip
    # The teacher's fixed seed, to compare with a batch graded by `citylib grade --seed`:
    # not listed, never shown to students (also $CITYLIB_GRADESCOPE_SEED).
    grade.add_argument("--seed", default=None, help=argparse.SUPPRESS)
    for sub in (make, grade):
        sub.add_argument("--rubric", metavar="FILE",
                         help="the teacher's rubric, TOML (default: today's weights; see "
                         "citylib grade --show-rubric)")  # fmt: skip
    parser.set_defaults(func=_run)
