"""Export races as a Chrome / Perfetto trace, to explore them in ui.perfetto.dev.

The file follows the Trace Event Format (the JSON that ``chrome://tracing`` and
Perfetto read): an object whose *first* key is ``traceEvents``, a list of events.

* Each race (or timeline) is a *process*: ``pid`` 1, 2, … named by a
  ``process_name`` metadata event (``"ph": "M"``).
* Each lane is a *thread* with a ``thread_name`` metadata event; thread ids are
  unique across the whole file, and sort in lane order (``thread_sort_index``).
* Each trip is a *complete event* (``"ph": "X"``) with ``ts`` and ``dur`` in
  microseconds of **city time** (1 city second = 1,000,000), ``cat`` = the
  service, and the trip's status, wait and drive in ``args``.
* Time spent waiting in line is drawn on "waiting line" threads below the lanes.

Perfetto requires complete events on one thread to nest, never to overlap in
part. Trips that overlap on one lane (possible on a hand-made timeline) are spread
over extra threads, ``"lane 1 (2)"``, so every thread stays a clean sequence.
Perfetto also stops reading at a top-level key it does not know, so the file holds
only ``traceEvents``, ``displayTimeUnit`` and ``otherData``, in that order, written
compactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citylib._core.race import RaceResult
from citylib._core.timeline import Timeline, Trip

__all__ = [
    "MICROS",
    "MIN_WAIT",
    "PERFETTO_URL",
    "TraceFile",
    "dumps",
    "meta_event",
    "to_trace",
    "write",
]

#: Microseconds in a (city) second: trace timestamps are in microseconds.
MICROS = 1_000_000

PERFETTO_URL = "https://ui.perfetto.dev"

#: Waits shorter than this (city seconds) are scheduling noise, not a line: not drawn.
#: Every course service takes a city second or more, so a real wait is longer.
MIN_WAIT = 0.25


def _micros(city_seconds: float) -> int:
    return round(city_seconds * MICROS)


def _unpack(source: RaceResult | Timeline, index: int) -> tuple[str, list[Trip]]:
    if isinstance(source, RaceResult):
        return source.title, list(source.timeline)
    if isinstance(source, Timeline):
        return source.name or f"timeline {index}", list(source)
    raise TypeError(
        f"a trace is made of race results or timelines, not {type(source).__name__}"
    )


def _pack(spans: Iterable[tuple[int, int, Trip]]) -> list[list[tuple[int, int, Trip]]]:
    """Spread ``(start, end, trip)`` spans over as few tracks as keep each one free of
    overlaps (a span may start the instant the previous one ends)."""
    tracks: list[list[tuple[int, int, Trip]]] = []
    for span in sorted(spans, key=lambda s: (s[0], s[1])):
        for track in tracks:
            if track[-1][1] <= span[0]:
                track.append(span)
                break
        else:
            tracks.append([span])
    return tracks


def meta_event(name: str, pid: int, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
    """A metadata event (``"ph": "M"``) naming or ordering a process (no ``tid``) or a thread."""
    event: dict[str, Any] = {"name": name, "ph": "M", "pid": pid}
    if tid is not None:
        event["tid"] = tid
    return {**event, "ts": 0, "args": args}


def _slice(
    name: str, cat: str, start: int, end: int, pid: int, tid: int, t: Trip
) -> dict[str, Any]:
    """A complete event (``"ph": "X"``) from ``start`` to ``end`` microseconds."""
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": start,
        "dur": max(end - start, 0),
        "pid": pid,
        "tid": tid,
        "args": _args(t),
    }


def _args(t: Trip) -> dict[str, Any]:
    return {
        "request": t.request,
        "service": t.service,
        "lane": t.lane,
        "status": t.status,
        "queued_s": round(t.queued, 3),
        "wait_s": round(t.wait, 3),
        "duration_s": round(t.duration, 3),
    }


def to_trace(*sources: RaceResult | Timeline, waits: bool = True) -> dict[str, Any]:
    """Races or timelines as one trace (a dict ready for ``json.dump``).

    Args:
        sources: One process each, in order.
        waits: Also draw the time each request spent waiting in line (from
            :data:`MIN_WAIT` up).
    """
    if not sources:
        raise ValueError("to_trace() needs at least one race result or timeline")
    meta: list[dict[str, Any]] = []
    slices: list[dict[str, Any]] = []
    next_tid = len(sources) + 1  # thread ids never equal a process id

    def thread(pid: int, name: str, order: int) -> int:
        nonlocal next_tid
        tid, next_tid = next_tid, next_tid + 1
        meta.append(meta_event("thread_name", pid, tid, {"name": name}))
        meta.append(meta_event("thread_sort_index", pid, tid, {"sort_index": order}))
        return tid

    for pid, source in enumerate(sources, 1):
        title, trips = _unpack(source, pid)
        meta.append(meta_event("process_name", pid, None, {"name": title}))
        meta.append(meta_event("process_sort_index", pid, None, {"sort_index": pid}))
        order = 0
        lanes = list(dict.fromkeys(t.lane for t in sorted(trips, key=lambda t: t.start)))
        for lane in lanes:
            spans = [(_micros(t.start), _micros(t.end), t) for t in trips if t.lane == lane]
            for k, track in enumerate(_pack(spans), 1):
                order += 1
                tid = thread(pid, lane if k == 1 else f"{lane} ({k})", order)
                for start, end, t in track:
                    name = t.request if t.status == "ok" else f"{t.request} ({t.status})"
                    slices.append(_slice(name, t.service, start, end, pid, tid, t))
        if waits:
            spans = [(_micros(t.queued), _micros(t.start), t) for t in trips if t.wait >= MIN_WAIT]
            for k, track in enumerate(_pack(spans), 1):
                order += 1
                tid = thread(pid, "waiting line" if k == 1 else f"waiting line ({k})", order)
                for start, end, t in track:
                    name = f"{t.request} waiting in line"
                    slices.append(_slice(name, "waiting", start, end, pid, tid, t))
    slices.sort(key=lambda e: (e["ts"], e["pid"], e["tid"]))
    return {
        "traceEvents": meta + slices,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "citylib.trace",
            "clock": "city time: 1 µs in this trace is 1 city µs",
        },
    }


def dumps(*sources: RaceResult | Timeline, waits: bool = True) -> str:
    """:func:`to_trace` as compact JSON text."""
    return json.dumps(to_trace(*sources, waits=waits), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class TraceFile:
    """A trace written to disk.

    Attributes:
        path: Where it is.
        events: Trace events in it (metadata included).
        slices: Complete events (``"ph": "X"``): trips and waits.
        size: Bytes.
    """

    path: Path
    events: int
    slices: int
    size: int

    def __str__(self) -> str:
        return (
            f"{self.path.name}: {self.events} trace events ({self.slices} slices), "
            f"{self.size / 1024:.1f} kB; open it at {PERFETTO_URL}"
        )


def write(
    path: str | os.PathLike[str],
    *sources: RaceResult | Timeline,
    waits: bool = True,
) -> TraceFile:
    """Write races or timelines to ``path`` as a trace file (UTF-8 JSON).

    Example:
        >>> import tempfile, citylib
        >>> result = citylib.race_blocking("async")  # doctest: +SKIP
        >>> write(Path(tempfile.mkdtemp()) / "race.json", result)  # doctest: +SKIP
    """
    trace = to_trace(*sources, waits=waits)
    text = json.dumps(trace, ensure_ascii=False, separators=(",", ":"))
    target = Path(path)
    target.write_text(text, encoding="utf-8")
    events: Sequence[dict[str, Any]] = trace["traceEvents"]
    return TraceFile(
        target,
        events=len(events),
        slices=sum(1 for e in events if e["ph"] == "X"),
        size=len(text.encode("utf-8")),
    )
