"""Inside a submission's kernel: run its answer cells, judge them, hand back a verdict.

The grader's worker sends one cell, ``await probe.main(config)``. The learner's
imports and answer cells run here exactly as a notebook would run them (IPython
syntax, top-level ``await``), with everything they print caught in a capped
buffer, so a flood of output cannot swamp the grader. The verdict goes back as a
display message of its own MIME type, which the worker picks out.
"""

from __future__ import annotations

import ast
import inspect
import io
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from citylib._lessons.judge import JudgeSettings, Verdict, judge

__all__ = ["MIME", "CappedText", "main", "run"]

#: The MIME type of the verdict the probe displays.
MIME = "application/vnd.citylib.sprint-verdict+json"

_ANSWER = "<parallel-fetch-sprint cell>"
_STRETCH = "<parallel-fetch-stretch cell>"


class CappedText(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0
        self._parts: list[str] = []
        self._kept = 0

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Keep what fits, count what does not; returns ``len(text)`` like a real stream."""
        text = str(text)
        room = self.limit - self._kept
        if room > 0:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        """What was kept."""
        return "".join(self._parts)


def _namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - the probe runs in a kernel
        shell = None
    return shell.user_ns if shell is not None else {}


def _transform(code: str) -> str:
    """IPython syntax (``%magic``, ``!cmd``) as plain Python, as a cell would run it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover
        return code
    return str(TransformerManager().transform_cell(code))  # type: ignore[no-untyped-call]


def _where(exc: BaseException, filename: str) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return f" (line {lines[-1]} of the cell)" if lines else ""


async def _run_cell(code: str, filename: str, ns: dict[str, Any]) -> None:
    """Run ``code`` like a notebook cell would (top-level ``await`` allowed)."""
    compiled = compile(_transform(code), filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(compiled, ns)  # running the submission is the point
    if inspect.iscoroutine(outcome):
        await outcome


async def _cell_problem(code: str, filename: str, ns: dict[str, Any]) -> tuple[str, str]:
    """Run a cell; returns ``(status, message)``, status ``""`` when it ran cleanly."""
    try:
        await _run_cell(code, filename, ns)
    except SyntaxError as exc:
        return "error", f"SyntaxError: {exc.msg} (line {exc.lineno} of the cell)"
    except NotImplementedError:
        return "not_attempted", ""
    except (Exception, SystemExit) as exc:
        name = type(exc).__name__
        return "error", f"{name}: {exc}{_where(exc, filename)}" if str(exc) else name
    return "", ""


async def _stretch(
    config: dict[str, Any], settings: JudgeSettings, ns: dict[str, Any], unlocked: bool
) -> tuple[str, Verdict | None, str]:
    code = config.get("stretch", "")
    if not code:
        return "not_attempted", None, ""
    if not unlocked:
        return "locked", None, ""
    status, message = await _cell_problem(code, _STRETCH, ns)
    if status:
        return status, None, message
    fn = ns.get("sequential_fetch")
    if fn is None:
        return "not_attempted", None, "sequential_fetch is not defined"
    verdict = await judge(fn, settings, stretch=True)
    if verdict.status == "not_attempted":
        return "not_attempted", verdict, ""
    return ("pass" if verdict.passed else "fail"), verdict, verdict.error


async def _grade(config: dict[str, Any], ns: dict[str, Any]) -> dict[str, Any]:
    notes: list[str] = []
    for statement in config.get("preamble", []):
        status, message = await _cell_problem(statement, "<import>", ns)
        if status:
            notes.append(f"an import above the answer failed: {message or statement}")
    report: dict[str, Any] = {
        "notes": notes,
        "verdict": None,
        "stretch": "",
        "stretch_verdict": None,
        "error": "",
    }
    status, message = await _cell_problem(config["answer"], _ANSWER, ns)
    if status:
        return {**report, "status": status, "error": message}
    fn = ns.get("parallel_fetch")
    if fn is None:
        return {
            **report,
            "status": "error",
            "error": "the answer cell does not define parallel_fetch",
        }
    settings = JudgeSettings(**config.get("settings", {}))
    verdict = await judge(fn, settings)
    report.update(status=verdict.status, verdict=verdict.to_dict(), error=verdict.error)
    if verdict.status != "not_attempted":
        stretch, stretch_verdict, stretch_error = await _stretch(
            config, settings, ns, verdict.passed
        )
        report.update(
            stretch=stretch,
            stretch_error=stretch_error,
            stretch_verdict=stretch_verdict.to_dict() if stretch_verdict else None,
        )
    return report


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run and judge the submission described by ``config``; returns the report.

    Args:
        config: ``preamble`` (import statements), ``answer`` and ``stretch`` (cell
            sources), ``settings`` (:class:`JudgeSettings` fields),
            ``output_limit`` (characters of printed output to keep) and ``nonce``
            (handed back in the report, so the worker knows the report is the probe's).
    """
    config = dict(config)
    nonce = config.pop("nonce", "")
    sink = CappedText(int(config.get("output_limit", 4000)))
    with redirect_stdout(sink), redirect_stderr(sink):
        report = await _grade(config, _namespace())
    report.update(output=sink.getvalue(), output_dropped=sink.dropped, nonce=nonce)
    return report


async def main(config: dict[str, Any]) -> None:
    """Run :func:`run` and display its report under :data:`MIME` for the worker."""
    from IPython.display import display

    report = await run(config)
    display({MIME: report}, raw=True)  # type: ignore[no-untyped-call]
