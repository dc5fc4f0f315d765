"""Trace export: the Trace Event Format, as Perfetto and chrome://tracing read it.

The checker below encodes the format's rules (and Perfetto's reading of them)
independently of the exporter: the object's first key is ``traceEvents``;
complete events carry integer microseconds; every thread and process used is named
by a metadata event; thread ids are unique; events on one thread never overlap.
"""

import json
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from citylib import trace
from citylib._core.race import RaceResult, city_requests, run_race
from citylib._core.timeline import Timeline, Trip
from citylib.testing import run_virtual

# Perfetto stops reading at a top-level key it does not know.
PERFETTO_KEYS = {"traceEvents", "displayTimeUnit", "otherData", "metadata", "systemTraceEvents"}


def check_trace(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Assert ``doc`` is a well-formed trace; return its complete ("X") events."""
    assert next(iter(doc)) == "traceEvents"
    assert set(doc) <= PERFETTO_KEYS
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    thread_names: dict[tuple[int, int], str] = {}
    process_names: dict[int, str] = {}
    slices = []
    for e in events:
        assert e["ph"] in ("X", "M"), e
        assert isinstance(e["name"], str) and e["name"]
        assert isinstance(e["pid"], int) and e["pid"] >= 1
        assert isinstance(e["ts"], int) and e["ts"] >= 0
        if e["ph"] == "M":
            if e["name"] == "process_name":
                assert "tid" not in e
                process_names[e["pid"]] = e["args"]["name"]
            elif e["name"] == "thread_name":
                thread_names[(e["pid"], e["tid"])] = e["args"]["name"]
            else:
                assert e["name"] in ("process_sort_index", "thread_sort_index")
                assert isinstance(e["args"]["sort_index"], int)
            continue
        assert isinstance(e["tid"], int) and e["tid"] >= 1
        assert isinstance(e["dur"], int) and e["dur"] >= 0
        assert isinstance(e["cat"], str) and isinstance(e["args"], dict)
        slices.append(e)
    # Every thread and process is named; a thread id belongs to one process only.
    for e in slices:
        assert (e["pid"], e["tid"]) in thread_names
        assert e["pid"] in process_names
    tids = [tid for _, tid in thread_names]
    assert len(tids) == len(set(tids))
    assert not set(tids) & set(process_names)
    # Complete events on one thread form a clean sequence: no overlap.
    by_thread: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in slices:
        by_thread[(e["pid"], e["tid"])].append(e)
    for track in by_thread.values():
        track.sort(key=lambda e: e["ts"])
        for before, after in pairwise(track):
            assert before["ts"] + before["dur"] <= after["ts"], (before, after)
    return slices


def exact_jam() -> RaceResult:
    """The one-lane race with perfect timing: exact figures to check against."""
    requests = city_requests()
    tl = Timeline(name="sync")
    now = 0.0
    for r in requests:
        tl.record(Trip(r.name, r.service.name, "lane 1", 0.0, now, now + r.service.latency))
        now += r.service.latency
    return RaceResult("sync", 1, requests, tl)


def test_a_race_becomes_complete_events_in_city_microseconds() -> None:
    doc = trace.to_trace(exact_jam())
    slices = check_trace(doc)
    lane = [e for e in slices if e["cat"] != "waiting"]
    assert [e["name"] for e in lane] == [r.name for r in city_requests()]
    image, weather = lane[0], lane[-1]
    assert (image["ts"], image["dur"]) == (0, 8_000_000)
    assert (weather["ts"], weather["dur"]) == (17_000_000, 1_000_000)
    assert image["cat"] == "image" and image["args"]["status"] == "ok"
    assert weather["args"]["wait_s"] == 17.0
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert "lane 1" in names and "waiting line" in names
    process = [e for e in doc["traceEvents"] if e["name"] == "process_name"]
    assert [p["args"]["name"] for p in process] == ["Traffic jam (one lane)"]


def test_waiting_in_line_is_drawn_apart_and_can_be_left_out() -> None:
    with_waits = check_trace(trace.to_trace(exact_jam()))
    waits = [e for e in with_waits if e["cat"] == "waiting"]
    assert len(waits) == 5  # everyone but the first waited
    assert all(e["ts"] == 0 for e in waits)
    assert {e["dur"] for e in waits} == {8_000_000, 11_000_000, 13_500_000, 15_500_000, 17_000_000}
    without = check_trace(trace.to_trace(exact_jam(), waits=False))
    assert [e for e in without if e["cat"] == "waiting"] == []
    assert len(without) == 6


def test_overlapping_trips_on_one_lane_are_spread_over_threads() -> None:
    tl = Timeline(name="hand-made")
    tl.record(Trip("a", "chat", "lane 1", 0, 0, 3))
    tl.record(Trip("b", "maps", "lane 1", 0, 1, 2))  # inside a: same lane, same time
    tl.record(Trip("c", "image", "lane 1", 0, 3, 4))  # starts as a ends: same thread
    tl.record(Trip("d", "weather", "lane 2", 0, 0, 1, "error"))
    doc = trace.to_trace(tl, waits=False)
    slices = check_trace(doc)
    threads = {
        e["tid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"
    }
    on = {e["name"]: threads[e["tid"]] for e in slices}
    assert on == {"a": "lane 1", "b": "lane 1 (2)", "c": "lane 1", "d (error)": "lane 2"}
    process = next(e for e in doc["traceEvents"] if e["name"] == "process_name")
    assert process["args"]["name"] == "hand-made"


def test_several_races_are_several_processes() -> None:
    # What is exported is the point, not how the races ran: the one-lane race with
    # perfect timing, and the Async Highway on virtual time (exact too). On the real
    # clock at speed 40, a thread starting 7 ms late on a busy machine made the jam's
    # first car a waiting one.
    jam, highway = exact_jam(), run_virtual(run_race("async"))
    doc = trace.to_trace(jam, highway, Timeline())
    slices = check_trace(doc)
    assert {e["pid"] for e in slices} == {1, 2}
    processes = {
        e["pid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"
    }
    assert processes == {1: "Traffic jam (one lane)", 2: "Async Highway", 3: "timeline 3"}
    highway_lanes = {e["tid"] for e in slices if e["pid"] == 2}
    assert len(highway_lanes) == 6  # one lane per request, and nobody waited in line
    waited = [e["name"] for e in slices if e["cat"] == "waiting" and e["pid"] == 1]
    assert len(waited) == 5  # everyone but the first
    longest = max(e["dur"] for e in slices if e["pid"] == 2)
    assert longest == pytest.approx(8_000_000, rel=0.05)


def test_written_file_is_compact_json_and_reports_its_size(tmp_path: Path) -> None:
    target = tmp_path / "jam.trace.json"
    written = trace.write(target, exact_jam())
    text = target.read_text(encoding="utf-8")
    assert text.startswith('{"traceEvents":[{')  # compact: Perfetto's reader expects no surprises
    doc = json.loads(text)
    assert check_trace(doc)
    assert written.path == target
    assert written.size == target.stat().st_size
    assert written.events == len(doc["traceEvents"])
    assert written.slices == 11  # six trips and five waits
    assert "ui.perfetto.dev" in str(written) and str(tmp_path) not in str(written)
    assert trace.dumps(exact_jam()) == text


def test_bad_sources_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        trace.to_trace()
    with pytest.raises(TypeError, match="race results or timelines"):
        trace.to_trace("a race")  # type: ignore[arg-type]
