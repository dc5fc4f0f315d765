"""Reading a submission's notebook into a job, away from the judge's own thread.

The judge's event loop serves every child at once, and ``json`` holds the GIL for a
whole parse: a 17 MB notebook read on a thread of the grader's process stalls that
loop for most of a second, so honest neighbours' answers come late and their drives
run out of time. A notebook larger than :data:`APART_BYTES` is therefore read in a
process of its own (one, started on first need and kept for the batch); a small one,
read in a few milliseconds, on a thread as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from citylib.grading._messages import DEFAULTS, Job
from citylib.grading._notebook import NotebookError, extract, load

__all__ = ["APART_BYTES", "Reader", "Reading", "read_job"]

#: Notebooks larger than this are read in a process apart from the judge's.
APART_BYTES = 2**20


@dataclass
class Reading:
    """What reading one notebook found: its hash, and a job or why there is none."""

    sha256: str = ""
    job: Job | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_job(path: str, job: Job) -> Reading:
    """The notebook at ``path`` as ``job`` with its cells filled in (picklable: it runs
    in another process too)."""
    found = Reading(_sha256(Path(path)))
    if Path(path).stat().st_size > DEFAULTS.notebook_bytes:
        found.error = f"the file is larger than {DEFAULTS.notebook_bytes // 2**20} MiB"
        return found
    try:
        extracted = extract(load(path))
    except (NotebookError, ValueError) as exc:
        found.error = str(exc)
        return found
    found.notes.extend(extracted.notes)
    if not extracted.answer:
        found.error = "; ".join(extracted.notes)
        found.notes.clear()
        return found
    found.job = Job(
        extracted.preamble, extracted.answer, extracted.stretch, job.seed, job.drives,
        job.speed, job.timeout, job.output_limit,
    )  # fmt: skip
    return found


class Reader:
    """Reads notebooks for one batch: small ones on a thread, large ones apart."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def read(self, path: Path, job: Job) -> Reading:
        """Read ``path`` (OSError when it cannot be)."""
        size = (await asyncio.to_thread(path.stat)).st_size
        if size <= APART_BYTES:
            return await asyncio.to_thread(read_job, str(path), job)
        if self._pool is None:  # spawn: a fresh interpreter, nothing of this loop's
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, read_job, str(path), job)

    def close(self) -> None:
        """Stop the reading process, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
