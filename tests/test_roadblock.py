"""The roadblock detector names the learner's line that blocked the loop, and how long.

Blocking is real: ``time.sleep`` stops the loop for wall-clock time whatever the
city clock says. Tests never assert an absolute duration: a roadblock is compared
with the threshold and with the block's own measured length.
"""

import asyncio
import inspect
import os
import selectors
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import citylib
from citylib import clock, roadblock
from citylib._core.watch import Spot, Stall, describe_place, is_user_code

SLEEP = 0.3  # real seconds a rude call blocks: three thresholds
HERE = os.path.basename(__file__)


def line_of(marker: str) -> int:
    """The line number in this file of the line ending with ``# <marker>``."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()  # type: ignore[arg-type]
    return next(i for i, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}"))


async def rude_weather() -> str:
    time.sleep(SLEEP)  # noqa: ASYNC251  # rude-sleep
    return "sunny"


async def polite_weather() -> str:
    await asyncio.sleep(SLEEP)
    return "sunny"


def test_a_blocking_call_is_caught_with_its_line_and_function(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def main() -> tuple[roadblock.Watch, float]:
        with roadblock.watch() as w:
            started = time.perf_counter()
            await asyncio.gather(polite_weather(), rude_weather())
            took = time.perf_counter() - started
        return w, took

    w, took = asyncio.run(main())
    assert len(w.roadblocks) == 1
    found = w.roadblocks[0]
    assert found.line == "time.sleep(SLEEP)  # noqa: ASYNC251  # rude-sleep"
    assert found.function == "rude_weather"
    assert found.lineno == line_of("rude-sleep")
    assert found.place == f"{HERE}, line {found.lineno}"
    assert found.where == f"{HERE}:{found.lineno}"
    assert w.threshold <= found.seconds <= took
    assert found.seconds >= 0.5 * SLEEP
    printed = capsys.readouterr().out
    assert printed.startswith("🚧 1 roadblock: the event loop was stuck for")
    assert "in rude_weather(): time.sleep(SLEEP)" in printed


def test_polite_code_is_no_roadblock(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> roadblock.Watch:
        with roadblock.watch() as w:
            await asyncio.gather(polite_weather(), citylib._core.services.fetch_weather())
        return w

    with clock.scaled(20):
        w = asyncio.run(main())
    assert w.roadblocks == [] and w.longest is None
    assert capsys.readouterr().out.startswith("✅ No roadblocks")


def test_blocking_inside_a_library_names_the_learners_line() -> None:
    async def main() -> roadblock.Watch:
        with roadblock.watch(announce=False) as w, clock.scaled(10):
            citylib._core.services.call_blocking("maps")  # library-call
        return w

    w = asyncio.run(main())
    found = w.longest
    assert found is not None
    assert found.lineno == line_of("library-call")
    assert found.function == "main"
    assert found.line.startswith('citylib._core.services.call_blocking("maps")')


def test_each_stop_is_its_own_roadblock_and_callbacks_hear_of_them() -> None:
    stuck: list[Spot] = []
    moving: list[Stall] = []

    async def main() -> roadblock.Watch:
        with roadblock.watch(
            announce=False, on_block=stuck.append, on_roadblock=moving.append
        ) as w:
            for _ in range(2):
                time.sleep(SLEEP / 2)  # noqa: ASYNC251  # twice
                await asyncio.sleep(0.05)  # the loop moves between the two stops
        return w

    w = asyncio.run(main())
    assert [r.lineno for r in w.roadblocks] == [line_of("twice")] * 2
    assert moving == w.roadblocks
    assert [s.lineno for s in stuck] == [line_of("twice")] * 2
    assert w.summary().startswith("🚧 2 roadblocks")
    assert w.longest is max(w.roadblocks, key=lambda r: r.seconds)


def test_an_idle_loop_is_told_apart_from_a_blocked_one() -> None:
    """A late answer from a loop waiting for I/O is a busy machine, not a roadblock;
    a selector the learner calls directly is a roadblock."""
    seen: dict[str, bool] = {}

    async def main() -> roadblock.Watch:
        loop_thread = threading.get_ident()

        def look() -> None:
            frame = sys._current_frames()[loop_thread]
            seen["idle"] = roadblock._is_idle(frame)

        peek = threading.Timer(0.1, look)
        peek.start()
        await asyncio.sleep(0.3)  # the loop waits in its selector meanwhile
        peek.join()
        with roadblock.watch(announce=False) as w, selectors.DefaultSelector() as sel:
            sel.select(SLEEP)  # own-selector
        return w

    w = asyncio.run(main())
    assert seen == {"idle": True}
    assert [r.lineno for r in w.roadblocks] == [line_of("own-selector")]


def test_watch_needs_a_running_loop_and_a_sensible_threshold() -> None:
    with pytest.raises(RuntimeError, match="running event loop"), roadblock.watch():
        pass
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="positive"):
            roadblock.watch(bad)

    async def twice() -> None:
        w = roadblock.watch(announce=False)
        with w:
            pass
        with pytest.raises(RuntimeError, match="one block"), w:
            pass

    asyncio.run(twice())


def test_whose_code_is_it() -> None:
    assert is_user_code(__file__)
    assert not is_user_code(asyncio.__file__)
    assert not is_user_code(roadblock.__file__)
    assert not is_user_code(pytest.__file__)
    assert not is_user_code("<frozen runpy>")
    assert is_user_code("<ipython-input-4-0123abcd>")
    assert is_user_code("/tmp/ipykernel_4242/1234567.py")


def test_places_are_named_without_machine_paths() -> None:
    cell = "/tmp/ipykernel_4242/1234567.py"
    assert describe_place(cell, 3, home=cell) == "this cell, line 3"
    assert describe_place(cell, 3, home="/tmp/ipykernel_4242/999.py") == (
        "a notebook cell, line 3"
    )
    assert describe_place("<ipython-input-4-0123abcd>", 2) == "cell In[4], line 2"
    assert describe_place("/home/someone/project/app.py", 12) == "app.py, line 12"


def test_a_roadblock_reads_well_and_hides_its_path() -> None:
    found = Stall(
        0.0, 0.31, "cell In[1], line 3", "time.sleep(0.3)", "rude", 3, "this cell, line 3",
        "/tmp/x/1.py",
    )
    assert (
        str(found)
        == "stuck for 0.31 s of real time at this cell, line 3 in rude(): time.sleep(0.3)"
    )
    assert "/tmp" not in repr(found)
    top = Stall(
        0.0, 0.2, "cell In[1], line 1", "", "<module>", 1, "this cell, line 1", "/tmp/x/1.py"
    )
    assert str(top) == "stuck for 0.20 s of real time at this cell, line 1"


def test_the_road_sign_widget_turns_red_and_prints_its_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from citylib._views.roadblock_sign import RoadblockSign

    async def main() -> RoadblockSign:
        with RoadblockSign() as sign:
            await rude_weather()
        return sign

    sign = asyncio.run(main())
    assert "roadblock" in sign.widget.value and "#D55E00" in sign.widget.value
    assert sign.watch.roadblocks[0].place == f"{HERE}, line {line_of('rude-sleep')}"
    assert "🚧 1 roadblock" in capsys.readouterr().out

    async def calm() -> RoadblockSign:
        with RoadblockSign() as sign:
            await asyncio.sleep(0.05)
        return sign

    assert "No roadblocks" in asyncio.run(calm()).widget.value


def test_readers_without_a_kernel_see_the_sign_as_a_line_of_text() -> None:
    from citylib._views.roadblock_sign import PLAIN_SIGN, RoadblockSign

    bundle = RoadblockSign()._repr_mimebundle_()
    assert bundle["text/plain"] == PLAIN_SIGN and "HTML(" not in PLAIN_SIGN
    assert "model_id" in bundle["application/vnd.jupyter.widget-view+json"]


@pytest.mark.notebook
@pytest.mark.timeout(120)
def test_in_a_jupyter_cell_it_names_the_cell_and_line() -> None:
    nbformat: Any = pytest.importorskip("nbformat")
    nbclient: Any = pytest.importorskip("nbclient")
    cells = [
        "import asyncio, time\nfrom citylib import roadblock",
        "async def rude():\n    time.sleep(0.3)",
        "with roadblock.watch():\n    await asyncio.gather(rude(), asyncio.sleep(0.1))",
        "with roadblock.watch():\n    x = 0\n    time.sleep(0.3)",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    out = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert "at cell In[2], line 2 in rude(): time.sleep(0.3)" in out[2]
    assert "at this cell, line 3: time.sleep(0.3)" in out[3]
    assert "/tmp" not in "".join(out) and "ipykernel" not in "".join(out)
