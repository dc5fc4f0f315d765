"""``citylib race`` from a terminal."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from citylib._cli import main


def test_race_all_prints_the_jam_and_the_highway(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, careful_speed: float
) -> None:
    png = tmp_path / "race.png"
    assert main(["race", "--speed", str(careful_speed), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    makespans = {m: float(s) for m, s in re.findall(r"^(.+?) — ([\d.]+) s", out, re.MULTILINE)}
    assert makespans["Traffic jam (one lane)"] == pytest.approx(18.0, rel=0.02)
    assert makespans["Async Highway"] == pytest.approx(8.0, rel=0.02)
    assert re.search(r"Async Highway is 2\.\d× faster", out)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_race_one_mode(capsys: pytest.CaptureFixture[str], careful_speed: float) -> None:
    # Half the careful speed: 2 % of 8 city seconds is 80 ms here (see test_race's
    # thread-pool races, whose lanes each start their requests one after another).
    args = ["race", "--mode", "threads", "--lanes", "3", "--speed", str(careful_speed / 2)]
    assert main(args) == 0
    out = capsys.readouterr().out
    (makespan,) = re.findall(r"Thread pool, 3 lanes — ([\d.]+) s", out)
    assert float(makespan) == pytest.approx(8.0, rel=0.02)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lanes", "0"], "at least 1"),
        (["--speed", "-2"], "positive"),
        (["--png", "chart.jpg"], ".png"),
    ],
)
def test_bad_input_gets_a_clear_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["race", *args]) == 2
    assert message in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("citylib")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "race" in out.stdout
