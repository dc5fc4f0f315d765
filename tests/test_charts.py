"""Lane charts: pictures are made, text alternatives say the figures."""

import pytest

from citylib import charts, clock
from citylib._core.race import RaceResult, city_requests, race_blocking
from citylib._core.timeline import Timeline, Trip

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def exact_result(mode: str, lanes: int) -> RaceResult:
    """A race as it would be with perfect timing: charts are checked on exact figures."""
    requests = city_requests()
    tl = Timeline(name=mode)
    free_at = [0.0] * lanes
    for r in requests:
        lane = min(range(lanes), key=free_at.__getitem__)
        start = free_at[lane]
        free_at[lane] = start + r.service.latency
        tl.record(Trip(r.name, r.service.name, f"lane {lane + 1}", 0.0, start, free_at[lane]))
    return RaceResult(mode, lanes, requests, tl)


@pytest.fixture(scope="module")
def results() -> list[RaceResult]:
    return [exact_result("sync", 1), exact_result("threads", 2), exact_result("async", 6)]


def test_a_real_race_charts_too() -> None:
    with clock.scaled(40):
        assert charts.to_png(charts.gantt(race_blocking("async"))).startswith(PNG_MAGIC)


def test_gantt_and_compare_render(results: list[RaceResult]) -> None:
    assert charts.to_png(charts.gantt(results[0])).startswith(PNG_MAGIC)
    fig = charts.compare(results)
    assert len(fig.axes) == 3
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "2.0× faster" in titles[1] and "2.2× faster" in titles[2]
    with pytest.raises(ValueError):
        charts.compare([])


def test_description_states_the_speed_up(results: list[RaceResult]) -> None:
    text = charts.describe(results)
    assert "18.0 s" in text and "8.0 s" in text and "2.2× faster" in text


def test_text_chart_draws_waiting_and_driving(results: list[RaceResult]) -> None:
    jam = charts.text_chart(results[0], width=36)
    weather = next(line for line in jam.splitlines() if line.startswith("Weather"))
    assert weather.count("·") > 30 and "█" in weather
    highway = charts.text_chart(results[2], width=36)
    assert "·" not in highway.split("\n", 1)[1]


def test_failed_and_cancelled_trips_are_marked() -> None:
    tl = Timeline(name="crashes")
    tl.record(Trip("a", "chat", "lane 1", 0, 0, 1.5, "error"))
    tl.record(Trip("b", "maps", "lane 2", 0, 0, 2.0, "cancelled"))
    fig = charts.gantt(tl)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "lane 1 ✗ crashed" in texts and "lane 2 cancelled" in texts


def test_live_chart_frames_change_as_the_race_runs(results: list[RaceResult]) -> None:
    jam = results[0]
    live = charts.LaneChart(jam.requests, horizon=jam.makespan, title="live")
    first = live.frame([], now=0.5)
    middle = live.frame(jam.timeline.trips[:2], now=11.0)
    last = live.frame(jam.timeline.trips, now=jam.makespan, finished=True)
    assert len({first, middle, last}) == 3
    assert all(f.startswith(PNG_MAGIC) for f in (first, middle, last))
    # The bars moved, not the axes: the figure was not re-plotted.
    assert live.fig.axes == [live.ax]
