"""What scripts/slurm-demo.sh saw: the times, the evidence that Slurm ran an array, and
whether the merged slices grade the class exactly as one un-sharded run did.

Usage: python3 scripts/slurm/report.py OUT   (OUT: the demo's folder). Writes
OUT/summary.json; exits 1 when the two runs disagree on any submission's check.
Standard library only: it runs under the system's python3.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path

# Every column of grades.csv is compared but the time each submission took.
TIMING_COLUMNS = {"seconds"}


def jobcomp_tasks(path: Path, array_job: int) -> list[dict[str, str]]:
    """The finished tasks of ``array_job`` in jobcomp/filetxt's log (key=value lines)."""
    tasks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("ArrayJobId") == str(array_job) and fields.get("ArrayTaskId"):
            tasks.append(fields)
    return sorted(tasks, key=lambda f: int(f["ArrayTaskId"]))


def grade_rows(path: Path) -> dict[str, dict[str, str]]:
    """grades.csv by submission, timing columns left out."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["submission"]: {k: v for k, v in row.items() if k not in TIMING_COLUMNS}
            for row in csv.DictReader(handle)
        }


def differences(single: Path, merged: Path) -> list[str]:
    """Every way the merged grades.csv differs from the single run's."""
    one, many = grade_rows(single), grade_rows(merged)
    found = [f"{name}: only in the single run" for name in sorted(one.keys() - many.keys())]
    found += [f"{name}: only in the merged slices" for name in sorted(many.keys() - one.keys())]
    for name in sorted(one.keys() & many.keys()):
        for column, value in one[name].items():
            if many[name].get(column) != value:
                found.append(f"{name}: {column} {value!r} alone, {many[name].get(column)!r} merged")
    return found


def running(squeue_log: Path, array_job: int) -> list[tuple[float, int]]:
    """(time, tasks of ``array_job`` RUNNING) for every squeue snapshot the demo took."""
    counts = []
    for snapshot in squeue_log.read_text(encoding="utf-8").split("--- ")[1:]:
        stamp, *lines = snapshot.splitlines()
        rows = [line.split() for line in lines if len(line.split()) > 2]
        tasks = [r for r in rows if r[0].startswith(f"{array_job}_")]
        counts.append((float(stamp), sum(r[2] == "RUNNING" for r in tasks)))
    return counts


def main(out: Path) -> int:
    times = json.loads((out / "times.json").read_text(encoding="utf-8"))
    tasks = jobcomp_tasks(out / "jobcomp.txt", times["array_job"])
    slices = []
    for task in tasks:
        k = task["ArrayTaskId"]
        report = json.loads((out / "grades" / f"shard-{k}" / "grades.json").read_text("utf-8"))
        start = datetime.fromisoformat(task["StartTime"])
        end = datetime.fromisoformat(task["EndTime"])
        slices.append({
            "task": int(k), "job": int(task["JobId"]), "state": task["JobState"],
            "exit": task["ExitCode"], "shard": report["shard"],
            "graded": len(report["submissions"]),
            "start": task["StartTime"], "end": task["EndTime"],
            "slurm_seconds": (end - start).total_seconds(), "grader_seconds": report["seconds"],
        })  # fmt: skip
    grades = out / "grades"
    written = [(grades / f"shard-{s['task']}" / "grades.json").stat().st_mtime for s in slices]
    merged_at = (grades / "all" / "grades.json").stat().st_mtime
    diffs = differences(out / "single" / "grades.csv", grades / "all" / "grades.csv")
    start_at = times["array_start"]
    seen = running(out / "squeue.log", times["array_job"])
    summary = {
        **times,
        "array_seconds": round(max(written, default=start_at) - start_at, 2),
        "array_and_merge_seconds": round(merged_at - start_at, 2),
        "single_seconds": round(times["single_end"] - times["single_start"], 2),
        "most_tasks_running_at_once": max((n for _, n in seen), default=0),
        "queued_seconds": round(min((t for t, n in seen if n), default=start_at) - start_at, 2),
        "tasks": slices,
        "differences": diffs,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")

    print(f"== {times['notebooks']} notebooks, seed {times['seed']}")
    print(
        f"   array job {times['array_job']} ({len(slices)} tasks, {times['cpus_per_task']} CPU "
        f"each, at most {summary['most_tasks_running_at_once']} running at once by squeue): "
        f"{summary['array_seconds']} s from sbatch to the last slice written (the first "
        f"task seen running after {summary['queued_seconds']} s), "
        f"{summary['array_and_merge_seconds']} s with the merge job {times['merge_job']}"
    )
    print(f"   one un-sharded run: {summary['single_seconds']} s")
    print("   task  job  state      shard  graded  start                end"
          "                  slurm s  grader s")  # fmt: skip
    for s in slices:
        print(
            f"   {s['task']:>4} {s['job']:>4}  {s['state']:<10} {s['shard']:<6} "
            f"{s['graded']:>6}  {s['start']:<20} {s['end']:<20} "
            f"{s['slurm_seconds']:>7.0f} {s['grader_seconds']:>9.2f}"
        )
    if diffs:
        print(f"== the merged slices and the single run differ ({len(diffs)}):")
        for line in diffs:
            print("   " + line)
        return 1
    print("== the merged slices grade every submission as the single run did, check for check")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
