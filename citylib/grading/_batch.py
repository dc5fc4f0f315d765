"""Grading a class: each submission's child in its own sandbox, the judge here.

For every submission the grader hashes the file, reads its tagged cells (the child
never sees the notebook), and starts a child in a private folder inside the sandbox;
the judge in this process (:mod:`citylib.grading._judge`) drives it over a socket
pair. One asyncio loop serves every child at once, ``workers`` at a time. Nothing a
submission does (loop forever, kill its process, flood its output or the channel,
reach for the network or the disk) can stop the batch: it ends with a status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from citylib import __version__
from citylib._lessons.judge import CHECKS, JudgeSettings
from citylib.grading import _scoring
from citylib.grading._judge import Observed, run_submission
from citylib.grading._messages import DEFAULTS, GRADE_STATUSES, GradeRecord, Job
from citylib.grading._notebook import NotebookError
from citylib.grading._reading import Reader
from citylib.grading._rubric import DEFAULT, Rubric
from citylib.grading._safe import printable
from citylib.grading._sandbox import Limits, Sandbox, detect

__all__ = [
    "GRADE_STATUSES",
    "Batch",
    "GradeRecord",
    "default_workers",
    "gradable",
    "grade_batch",
    "in_shard",
    "labels",
    "new_seed",
    "sha256",
    "submission_seed",
]

_T = TypeVar("_T")


def default_workers() -> int:
    """Submissions graded at once: six per core, at most 32.

    A submission costs about 0.3 s of CPU (the sandbox, a plain Python, its imports,
    0.07 s of it the judge's side) but spends about 2 s waiting on the judge's slow
    sources, so many children share the cores; each child peaks at about 24 MiB.
    Measured on 2 cores: 12 at once ~300/min; 14 or 16 gained nothing on a busy machine
    and widened the timing noise the judge must absorb.
    """
    return min(DEFAULTS.workers_per_core * (os.cpu_count() or 1), DEFAULTS.max_workers)


def new_seed() -> int:
    """A fresh secret seed for a batch's latencies (recorded in grades.json)."""
    return secrets.randbits(48)


@dataclass
class Batch:
    """A graded batch.

    Attributes:
        records: One per submission, in the order given.
        sandbox: The sandbox level used.
        workers: Submissions graded at once.
        seconds: Wall-clock seconds for the whole batch.
        settings: How the judge drove each function (its ``seed`` included).
        speed: The city clock's speed in the children.
        timeout: Seconds each submission's cells and drives had.
        shard: ``K/N`` when this is one slice of a class (``""``: all of it).
        skipped: A message for each path given but not graded (a folder, a file
            missing, the same file twice).
        rubric: The teacher's rubric the points were counted by.
    """

    records: list[GradeRecord]
    sandbox: str
    workers: int
    seconds: float
    settings: JudgeSettings
    speed: float
    timeout: float
    shard: str = ""
    skipped: list[str] = dataclasses.field(default_factory=list)
    rubric: Rubric = DEFAULT

    @property
    def seed(self) -> int:
        """The seed of the judge's latencies."""
        return self.settings.seed

    @property
    def per_minute(self) -> float:
        """Submissions graded per minute."""
        return 60 * len(self.records) / self.seconds if self.seconds > 0 else 0.0

    @property
    def verified(self) -> bool:
        """Whether every record was verified."""
        return bool(self.records) and all(r.verified for r in self.records)

    def counts(self) -> dict[str, int]:
        """How many submissions ended with each status."""
        return {s: sum(r.status == s for r in self.records) for s in GRADE_STATUSES}


#: Opening a submission: never through a symbolic link (graded under its own name, a
#: link to alice.ipynb or to the solution would be Alice's work or the teacher's), and
#: never waiting on a FIFO.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

_SYMLINK = (
    "refused: the file is a symbolic link, not a notebook handed in; hand in the .ipynb "
    "file that Jupyter saved"
)


def sha256(path: Path) -> str:
    """The file's SHA-256 in hex (read without following a symbolic link)."""
    digest = hashlib.sha256()
    with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or ``None`` when it is larger than ``limit``.

    Raises:
        OSError: It cannot be opened (``ELOOP``: it is a symbolic link) or is not a
            regular file.
    """
    with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a notebook file")
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def labels(paths: Sequence[Path]) -> list[str]:
    """Names relative to the submissions' common folder (``alice/05.ipynb``), each one
    different and printable (an undecodable byte reads ``\\xe9``).

    A symbolic link keeps its own name: paths are made absolute, never resolved.
    """
    absolute = [Path(os.path.abspath(p)) for p in paths]
    if len(absolute) == 1:
        names = [absolute[0].name]
    else:
        common = Path(os.path.commonpath([p.parent for p in absolute]))
        names = [str(p.relative_to(common)) for p in absolute]
    unique: list[str] = []
    for name in names:
        label, n = printable(name, keep_newlines=False), 1
        while label in unique:  # only two names that print alike
            n += 1
            label = f"{printable(name, keep_newlines=False)} ({n})"
        unique.append(label)
    return unique


def gradable(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The paths to grade, and a message for each one left out: missing, not a
    regular file (a folder named ``x.ipynb``), or the same file given again.

    A symbolic link is kept: it gets its own record, refused with a clear message.
    """
    kept: list[Path] = []
    skipped: list[str] = []
    seen: dict[tuple[int, int], Path] = {}
    for path in paths:
        shown = printable(str(path), keep_newlines=False)
        try:
            info = os.lstat(path)
        except OSError as exc:
            skipped.append(f"{shown}: skipped, no such file ({exc.strerror})")
            continue
        if stat.S_ISLNK(info.st_mode):
            kept.append(path)
        elif not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            skipped.append(f"{shown}: skipped, {what}, not a notebook file")
        elif (info.st_dev, info.st_ino) in seen:
            first = printable(str(seen[info.st_dev, info.st_ino]), keep_newlines=False)
            skipped.append(f"{shown}: skipped, the same file as {first}")
        else:
            seen[info.st_dev, info.st_ino] = path
            kept.append(path)
    linked = _in_linked_folders(kept)
    skipped.extend(
        f"{printable(str(p), keep_newlines=False)}: skipped, its folder {printable(linked[p])} "
        "is a symbolic link (a submission is named by its own path)"
        for p in kept
        if p in linked
    )
    return [p for p in kept if p not in linked], skipped


def _in_linked_folders(paths: Sequence[Path]) -> dict[Path, str]:
    """The paths below the submissions' common folder through a folder that is a
    symbolic link (``mallory/`` linked to ``alice/``), each with that folder."""
    if len(paths) < 2:
        return {}
    absolute = {p: Path(os.path.abspath(p)) for p in paths}
    common = Path(os.path.commonpath([a.parent for a in absolute.values()]))
    found: dict[Path, str] = {}
    for path, full in absolute.items():
        folder = common
        for part in full.parent.relative_to(common).parts:
            folder /= part
            if folder.is_symlink():
                found[path] = str(folder)
                break
    return found


def in_shard(label: str, shard: tuple[int, int]) -> bool:
    """Whether ``label`` belongs to slice ``K`` of ``N`` (``shard == (K, N)``, K from 1).

    By a hash of the name alone, so every slice agrees without seeing the others and
    a submission added later does not move any other to another slice.
    """
    k, n = shard
    return int(hashlib.sha256(label.encode("utf-8")).hexdigest()[:15], 16) % n == k - 1


@dataclass(frozen=True)
class _Context:
    sandbox: Sandbox
    settings: JudgeSettings
    speed: float
    timeout: float
    output_limit: int
    base: Path
    rubric: Rubric = DEFAULT
    reader: Reader = field(default_factory=Reader)  # large notebooks read apart

    def environment(self, folder: Path) -> dict[str, str]:
        home = self.sandbox.home(folder)
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "CITYLIB_SPEED": f"{self.speed:g}",
            "MPLBACKEND": "Agg",
            "MALLOC_ARENA_MAX": "1",  # keeps each child's address space small
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONSAFEPATH": "1",  # the child's folder is not on its import path
        }


def _record(path: Path, label: str, ctx: _Context) -> GradeRecord:
    return GradeRecord(
        label,
        printable(str(path)),
        "",
        sandbox=ctx.sandbox.level,
        protections=list(ctx.sandbox.protections),
        checks={c.id: None for c in CHECKS},
        max_score=ctx.rubric.max_score,
        seed=ctx.settings.seed,
        grader_version=__version__,
        # Nothing ran yet, so nothing could reach the judge; a child run revisits this.
        verified=ctx.sandbox.verified,
    )


def submission_seed(seed: int, digest: str) -> int:
    """The seed of one submission's latencies: the batch's secret seed and the file's
    hash. A student who saw their page (every drive's latencies) and hands in a
    changed file gets latencies nobody could predict, even when the teacher regrades
    with the same ``--seed``; the same file regraded gets the same verdict."""
    mixed = hashlib.sha256(f"{seed}:{digest}".encode()).digest()
    return int.from_bytes(mixed[:6], "big")


def _read_job(path: Path, record: GradeRecord, ctx: _Context) -> tuple[Job, JudgeSettings] | None:
    """The submission's cells as a job and the judge's settings for it, or ``None``
    with the record saying why."""
    try:
        data = _read(path, DEFAULTS.notebook_bytes)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            record.error = _SYMLINK
            return None
        raise
    if data is None:
        record.error = f"the file is larger than {DEFAULTS.notebook_bytes // 2**20} MiB"
        return None
    record.sha256 = hashlib.sha256(data).hexdigest()
    try:
        extracted = ctx.reader.extract(data)  # a large one parsed in a process apart
    except (NotebookError, ValueError, RecursionError) as exc:
        record.error = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
        return None
    record.notes.extend(extracted.notes)
    if not extracted.answer:
        record.error = "; ".join(extracted.notes)
        record.notes.clear()
        return None
    settings = dataclasses.replace(
        ctx.settings, seed=submission_seed(ctx.settings.seed, record.sha256)
    )
    job = Job(
        extracted.preamble,
        extracted.answer,
        extracted.stretch,
        settings.seed,
        settings.drives,
        ctx.speed,
        ctx.timeout,
        ctx.output_limit,
    )
    return job, settings


def _apply(
    record: GradeRecord, found: Observed, isolated: bool, job: Job, rubric: Rubric = DEFAULT
) -> None:
    record.status = found.status if found.status in GRADE_STATUSES else "error"
    record.error = found.error
    record.line = found.line
    lines = job.answer.splitlines()
    if 0 < found.line <= len(lines):
        record.failing_line = lines[found.line - 1].strip()
    record.notes.extend(found.notes)
    record.output, record.output_dropped = found.output, found.output_dropped
    record.memory_mb = found.memory_mb
    record.drives, record.stretch_drives = found.drives, found.stretch_drives
    if record.status in ("ok", "error") and found.verdict is not None:
        record.diagnosis = [d.text() for d in found.verdict.diagnoses]
        record.slips = [d.id for d in found.verdict.diagnoses]
    if record.status == "ok" and found.verdict is not None:
        record.details = _scoring.outcomes(found.verdict, rubric=rubric)
        record.checks = {c.id: c.passed for c in record.details}
        record.stretch = found.stretch
        record.bonus = rubric.bonus if found.stretch == "pass" else 0
        if found.stretch_verdict is not None:
            record.stretch_details = _scoring.outcomes(found.stretch_verdict, weighted=False)
    record.score = _scoring.points(record.status, record.details, rubric)
    # The judge is isolated only with a user of the child's own, namespaces, and its
    # loop watched from outside; below that the child runs as the grader's user.
    # Nothing ran (a job past the grader's limits): nothing could reach the judge.
    watched = found.watched or not found.ran
    record.verified = isolated and watched and record.status != "grader_fault"
    if not watched and record.status not in ("grader_fault",):
        record.notes.append("its event loop could not be watched from outside (/proc)")


async def _grade_one(path: Path, label: str, slot: int, ctx: _Context) -> GradeRecord:
    started = time.perf_counter()
    record = _record(path, label, ctx)
    folder: Path | None = None
    try:
        read = await asyncio.to_thread(_read_job, path, record, ctx)
        if read is None:
            return record
        job, settings = read
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=ctx.base))
        uid = ctx.sandbox.uid(slot)
        if uid is not None:
            os.chown(folder, uid, uid)
        folder.chmod(0o700)
        with tempfile.TemporaryFile(dir=ctx.base) as log:
            found = await run_submission(
                job,
                settings,
                ctx.sandbox,
                slot=slot,
                folder=folder,
                env=ctx.environment(folder),
                log=log,
            )
        _apply(record, found, ctx.sandbox.verified, job, ctx.rubric)
    except OSError as exc:  # unreadable, vanished: this file fails, not the batch
        record.status, record.score = "error", 0
        record.error = f"the grader could not read the file: {exc}"
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        try:
            record.unchanged = not record.sha256 or sha256(path) == record.sha256
        except OSError:  # gone or unreadable now: not the same file any more
            record.unchanged = False
        if not record.unchanged and record.sha256:
            record.notes.append("the file changed while it was being graded")
        record.seconds = round(time.perf_counter() - started, 3)
    return record


async def _grade_all(
    paths: list[Path],
    names: list[str],
    ctx: _Context,
    workers: int,
    progress: Callable[[int, int, GradeRecord], None] | None,
) -> list[GradeRecord]:
    slots: asyncio.Queue[int] = asyncio.Queue()
    for n in range(workers):
        slots.put_nowait(n)
    done = 0

    async def job(path: Path, label: str) -> GradeRecord:
        nonlocal done
        slot = await slots.get()
        try:
            for attempt in range(2):  # a grader fault is tried once more: it may pass
                try:
                    record = await _grade_one(path, label, slot, ctx)
                except Exception as exc:  # the grader's own bug: this submission only
                    record = _record(path, label, ctx)
                    record.status, record.score = "grader_fault", None
                    record.error = f"the grader failed: {exc!r}"
                if record.status != "grader_fault":
                    break
                if attempt == 0:
                    await asyncio.sleep(0.5)
            if record.status == "grader_fault":
                record.notes.append("the grader failed on it twice: regrade it")
        finally:
            slots.put_nowait(slot)
        done += 1
        if progress is not None:
            progress(done, len(paths), record)
        return record

    return list(await asyncio.gather(*(job(p, n) for p, n in zip(paths, names, strict=True))))


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end, on a thread of its own when a loop runs here (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="citylib-grade")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def grade_batch(
    submissions: Sequence[str | Path],
    *,
    workers: int | None = None,
    timeout: float = DEFAULTS.timeout,
    settings: JudgeSettings | None = None,
    seed: int | None = None,
    speed: float = DEFAULTS.speed,
    limits: Limits | None = None,
    sandbox: Sandbox | None = None,
    output_limit: int = DEFAULTS.output_limit,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int, GradeRecord], None] | None = None,
    rubric: Rubric = DEFAULT,
) -> Batch:
    """Grade every submission, each in its own sandboxed child, judged from here.

    Args:
        submissions: Notebook files. A path that is no regular file is left out
            with a message in :attr:`Batch.skipped` (a symbolic link is refused in its
            own record); only when nothing is left does it raise.
        workers: Submissions graded at once (default :func:`default_workers`).
        timeout: Seconds each submission's cells and drives may take.
        settings: How the judge drives ``parallel_fetch`` (drives, tolerances).
        seed: The latencies' seed (default: ``settings.seed`` when settings are
            given, else a fresh secret one), mixed with each file's hash
            (:func:`submission_seed`): the same seed and file, the same verdict.
        speed: The city clock's speed inside the children.
        limits: Resource limits (default :class:`Limits`).
        sandbox: A sandbox to use instead of the strongest one found here.
        output_limit: Characters of each submission's printed output to keep.
        shard: ``(K, N)``: grade only slice K (from 1) of N (see :func:`in_shard`).
        progress: Called as ``progress(done, total, record)`` after each submission.
        rubric: The teacher's points per check, needs and bonus (default: today's).

    Returns:
        The :class:`Batch`, records in the order given.
    """
    if not submissions:
        raise ValueError("no submissions to grade")
    paths, skipped = gradable([Path(s) for s in submissions])
    if not paths:
        raise ValueError("nothing to grade: " + "; ".join(skipped))
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be at least 1, not {count!r}")
    names = labels(paths)
    if shard is not None:
        k, n = shard
        if not 1 <= k <= n:
            raise ValueError(f"shard {k}/{n}: K must be from 1 to N")
        kept = [(p, name) for p, name in zip(paths, names, strict=True) if in_shard(name, shard)]
        paths, names = [p for p, _ in kept], [name for _, name in kept]
    base_settings = settings or JudgeSettings()
    if seed is None:
        seed = base_settings.seed if settings is not None else new_seed()
    chosen_settings = JudgeSettings(**{**vars(base_settings), "seed": seed})
    chosen = sandbox or detect(limits or Limits())
    started = time.perf_counter()
    records: list[GradeRecord] = []
    with tempfile.TemporaryDirectory(prefix="citylib-grade-") as base:
        ctx = _Context(chosen, chosen_settings, speed, timeout, output_limit, Path(base), rubric)
        try:
            if paths:
                records = _run(_grade_all(paths, names, ctx, count, progress))
        finally:
            ctx.reader.close()
    return Batch(
        records,
        chosen.level,
        count,
        time.perf_counter() - started,
        chosen_settings,
        speed,
        timeout,
        f"{shard[0]}/{shard[1]}" if shard else "",
        skipped,
        rubric,
    )
