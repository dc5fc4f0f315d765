"""The README's batch recipes: the Slurm one run for real on a single-node Slurm
(scripts/slurm-demo.sh), the Kubernetes one checked against the batch/v1 Job spec."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO = ROOT / "scripts" / "slurm-demo.sh"
RECIPE = ROOT / "scripts" / "slurm" / "grade-array.sbatch"
SUBMISSIONS = sorted(p.name for p in (ROOT / "tests" / "submissions").glob("*.ipynb"))
SHARDS = 4
SEED = 314159
DEMO_TIMEOUT = 300  # every wait inside the demo; the test allows it twice that in all


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def _blocks(lang: str) -> list[str]:
    """The ``lang`` code blocks of the README's section on --shard and --merge."""
    section = _section("### A class of ten thousand")
    return re.findall(rf"^```{lang}\n(.*?)^```", section, flags=re.M | re.S)


def test_readme_shows_the_sbatch_file_the_demo_runs() -> None:
    assert RECIPE.read_text(encoding="utf-8") in _blocks("bash")
    demo = DEMO.read_text(encoding="utf-8")
    assert "RECIPE=$REPO/scripts/slurm/grade-array.sbatch" in demo
    # The README's merge job is the demo's, word for word.
    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    (merge,) = [line for line in lines if "--wrap" in line]
    assert merge.startswith("sbatch --dependency=afterok:$JOB --kill-on-invalid-dep=yes ")
    assert merge.removeprefix("sbatch ") in demo, merge


def test_readme_kubernetes_recipe_is_an_indexed_job() -> None:
    """The fields the batch/v1 Job reference requires of an Indexed Job, and a pod
    spec whose names agree with each other and with the shards the command asks for."""
    (text,) = _blocks("yaml")
    job = yaml.safe_load(text)
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    # Indexed needs completions; parallelism runs at most that many pods at once.
    n = spec["completions"]
    assert isinstance(n, int) and n >= 1
    assert isinstance(spec["parallelism"], int) and 1 <= spec["parallelism"] <= n
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in {"Never", "OnFailure"}  # a Job's pods may not be Always
    (container,) = pod["containers"]
    assert container["name"] and container["image"]
    assert container["command"] == ["bash", "-c"]
    (script,) = container["args"]
    # JOB_COMPLETION_INDEX runs 0..n-1; --shard wants 1..n of the same n.
    assert f"--shard $((JOB_COMPLETION_INDEX + 1))/{n} " in script
    assert "--out /data/grades/shard-$JOB_COMPLETION_INDEX " in script
    assert "--seed " in script and "$(JOB_COMPLETION_INDEX)" not in script
    # Kubernetes would expand $(NAME) in args itself; an arithmetic $((...)) names no
    # variable, so it reaches bash unchanged.
    assert not re.search(r"(?<!\$)\$\([A-Za-z_][A-Za-z0-9_]*\)", script)
    limits = container["resources"]["limits"]
    assert f"--workers {6 * int(limits['cpu'])} " in script  # six a core, on its own cores
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts == {"data": "/data"} and volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert container["securityContext"]["privileged"] is True


def _why_slurm_cannot_run() -> str:
    """Why this machine cannot start a Slurm ("": it can)."""
    if sys.platform != "linux":
        return f"Slurm's daemons need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return f"slurmd and munged run as root, and these tests run as uid {os.geteuid()}"
    have = all(shutil.which(t) for t in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey"))
    if not have and not shutil.which("apt-get"):
        return "Slurm and munge are not installed, and there is no apt-get to install them"
    return ""


def _run_demo(out: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHARDS": str(SHARDS),
        "COPIES": "1",
        "SEED": str(SEED),
        "SLURM_DEMO_TIMEOUT": str(DEMO_TIMEOUT),
        # The citylib of the Python running the tests (a 3.13 run has its own venv).
        "CITYLIB": str(Path(sys.executable).parent / "citylib"),
    }
    args = ["bash", str(DEMO), str(out)]
    # A session of its own, so that a run over time is stopped whole: the script's
    # trap stops the daemons on SIGTERM.
    with subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            output, _ = proc.communicate(timeout=2 * DEMO_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                output, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
            pytest.fail(f"the Slurm demo ran over {2 * DEMO_TIMEOUT} s:\n{output[-4000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, output, "")


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def _jobcomp(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [dict(p.split("=", 1) for p in line.split() if "=" in p) for line in lines]


@pytest.mark.slurm
@pytest.mark.timeout(2 * DEMO_TIMEOUT + 120)
def test_a_slurm_array_grades_the_class_as_one_run_does(tmp_path: Path) -> None:
    reason = _why_slurm_cannot_run()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Slurm recipe, but {reason}")
        pytest.skip(reason)
    out = tmp_path / "demo"
    done = _run_demo(out)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-6000:]

    # It ran as an array: SHARDS tasks of one array job, each completed, then the merge.
    times = json.loads((out / "times.json").read_text(encoding="utf-8"))
    finished = _jobcomp(out / "jobcomp.txt")
    tasks = [f for f in finished if f.get("ArrayJobId") == str(times["array_job"])]
    assert sorted(int(t["ArrayTaskId"]) for t in tasks) == list(range(1, SHARDS + 1))
    assert {(t["JobState"], t["ExitCode"]) for t in tasks} == {("COMPLETED", "0:0")}
    (merge,) = [f for f in finished if f["JobId"] == str(times["merge_job"])]
    assert merge["JobState"] == "COMPLETED" and merge["Name"] == "sprint-merge"
    assert max(t["EndTime"] for t in tasks) <= merge["StartTime"]  # afterok held it back

    # Each task graded its own slice; together, the class once.
    graded: list[str] = []
    for k in range(1, SHARDS + 1):
        report = json.loads((out / "grades" / f"shard-{k}" / "grades.json").read_text("utf-8"))
        assert report["shard"] == f"{k}/{SHARDS}" and report["seed"] == SEED
        graded += [r["submission"] for r in report["submissions"]]
    assert sorted(graded) == SUBMISSIONS

    # The merged slices and one un-sharded run of the same class with the same seed
    # agree on every submission, check for check (all of grades.csv but the times).
    single = _rows(out / "single" / "grades.csv")
    merged = _rows(out / "grades" / "all" / "grades.csv")
    assert sorted(single) == sorted(merged) == SUBMISSIONS
    columns = [c for c in next(iter(single.values())) if c != "seconds"]
    assert {"status", "score", "overlap", "non_blocking", "stretch", "seed"} <= set(columns)
    for name in SUBMISSIONS:
        assert {c: merged[name][c] for c in columns} == {c: single[name][c] for c in columns}, name
    assert {row["seed"] for row in merged.values()} == {str(SEED)}
    assert any(row["score"] != single[SUBMISSIONS[0]]["score"] for row in single.values())

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["differences"] == []
