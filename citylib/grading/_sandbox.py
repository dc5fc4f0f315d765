"""The sandbox each submission's worker (and its kernel) runs in.

Levels, strongest first; the grader uses the strongest this machine allows and
records it:

``full`` (root)
    ``unshare`` gives the worker private network, process and mount namespaces:
    only its own loopback (``ip link set lo up``, which the worker and its kernel
    talk over), no view of other processes, and fresh ``/tmp``, ``/var/tmp`` and
    ``/dev/shm`` in which its folder is the only thing from outside. It then runs
    as a user of its own (``setpriv``), so it can write nothing else on the
    machine, and a process limit means something.
``namespaces`` (unprivileged, user namespaces allowed)
    The same namespaces inside a user namespace, without the change of user.
``limits``
    Namespaces refused: only the limits below.

Every level adds ``prlimit`` limits (address space, processes, file size, CPU
time, open files) and ``timeout -k``.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LEVELS", "Limits", "Sandbox", "describe", "detect"]

#: Sandbox levels, strongest first.
LEVELS = ("full", "namespaces", "limits")

#: Where the submission's folder appears inside the namespaced sandboxes.
INSIDE = "/tmp/submission"
#: The first user id handed to sandboxes (one per worker slot, so limits are per slot).
BASE_UID = 1_500_000
#: World-writable places a submission could otherwise leave files in.
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's worker and kernel (each process).

    Attributes:
        memory_mb: Address space, in MiB.
        processes: Processes and threads (per sandbox user).
        file_mb: Largest file it may write, in MiB.
        open_files: Open file descriptors.
    """

    memory_mb: int = 2048
    processes: int = 128
    file_mb: int = 16
    open_files: int = 256

    def prlimit(self, cpu_seconds: int, with_processes: bool) -> list[str]:
        """The ``prlimit`` command prefix for these limits."""
        args = [
            "prlimit",
            f"--as={self.memory_mb * 2**20}",
            f"--fsize={self.file_mb * 2**20}",
            f"--cpu={cpu_seconds}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]
        if with_processes:
            args.append(f"--nproc={self.processes}")
        return [*args, "--"]


def _blocked(path: Path) -> Path | None:
    """The highest ancestor of ``path`` that other users cannot enter, if any."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            mode = current.stat().st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return current
    return None


def _needed_paths() -> list[Path]:
    """Where the interpreter, the venv and citylib live: the sandbox user must reach them."""
    from citylib._core import clock  # a module's file: the package may be imported as a namespace

    paths = {
        Path(os.path.realpath(sys.executable)).parent.parent,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(clock.__file__).resolve().parents[2],  # the folder holding citylib
    }
    paths.update(Path(p) for p in sys.path if p and Path(p).is_dir())
    return sorted({Path(os.path.realpath(p)) for p in paths})


def _reexpose(paths: Sequence[Path]) -> list[str]:
    """Shell lines that let another user reach ``paths`` under closed ancestors.

    A closed ancestor (``/root``, mode 700, holding pyenv's Python) is covered by an
    empty tmpfs in which only the needed folders are bound back: the rest of it
    stays out of sight.
    """
    by_ancestor: dict[Path, set[Path]] = {}
    for p in paths:
        top = _blocked(p)
        if top is not None:
            by_ancestor.setdefault(top, set()).add(p)
    lines: list[str] = []
    for n, (top, inner) in enumerate(sorted(by_ancestor.items())):
        keep = [p for p in sorted(inner) if not any(q != p and q in p.parents for q in inner)]
        hold = f"/tmp/.citylib-hold-{n}"
        lines += [
            f"mkdir -p {hold}",
            f"mount --bind {shlex.quote(str(top))} {hold}",
            f"mount -t tmpfs -o mode=755,size=1m tmpfs {shlex.quote(str(top))}",
        ]
        for p in keep:
            rel = p.relative_to(top)
            target = shlex.quote(str(p))
            lines += [f"mkdir -p {target}", f"mount --bind {hold}/{shlex.quote(str(rel))} {target}"]
        lines.append(f"umount -l {hold}")
    return lines


#: An existing, normally empty folder that holds the real /tmp for a moment.
_TMP_HOLD = "/mnt"


def _keep_from_tmp(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    """Shell lines that keep ``paths`` under the real /tmp reachable once it is covered.

    A course checked out (or a venv made) under /tmp would otherwise vanish behind
    the private /tmp and the sandbox could not even start Python. Returns the lines
    to run before covering /tmp and those to run after.
    """
    inside = sorted(p for p in paths if Path("/tmp") in p.parents)
    inside = [p for p in inside if not any(q != p and q in p.parents for q in inside)]
    if not inside:
        return [], []
    before = [f"mount --bind /tmp {_TMP_HOLD}"]
    after: list[str] = []
    for p in inside:
        target = shlex.quote(str(p))
        rel = shlex.quote(str(p.relative_to("/tmp")))
        after += [f"mkdir -p {target}", f"mount --bind {_TMP_HOLD}/{rel} {target}"]
    after.append(f"umount -l {_TMP_HOLD}")
    return before, after


def _setup_script(drop_to_uid: int | None) -> str:
    """The shell that prepares the namespaces, then ``exec``s the rest of argv."""
    before, after = _keep_from_tmp(_needed_paths())
    lines = [
        "set -e",
        "ip link set lo up",
        *before,
        # The folder is the sandbox's cwd; keep hold of it before /tmp is covered.
        "mount -t tmpfs -o size=64m,mode=1777,nosuid,nodev tmpfs /tmp",
        *after,
        f"mkdir {INSIDE}",
        f"mount --bind /proc/self/cwd {INSIDE}",
    ]
    for place in _SHARED_TMP[1:]:
        lines.append(
            f"if [ -d {place} ]; then mount -t tmpfs -o size=16m,mode=1777 tmpfs {place}; fi"
        )
    if drop_to_uid is not None:
        lines += _reexpose(_needed_paths())
    lines += [f"cd {INSIDE}", 'exec "$@"']
    return "\n".join(lines)


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a worker's command line.

    Attributes:
        level: One of :data:`LEVELS`.
        limits: The resource limits.
    """

    level: str
    limits: Limits = Limits()

    @property
    def private_folder(self) -> bool:
        """Whether the folder shows up as :data:`INSIDE` (namespaced levels)."""
        return self.level != "limits"

    def home(self, folder: Path) -> str:
        """The submission's folder as the sandbox sees it (its cwd and HOME)."""
        return INSIDE if self.private_folder else str(folder)

    def uid(self, slot: int) -> int | None:
        """The user a slot's sandbox runs as (``None``: no change of user)."""
        return BASE_UID + slot if self.level == "full" else None

    def wrap(self, argv: Sequence[str], *, slot: int, timeout: float) -> list[str]:
        """The full command line: timeout, namespaces, limits, user, then ``argv``.

        Args:
            argv: The worker's command.
            slot: The worker slot (each has its own user at level ``full``).
            timeout: Wall-clock seconds before the whole sandbox is killed.
        """
        cpu = int(timeout) + 5  # the wall clock should fire first
        outer = ["timeout", "-k", "3", f"{timeout:g}"]
        uid = self.uid(slot)
        if self.level == "limits":
            return [*outer, *self.limits.prlimit(cpu, os.geteuid() != 0), *argv]
        unshare = [
            "unshare",
            "--net",
            "--pid",
            "--fork",
            "--mount",
            "--mount-proc",
            "--propagation",
            "private",
        ]
        if self.level == "namespaces":
            unshare.insert(1, "--map-root-user")
            unshare.insert(1, "--user")
        inner = self.limits.prlimit(cpu, uid is not None)
        if uid is not None:
            inner += [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        return [*outer, *unshare, "--", "sh", "-c", _setup_script(uid), "sandbox", *inner, *argv]


def describe(level: str) -> str:
    """What a level means, in one line for the console summary."""
    return {
        "full": "private network, process and mount namespaces, own user, limits, timeout",
        "namespaces": "private network, process and mount namespaces, limits, timeout",
        "limits": "limits and timeout only (namespaces refused here)",
    }[level]


def _works(sandbox: Sandbox, folder: Path) -> bool:
    probe = [sys.executable, "-c", "import ipykernel, citylib.grading._worker; print('ok')"]
    try:
        done = subprocess.run(
            sandbox.wrap(probe, slot=0, timeout=60),
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": sandbox.home(folder)},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "ok"


@functools.cache
def detect(limits: Limits = Limits()) -> Sandbox:
    """The strongest sandbox that works here (tried once per process)."""
    import tempfile

    candidates = []
    if shutil.which("unshare") and shutil.which("ip"):
        if os.geteuid() == 0 and shutil.which("setpriv"):
            candidates.append("full")
        candidates.append("namespaces")
    for level in candidates:
        folder = Path(tempfile.mkdtemp(prefix="citylib-sandbox-"))
        try:
            uid = Sandbox(level).uid(0)
            if uid is not None:
                os.chown(folder, uid, uid)
            if _works(Sandbox(level, limits), folder):
                return Sandbox(level, limits)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return Sandbox("limits", limits)
