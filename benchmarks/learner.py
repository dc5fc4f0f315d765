"""What one learner costs a hub: each notebook's kernel, top to bottom, and the surge.

Each course notebook (and the Sprint's solution) runs top to bottom in a fresh
kernel (nbclient, the way ``jupyter nbconvert --execute`` runs it) at
``CITYLIB_SPEED=1``, the speed a learner sees. While it runs, a sampler reads the
kernel's process tree every 50 ms (the kernel and anything it started, such as AI
City's server): its resident memory (RSS, summed over the tree) and its CPU seconds
(user + system, each process's last reading kept, so a child that ends still
counts). The baseline is an empty kernel running one ``pass`` cell, measured the
same way in the same run.

The surge's cost is one extra kernel that runs only the 1,000-user surge of
notebook 04 (``await surge_system("async", 1000)``, speed 1): what a whole class
pressing "surge" at once asks of the node. The single-user server (JupyterLab,
idle, one per learner on a hub) is measured once too.

From these, :func:`sizing` says how many learners a 4-core, 16 GB hub node holds,
under the assumptions it states (recorded with the figures).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._core import ROOT, Figure, Sample

KEY = "learner"
NOTEBOOKS = ROOT / "notebooks"
SAMPLE_EVERY_S = 0.05  # a spike shorter than this may be missed
MB = 2**20

#: The hub node sized, and what is kept back for the system and the hub itself.
NODE_CORES = 4
NODE_MEMORY_MB = 16 * 1024
RESERVED_MB = 1024
#: Of a class, the share whose kernels are busy at one moment (the rest read, think, type).
BUSY_SHARE = 0.25
#: Goal: a learner's heaviest kernel stays under this (a pod limit of 1 GiB holds it).
GOAL_PEAK_MB = 1024

SURGE_CODE = 'from citylib import surge\nawait surge.surge_system("async", 1000)\n'


@dataclass
class Usage:
    """One kernel's run: peak RSS (MiB), CPU seconds, wall seconds."""

    peak_mb: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    samples: int = 0
    errors: list[str] = field(default_factory=list)


class TreeSampler:
    """Samples a process and its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._cpu: dict[int, float] = {}
        self.peak_rss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _tree(self) -> list[Any]:
        import psutil

        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> None:
        import psutil

        rss = 0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                continue  # it ended between the listing and the reading
        self.peak_rss = max(self.peak_rss, rss)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())


def run_kernel(nb: Any, cwd: Path, speed: float, timeout: float) -> Usage:
    """Run notebook ``nb`` in a fresh kernel, sampling the kernel's process tree."""
    from nbclient import NotebookClient

    env_before = os.environ.get("CITYLIB_SPEED")
    os.environ["CITYLIB_SPEED"] = f"{speed:g}"  # the kernel inherits it
    usage = Usage()
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    started = time.perf_counter()
    try:
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid  # type: ignore[union-attr]
            with TreeSampler(pid) as sampler:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    try:
                        client.execute_cell(cell, index)
                    except Exception as exc:  # cells tagged raises-exception are expected
                        if "raises-exception" not in cell.metadata.get("tags", []):
                            usage.errors.append(f"cell {index}: {type(exc).__name__}")
            usage.peak_mb = sampler.peak_rss / MB
            usage.cpu_s = sampler.cpu_s
            usage.samples = sampler.samples
    finally:
        if env_before is None:
            os.environ.pop("CITYLIB_SPEED", None)
        else:
            os.environ["CITYLIB_SPEED"] = env_before
    usage.wall_s = time.perf_counter() - started
    return usage


def _code_notebook(source: str) -> Any:
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])


def server_rss_mb() -> float:
    """Resident memory of an idle single-user JupyterLab server, after its first page."""
    import psutil

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="citylib-bench-lab-") as home:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": f"{home}/c", "JUPYTER_RUNTIME_DIR": f"{home}/r"}
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=",
            "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
        ]  # fmt: skip
        with subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as lab:
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 90
                while True:
                    try:
                        urllib.request.urlopen(f"{url}/lab", timeout=5).read()
                        break
                    except OSError:
                        if time.monotonic() > deadline or lab.poll() is not None:
                            raise RuntimeError("JupyterLab did not start") from None
                        time.sleep(0.3)
                time.sleep(1.0)
                return float(psutil.Process(lab.pid).memory_info().rss / MB)
            finally:
                lab.terminate()
                try:
                    lab.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    lab.kill()
                    lab.wait()


def sizing(
    per_notebook: dict[str, Usage], bare: Usage, surge: Usage, server_mb: float
) -> dict[str, Any]:
    """How many learners one 4-core, 16 GB node holds, and what bounds it."""
    heaviest = max(u.peak_mb for u in per_notebook.values())
    learner_mb = heaviest + server_mb
    room = NODE_MEMORY_MB - RESERVED_MB
    by_memory = int(room // learner_mb)
    # The worst case: a learner who leaves every course notebook's kernel running.
    course = [u for name, u in per_notebook.items() if not name.startswith("solutions/")]
    all_open_mb = sum(u.peak_mb for u in course) + server_mb
    course_cpu = sum(u.cpu_s for u in per_notebook.values())
    course_wall = sum(u.wall_s for u in per_notebook.values())
    busy_cores = course_cpu / course_wall  # while a learner's kernel runs a notebook
    by_cpu = int(NODE_CORES // (busy_cores * BUSY_SHARE))
    surge_cores = surge.cpu_s / surge.wall_s
    everyone_surges = max(1, int(NODE_CORES // surge_cores))
    return {
        "node": {"cores": NODE_CORES, "memory_mb": NODE_MEMORY_MB, "reserved_mb": RESERVED_MB},
        "learner_mb": round(learner_mb),
        "heaviest_kernel_mb": round(heaviest),
        "server_mb": round(server_mb),
        "bare_kernel_mb": round(bare.peak_mb),
        "course_cpu_s": round(course_cpu, 1),
        "course_wall_s": round(course_wall, 1),
        "cores_while_running": round(busy_cores, 3),
        "busy_share": BUSY_SHARE,
        "learners_by_memory": by_memory,
        "learners_by_cpu": by_cpu,
        "learners": min(by_memory, by_cpu),
        "learner_mb_every_kernel_open": round(all_open_mb),
        "learners_if_every_kernel_stays_open": int(room // all_open_mb),
        "surge_cpu_s": round(surge.cpu_s, 2),
        "surge_wall_s": round(surge.wall_s, 2),
        "surge_cores": round(surge_cores, 3),
        "surges_at_once_in_real_time": everyone_surges,
        "assumptions": (
            f"one kernel per learner at a time (the heaviest notebook's peak) plus an idle "
            f"JupyterLab server each; {RESERVED_MB} MiB kept for the system and the hub; "
            f"at any moment {BUSY_SHARE:.0%} of the class has a kernel running a cell, "
            "the rest read and type (an idle kernel costs no CPU); the surge is the one "
            "moment a teacher may ask everyone to press at once"
        ),
    }


#: The ``--quick`` smoke run's one notebook: the learner's Sprint, the lightest course
#: notebook (about 2 s at speed 20, where notebook 01 takes 6), yet a kernel well above
#: an empty one.
QUICK_NOTEBOOK = "05_parallel_fetch_sprint.ipynb"


def run(quick: bool = False) -> list[Figure]:
    """Measure (``quick``: the Sprint's notebook only, at speed 20, and a 100-user surge,
    with JupyterLab starting meanwhile)."""
    import nbformat

    speed = 20.0 if quick else 1.0
    timeout = 600.0
    paths = sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    if quick:
        paths = [p for p in paths if p.parent == NOTEBOOKS and p.name == QUICK_NOTEBOOK]
    # A quick run judges nothing against the goals: it measures the idle JupyterLab
    # server in a thread while the kernels run, instead of after them. A full run keeps
    # them apart, so that neither's figures carry the other's load.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-lab") as pool:
        lab = pool.submit(server_rss_mb) if quick else None
        bare = run_kernel(_code_notebook("pass\n"), ROOT, speed, timeout)
        per_notebook: dict[str, Usage] = {}
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            top = NOTEBOOKS if path.parent == NOTEBOOKS else ROOT  # solutions/NAME
            name = path.relative_to(top).with_suffix("").as_posix()
            per_notebook[name] = run_kernel(nb, path.parent, speed, timeout)
        surge_code = SURGE_CODE.replace("1000", "100") if quick else SURGE_CODE
        surge = run_kernel(_code_notebook(surge_code), ROOT, speed, timeout)
        server_mb = lab.result() if lab is not None else server_rss_mb()
    size = sizing(per_notebook, bare, surge, server_mb)
    figures = []
    for name, usage in per_notebook.items():
        figures.append(
            Figure(
                key=KEY,
                name=f"learner kernel, {name} top to bottom (speed {speed:g})",
                citylib=Sample([usage.peak_mb], "MiB"),
                baseline=Sample([bare.peak_mb], "MiB"),
                baseline_name="empty kernel, one `pass` cell",
                goal=f"≤ {GOAL_PEAK_MB} MiB peak",
                met=usage.peak_mb <= GOAL_PEAK_MB and not usage.errors,
                notes=(
                    f"CPU {usage.cpu_s:.1f} s over {usage.wall_s:.0f} s of wall time"
                    + (f"; errors: {', '.join(usage.errors)}" if usage.errors else "")
                ),
                extra={
                    "notebook": name,
                    "speed": speed,
                    "peak_rss_mb": usage.peak_mb,
                    "cpu_s": usage.cpu_s,
                    "wall_s": usage.wall_s,
                    "samples": usage.samples,
                    "errors": usage.errors,
                    "bare_kernel": {"peak_rss_mb": bare.peak_mb, "cpu_s": bare.cpu_s},
                },
            )
        )
    users = 100 if quick else 1000
    figures.append(
        Figure(
            key=KEY,
            name=f"the surge in a kernel ({users:,} users, speed {speed:g}): CPU",
            citylib=Sample([max(surge.cpu_s, 1e-6)], "s"),
            baseline=Sample([max(bare.cpu_s, 1e-6)], "s"),
            baseline_name="empty kernel, one `pass` cell",
            goal="– (sizing only)",
            met=None,
            notes=(
                f"peak {surge.peak_mb:.0f} MiB; {surge.wall_s:.1f} s wall, so "
                f"{surge.cpu_s / surge.wall_s:.2f} cores while it runs. Sizing of a "
                f"{NODE_CORES}-core, {NODE_MEMORY_MB // 1024} GB node: {size['learners']} "
                f"learners (memory allows {size['learners_by_memory']} at "
                f"{size['learner_mb']} MiB each, CPU {size['learners_by_cpu']}; "
                f"{size['learners_if_every_kernel_stays_open']} if each keeps every course "
                f"kernel running, {size['learner_mb_every_kernel_open']} MiB each); "
                f"{size['surges_at_once_in_real_time']} surges at once in real time. "
                f"Assumptions: {size['assumptions']}."
            ),
            extra={"surge": surge.__dict__, "sizing": size},
        )
    )
    return figures
