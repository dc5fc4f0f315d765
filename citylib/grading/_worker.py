"""One submission, inside the sandbox: start a kernel, run the probe, report.

``python -m citylib.grading._worker`` reads a job (JSON) on stdin, runs in the
sandbox's private folder, and writes one line, ``CITYLIB-RESULT {json}``, on
stdout. It talks to its kernel with ``jupyter_client`` directly (the layer
``nbclient`` is built on): a grader runs one cell, and importing ``nbclient``,
which imports ``nbformat`` and its schema validator, would cost more than the
kernel takes to start.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from queue import Empty
from typing import Any

from citylib.grading._notebook import NotebookError, extract, load

__all__ = ["RESULT_PREFIX", "main", "run_job"]

#: The worker's answer line starts with this.
RESULT_PREFIX = "CITYLIB-RESULT "
# probe.MIME, spelled out: importing the probe would import the judge here for nothing.
_MIME = "application/vnd.citylib.sprint-verdict+json"
_KERNEL_ARGS = [
    "--HistoryManager.enabled=False",  # no sqlite history file per kernel
    "--IPKernelApp.capture_fd_output=False",  # fd-level writes stay out of the messages
]


def _not_dumpable() -> None:
    """Hide this process's ``/proc`` entries (its stdout above all) from the kernel."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "the kernel stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {
            "SIGXCPU": " (it used up its CPU time)",
            "SIGXFSZ": " (it wrote a file larger than allowed)",
            "SIGKILL": " (killed, perhaps for using too much memory)",
        }.get(name, "")
        return f"the kernel was killed by {name}{why}"
    return f"the kernel exited with code {code}"


def _kernel_code(config: dict[str, Any]) -> str:
    text = json.dumps(config)
    return (
        "import json as _citylib_json\n"
        "import citylib.grading._probe as _citylib_probe\n"
        f"await _citylib_probe.main(_citylib_json.loads({text!r}))\n"
    )


def _talk(kc: Any, km: Any, code: str, timeout: float, nonce: str) -> dict[str, Any]:
    """Execute ``code``; returns the probe's report or a status of what went wrong."""
    msg_id = kc.execute(code, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    report: dict[str, Any] | None = None
    error = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return {"status": "timeout", "error": f"still running after {timeout:g} s"}
        try:
            msg = kc.get_iopub_msg(timeout=min(0.1, remaining))
        except Empty:
            if not km.is_alive():
                process = getattr(km.provisioner, "process", None)
                code_ = process.poll() if process is not None else None
                return {"status": "kernel_died", "error": _exit_reason(code_)}
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        found = content.get("data", {}).get(_MIME) if kind == "display_data" else None
        if isinstance(found, dict) and found.pop("nonce", None) == nonce:
            report = found
        elif kind == "error":
            error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
        elif kind == "status" and content.get("execution_state") == "idle":
            break
    if report is None:
        return {"status": "error", "error": error or "the kernel gave no verdict"}
    return report


def _stop(km: Any) -> None:
    """Kill the kernel and whatever it started (it leads its own process group)."""
    process = getattr(km.provisioner, "process", None)
    if process is not None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            process.wait(timeout=5)
    with contextlib.suppress(Exception):
        km.cleanup_resources()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Grade the notebook the job names; returns the report (always, never raises).

    Args:
        job: ``notebook`` (path), ``timeout`` (seconds for the answer and its
            judging), ``startup_timeout``, and the probe's ``settings`` and
            ``output_limit``.
    """
    try:
        extracted = extract(load(job["notebook"]))
    except (NotebookError, ValueError) as exc:
        return {"status": "error", "error": str(exc), "notes": []}
    if not extracted.answer:
        return {"status": "error", "error": "; ".join(extracted.notes), "notes": []}
    config = {
        "preamble": extracted.preamble,
        "answer": extracted.answer,
        "stretch": extracted.stretch,
        "settings": job.get("settings", {}),
        "output_limit": job.get("output_limit", 4000),
        # Only a report carrying this came from the probe: a submission that displays
        # a verdict of its own is not believed.
        "nonce": secrets.token_hex(16),
    }
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    started = time.monotonic()
    try:
        km.start_kernel(
            extra_arguments=_KERNEL_ARGS,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=float(job.get("startup_timeout", 60)))
        except RuntimeError as exc:
            return {
                "status": "error",
                "error": f"the grader's kernel did not start: {exc}",
                "notes": extracted.notes,
                "grader_fault": True,
            }
        ready = time.monotonic()
        timeout = float(job.get("timeout", 20))
        report = _talk(kc, km, _kernel_code(config), timeout, str(config["nonce"]))
        report.setdefault("notes", [])
        report["notes"] = [*extracted.notes, *report["notes"]]
        report["kernel_start_seconds"] = round(ready - started, 3)
        kc.stop_channels()
        return report
    finally:
        _stop(km)


def main() -> None:
    """Read a job on stdin, grade it, print the result line, exit at once."""
    _not_dumpable()
    job = json.load(sys.stdin)
    report = run_job(job)
    sys.stdout.write(RESULT_PREFIX + json.dumps(report) + "\n")
    sys.stdout.flush()
    # Skip interpreter teardown (ZMQ contexts, threads): the answer is out.
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
