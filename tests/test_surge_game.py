"""Stabilize AI City! The surge game, at small scale on a fast clock."""

from __future__ import annotations

import asyncio

import pytest

from citylib._lessons import server
from citylib._lessons.surge import Progress
from citylib._views.surge_game import SurgeGame, progress_line

pytestmark = [pytest.mark.server, pytest.mark.timeout(60)]


def small_game() -> SurgeGame:
    # 20 users × 1 s in single file overrun a 12 s patience; side by side they take 1 s.
    return SurgeGame(users=20, latency=1.0, patience=12.0, speed=20)


def test_picking_the_async_highway_serves_everyone() -> None:
    async def go() -> SurgeGame:
        game = small_game()
        game.play("async")
        await game.wait()
        return game

    game = asyncio.run(go())
    assert game.route.value == "async"
    assert game.result is not None
    assert game.result.ok == 20
    assert bytes(game.picture.value).startswith(b"\x89PNG")
    assert game.picture.layout.display is None
    assert "all served in" in game.result_line.value
    assert "Pick another system" in game.status_text
    assert not server._running  # the game's city closed after the surge


def test_the_worst_pick_ends_with_its_timeouts() -> None:
    async def go() -> SurgeGame:
        game = small_game()
        game.route.value = "trap"  # as a click would
        await game.wait()
        return game

    game = asyncio.run(go())
    assert game.result is not None
    assert game.result.timeouts > 0
    assert "gave up after 12 s" in game.result_line.value
    assert not server._running


def test_picking_again_calls_the_surge_off() -> None:
    async def go() -> SurgeGame:
        game = small_game()
        game.play("blocking")
        await asyncio.sleep(0.05)
        game.play("async")
        await game.wait()
        return game

    game = asyncio.run(go())
    assert list(game.results) == ["async"], game.status_text
    assert not server._running


def test_same_pick_again_reruns() -> None:
    async def go() -> int:
        game = small_game()
        game.play("async")
        await game.wait()
        first = game.result
        game.play("async")
        await game.wait()
        return int(game.result is not first)

    assert asyncio.run(go()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users is a whole number"),
        ({"latency": -1}, "latency is a positive number"),
        ({"patience": 0}, "patience is a positive number"),
        ({"speed": 0}, "positive"),
    ],
)
def test_silly_settings_say_so(kwargs: dict[str, float], message: str) -> None:
    game = SurgeGame(**kwargs)  # type: ignore[arg-type]
    assert game.route.disabled
    assert message in game.status_text


def test_unknown_system_says_so() -> None:
    game = small_game()
    game.play("warp")
    assert "no routing system 'warp'" in game.status_text


def test_plain_text_is_stable() -> None:
    assert repr(small_game()) == (
        "SurgeGame: pick a routing system and send 1,000 users into AI City at once (live)"
    )


def test_hooks_for_the_browser_tests() -> None:
    game = small_game()
    assert "citylib-surge" in game._dom_classes
    assert "citylib-route" in game.route._dom_classes
    assert "citylib-result" in game.result_line._dom_classes
    labels = [label for label, _ in game.route.options]
    assert [x for x in labels if "await" in x and "sleep" not in x] == ["⚡ async def + await"]


def test_progress_line() -> None:
    assert progress_line("⚡", Progress(1000, 600, 0, 0, 0.9)) == (
        "🚗 ⚡: 600 of 1,000 served · 400 waiting · 0.9 s"
    )
    assert progress_line("🪤", Progress(10, 1, 2, 3, 2.0)).endswith(
        "1 of 10 served · 4 waiting · 2 gave up · 3 errors · 2.0 s"
    )
