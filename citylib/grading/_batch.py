"""Grading a class: each submission in its own sandboxed worker, several at a time.

For every submission the grader hashes the file, copies it into a private folder,
and starts a worker there (``citylib.grading._worker``) inside the sandbox; the
worker starts a kernel, runs only the answer cells and the imports above them,
and the judge drives ``parallel_fetch`` with instrumented sources. Nothing a
submission does (loop forever, crash its kernel, flood its output, reach for the
network or the disk) can stop the batch: it ends with a status.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from citylib._lessons.judge import CHECKS, JudgeSettings
from citylib.grading._sandbox import Limits, Sandbox, detect
from citylib.grading._worker import RESULT_PREFIX

__all__ = [
    "DEFAULT_SPEED",
    "GRADE_STATUSES",
    "Batch",
    "GradeRecord",
    "default_workers",
    "grade_batch",
]

#: How a submission's grading can end.
GRADE_STATUSES = ("ok", "timeout", "kernel_died", "error", "not_attempted")

#: The city clock's speed inside graded kernels: the judge's latencies (0.8 to 3.6
#: city seconds) last 0.1 to 0.45 real seconds, long enough that a blocked loop and
#: overlapping calls stand out clearly from scheduling noise on a busy machine.
DEFAULT_SPEED = 8.0

_MAX_NOTEBOOK_BYTES = 20 * 2**20
_SUBMISSION = "submission.ipynb"


def default_workers() -> int:
    """Submissions graded at once: three per core, at most 32.

    A submission costs about 0.7 s of CPU (worker, kernel start, imports) but
    spends most of its 2 to 4 s waiting on the judge's slow sources, so three
    workers per core keep the cores busy (measured on 2 cores: 3 workers ~47/min,
    6 ~93/min, 8 ~85/min on a busy machine). Each worker and kernel take ~150 MB.
    """
    return min(3 * (os.cpu_count() or 1), 32)


@dataclass
class GradeRecord:
    """One submission's grade.

    Attributes:
        submission: Its name in the batch (path relative to the batch's common folder).
        path: The file graded.
        sha256: The file's SHA-256, taken before grading.
        status: One of :data:`GRADE_STATUSES`.
        score: Checks passed.
        max_score: Checks there are.
        checks: Each check's outcome (``None`` when it was not judged).
        details: Each check's title, outcome, what happened, and the hint.
        stretch: The stretch goal: ``pass``, ``fail``, ``locked``, ``not_attempted``,
            ``error``, or ``""`` when the submission was not judged.
        bonus: 1 when the stretch goal passed, scored apart from ``score``.
        stretch_details: The stretch checks, like ``details``.
        error: What went wrong, for a status other than ``ok``.
        notes: Other things the teacher should know.
        output: The start of what the submission printed.
        output_dropped: Characters of printed output not kept.
        seconds: Wall-clock seconds spent on it.
        sandbox: The sandbox level it ran in.
        unchanged: Whether the file's hash was the same after grading.
    """

    submission: str
    path: str
    sha256: str
    status: str = "error"
    score: int = 0
    max_score: int = len(CHECKS)
    checks: dict[str, bool | None] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    stretch: str = ""
    bonus: int = 0
    stretch_details: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    seconds: float = 0.0
    sandbox: str = ""
    unchanged: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


@dataclass
class Batch:
    """A graded batch.

    Attributes:
        records: One per submission, in the order given.
        sandbox: The sandbox level used.
        workers: Submissions graded at once.
        seconds: Wall-clock seconds for the whole batch.
        settings: How the judge drove each function.
        speed: The city clock's speed in the graded kernels.
        timeout: Seconds each submission's answer had.
    """

    records: list[GradeRecord]
    sandbox: str
    workers: int
    seconds: float
    settings: JudgeSettings
    speed: float
    timeout: float

    @property
    def per_minute(self) -> float:
        """Submissions graded per minute."""
        return 60 * len(self.records) / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        """How many submissions ended with each status."""
        return {s: sum(r.status == s for r in self.records) for s in GRADE_STATUSES}


def sha256(path: Path) -> str:
    """The file's SHA-256 in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _labels(paths: Sequence[Path]) -> list[str]:
    """Names relative to the submissions' common folder (``alice/05.ipynb``)."""
    resolved = [p.resolve() for p in paths]
    if len(resolved) == 1:
        return [resolved[0].name]
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    return [str(p.relative_to(common)) for p in resolved]


@dataclass(frozen=True)
class _Context:
    sandbox: Sandbox
    settings: JudgeSettings
    speed: float
    timeout: float
    output_limit: int
    base: Path

    def environment(self, folder: Path) -> dict[str, str]:
        home = self.sandbox.home(folder)
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "CITYLIB_SPEED": f"{self.speed:g}",
            "MPLBACKEND": "Agg",
            "MALLOC_ARENA_MAX": "2",  # keeps each process's address space small
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
        }


def _result_line(stream: IO[bytes]) -> dict[str, Any] | None:
    """The worker's answer: the last result line of its output (read from the end)."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - 4 * 2**20))
    for line in reversed(stream.read().decode("utf-8", "replace").splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                found = json.loads(line[len(RESULT_PREFIX) :])
            except json.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _tail(stream: IO[bytes], limit: int = 600) -> str:
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - limit))
    return stream.read().decode("utf-8", "replace").strip()


def _run_worker(folder: Path, slot: int, ctx: _Context) -> tuple[dict[str, Any] | None, str]:
    """Run the sandboxed worker; returns its report (or ``None``) and why not."""
    job = {
        "notebook": _SUBMISSION,
        "timeout": ctx.timeout,
        "startup_timeout": 60,
        "settings": asdict(ctx.settings),
        "output_limit": ctx.output_limit,
    }
    hard_limit = ctx.timeout + 60  # kernel start-up on a busy machine, then the answer
    argv = [sys.executable, "-m", "citylib.grading._worker"]
    command = ctx.sandbox.wrap(argv, slot=slot, timeout=hard_limit)
    with tempfile.TemporaryFile(dir=ctx.base) as out, tempfile.TemporaryFile(dir=ctx.base) as err:
        try:
            done = subprocess.run(
                command,
                input=json.dumps(job).encode(),
                stdout=out,
                stderr=err,
                cwd=folder,
                env=ctx.environment(folder),
                timeout=hard_limit + 10,
                check=False,
            )
            code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            code = None
        report = _result_line(out)
        if report is not None:
            return report, ""
        if code in (None, 124, 137, -9):
            return None, "timeout"
        return None, f"the grader's worker failed (exit {code}): {_tail(err)}"


def _apply(record: GradeRecord, report: dict[str, Any]) -> None:
    record.status = str(report.get("status", "error"))
    if record.status not in GRADE_STATUSES:
        record.status = "error"
    record.error = str(report.get("error", ""))
    record.notes = [str(n) for n in report.get("notes", [])]
    record.output = str(report.get("output", ""))
    record.output_dropped = int(report.get("output_dropped", 0))
    verdict = report.get("verdict") or {}
    record.details = list(verdict.get("checks", []))
    judged = {c["id"]: bool(c["passed"]) for c in record.details}
    record.checks = {c.id: judged.get(c.id) for c in CHECKS}
    record.score = sum(bool(v) for v in record.checks.values())
    record.stretch = str(report.get("stretch", ""))
    record.bonus = int(record.stretch == "pass")
    stretch_verdict = report.get("stretch_verdict") or {}
    record.stretch_details = list(stretch_verdict.get("checks", []))
    if report.get("stretch_error") and record.stretch != "pass":
        record.notes.append(f"stretch goal: {report['stretch_error']}")


def _grade_one(path: Path, label: str, slot: int, ctx: _Context) -> GradeRecord:
    started = time.perf_counter()
    record = GradeRecord(
        label,
        str(path),
        sha256(path),
        sandbox=ctx.sandbox.level,
        checks={c.id: None for c in CHECKS},
    )
    folder = Path(tempfile.mkdtemp(prefix="job-", dir=ctx.base))
    try:
        if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
            record.error = f"the file is larger than {_MAX_NOTEBOOK_BYTES // 2**20} MiB"
            return record
        shutil.copyfile(path, folder / _SUBMISSION)
        uid = ctx.sandbox.uid(slot)
        if uid is not None:
            os.chown(folder, uid, uid)
        folder.chmod(0o700)
        report, problem = _run_worker(folder, slot, ctx)
        if report is not None:
            _apply(record, report)
        elif problem == "timeout":
            record.status, record.error = "timeout", f"still running after {ctx.timeout:g} s"
        else:
            record.error = problem
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            record.unchanged = sha256(path) == record.sha256
        except OSError:  # gone or unreadable now: not the same file any more
            record.unchanged = False
        if not record.unchanged:
            record.notes.append("the file changed while it was being graded")
        record.seconds = round(time.perf_counter() - started, 3)
    return record


def grade_batch(
    submissions: Sequence[str | Path],
    *,
    workers: int | None = None,
    timeout: float = 20.0,
    settings: JudgeSettings | None = None,
    speed: float = DEFAULT_SPEED,
    limits: Limits | None = None,
    sandbox: Sandbox | None = None,
    output_limit: int = 4000,
    progress: Callable[[int, int, GradeRecord], None] | None = None,
) -> Batch:
    """Grade every submission, each in its own sandboxed kernel.

    Args:
        submissions: Notebook files.
        workers: Submissions graded at once (default :func:`default_workers`).
        timeout: Seconds each submission's answer (and its judging) may run.
        settings: How the judge drives ``parallel_fetch`` (seed, drives, …).
        speed: The city clock's speed inside the graded kernels.
        limits: Resource limits (default :class:`Limits`).
        sandbox: A sandbox to use instead of the strongest one found here.
        output_limit: Characters of each submission's printed output to keep.
        progress: Called as ``progress(done, total, record)`` after each submission.

    Returns:
        The :class:`Batch`, records in the order given.
    """
    paths = [Path(s) for s in submissions]
    if not paths:
        raise ValueError("no submissions to grade")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"no such file: {', '.join(missing)}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be at least 1, not {count!r}")
    chosen = sandbox or detect(limits or Limits())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citylib-grade-") as base:
        ctx = _Context(
            chosen, settings or JudgeSettings(), speed, timeout, output_limit, Path(base)
        )
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for n in range(count):
            slots.put(n)
        finished = itertools.count(1)
        lock = threading.Lock()

        def job(path: Path, label: str) -> GradeRecord:
            slot = slots.get()
            try:
                record = _grade_one(path, label, slot, ctx)
            except OSError as exc:  # unreadable, vanished: this file fails, not the batch
                record = GradeRecord(
                    label,
                    str(path),
                    "",
                    sandbox=chosen.level,
                    checks={c.id: None for c in CHECKS},
                    error=f"the grader could not read the file: {exc}",
                )
            finally:
                slots.put(slot)
            if progress is not None:
                with lock:  # one progress line at a time, numbered in order
                    progress(next(finished), len(paths), record)
            return record

        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="citylib-grade") as pool:
            records = list(pool.map(job, paths, _labels(paths)))
    return Batch(
        records, chosen.level, count, time.perf_counter() - started, ctx.settings, speed, timeout
    )
