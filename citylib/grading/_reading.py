"""Parsing a large notebook away from the judge's own thread.

The judge's event loop serves every child at once, and ``json`` holds the GIL for a
whole parse: a 17 MB notebook parsed on a thread of the grader's process stalls that
loop for most of a second, so honest neighbours' answers come late and their drives
run out of time. A notebook larger than :data:`APART_BYTES` is therefore parsed in a
process of its own (one, started on first need and kept for the batch; the thread that
asked waits for it without holding the GIL); a small one, parsed in a few
milliseconds, right where it was read.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

from citylib.grading._notebook import Extracted, extract, parse

__all__ = ["APART_BYTES", "Reader", "extract_bytes"]

#: Notebooks larger than this are parsed in a process apart from the judge's.
APART_BYTES = 2**20


def extract_bytes(data: bytes) -> Extracted:
    """A notebook file's bytes as what the grader runs (picklable: it runs apart)."""
    return extract(parse(data))


class Reader:
    """Parses notebooks for one batch: small ones here, large ones in a process apart."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # reading threads may ask at once

    def extract(self, data: bytes) -> Extracted:
        """:func:`extract_bytes`, apart when ``data`` is large (its errors raised here)."""
        if len(data) <= APART_BYTES:
            return extract_bytes(data)
        with self._lock:
            if self._pool is None:  # spawn: a fresh interpreter, nothing of this loop's
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=context)
            pool = self._pool
        return pool.submit(extract_bytes, data).result()

    def close(self) -> None:
        """Stop the parsing process, if one was started."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
