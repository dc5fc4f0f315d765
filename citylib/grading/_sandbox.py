"""The sandbox each submission's child runs in (the judge stays outside it).

Levels, strongest first; the grader uses the strongest this machine allows and
records it:

``full`` (root)
    ``unshare`` gives the child private network, process and mount namespaces:
    only its own loopback (``ip link set lo up``; the child talks to the judge over
    an inherited socket pair, not the network), no view of other processes, and
    fresh ``/tmp``, ``/var/tmp`` and ``/dev/shm`` in which its folder is the only
    thing from outside. It then runs as a user of its own (``setpriv``), so it can
    write nothing else on the machine, and its process limit of one means no
    thread and no child process: nothing else can answer for a held loop.
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

from citylib.grading._messages import DEFAULTS

__all__ = ["LEVELS", "Detection", "Limits", "Sandbox", "describe", "detect", "detection"]

#: Sandbox levels, strongest first.
LEVELS = ("full", "namespaces", "limits")

#: Where the submission's folder appears inside the namespaced sandboxes.
INSIDE = "/tmp/submission"
#: The first user id handed to sandboxes (one per worker slot, so limits are per slot).
BASE_UID = 1_500_000
#: User ids a grader's slots may use (one block of :data:`UID_BLOCK` per grader).
UID_BLOCK = 64


def own_uid_base() -> int:
    """The first user id of this grader process's block.

    Two graders on one machine (two teachers, or a test suite beside a real batch)
    must not share sandbox users: a child's limit of one process per user would refuse
    the other grader's child, and each could signal the other's.
    """
    return BASE_UID + UID_BLOCK * (os.getpid() % 8192)


#: World-writable places a submission could otherwise leave files in.
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's child.

    Attributes:
        memory_mb: Address space, in MiB.
        processes: Processes and threads (per sandbox user, so only where it has
            its own: 1, the child alone).
        file_mb: Largest file it may write, in MiB.
        open_files: Open file descriptors.
    """

    memory_mb: int = DEFAULTS.memory_mb
    processes: int = DEFAULTS.processes
    file_mb: int = DEFAULTS.file_mb
    open_files: int = DEFAULTS.open_files

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
            # --rbind: a folder kept from the real /tmp is a bind mount below top.
            f"mount --rbind {shlex.quote(str(top))} {hold}",
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
    # Not exec: the child must not be the namespace's init, which ignores the signals
    # it sends itself (a submission's own os.kill(os.getpid(), SIGKILL) must work).
    lines += [f"cd {INSIDE}", '"$@"', "exit $?"]
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
    uid_base: int = BASE_UID

    @property
    def private_folder(self) -> bool:
        """Whether the folder shows up as :data:`INSIDE` (namespaced levels)."""
        return self.level != "limits"

    def home(self, folder: Path) -> str:
        """The submission's folder as the sandbox sees it (its cwd and HOME)."""
        return INSIDE if self.private_folder else str(folder)

    def uid(self, slot: int) -> int | None:
        """The user a slot's sandbox runs as (``None``: no change of user)."""
        return self.uid_base + slot if self.level == "full" else None

    def wrap(self, argv: Sequence[str], *, slot: int, timeout: float) -> list[str]:
        """The full command line: timeout, namespaces, limits, user, then ``argv``.

        Args:
            argv: The child's command.
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


def _tail(text: str) -> str:
    """The last line a failed command printed, without its program's name."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _try(sandbox: Sandbox, folder: Path) -> str | None:
    """Start a probe in ``sandbox``; ``None`` if it works, else why not (one line)."""
    probe = [sys.executable, "-c", "import citylib.grading._child; print('ok')"]
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
    except subprocess.TimeoutExpired:
        return "its probe did not answer within 90 s"
    except OSError as exc:
        return f"it could not start: {exc}"
    if done.returncode == 0 and done.stdout.strip() == "ok":
        return None
    said = _tail(done.stderr) or _tail(done.stdout) or f"exit status {done.returncode}"
    if said.startswith("unshare: "):  # "unshare: unshare failed: Operation not permitted"
        return said.removeprefix("unshare: ")
    return f"its probe failed: {said}"


def _userns_switch() -> str | None:
    """Why this kernel refuses user namespaces to unprivileged users, if a setting says so."""
    for path, off in (
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    ):
        try:
            value = Path(path).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if value == off:
            return f"{path.removeprefix('/proc/sys/').replace('/', '.')} is {value}"
    return None


@dataclass(frozen=True)
class Detection:
    """The sandbox :func:`detection` found, and why it is not a stronger one.

    Attributes:
        sandbox: The strongest sandbox that works here.
        reasons: For each stronger level, why it was not used (one line each).
    """

    sandbox: Sandbox
    reasons: tuple[tuple[str, str], ...] = ()

    @property
    def why(self) -> str:
        """One line: why this level and not a stronger one (empty at ``full``)."""
        if self.sandbox.level == "full":
            return ""
        refused = dict(self.reasons)
        if self.sandbox.level == "namespaces":
            return f"no user of its own: {refused.get('full', 'not tried')}"
        return refused.get("namespaces", "namespaces were not tried")

    def summary(self) -> str:
        """``sandbox: LEVEL [— why not stronger]. In force: …``, one line for the console."""
        names = {"full": "full", "namespaces": "namespaces", "limits": "limits only"}
        why = f" — {self.why}" if self.why else ""
        return (
            f"sandbox: {names[self.sandbox.level]}{why}. In force: {describe(self.sandbox.level)}."
        )


def _refusal(level: str) -> str | None:
    """Why ``level`` cannot even be tried here (``None``: try it)."""
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH, so no namespaces"
    if level == "full":
        if os.geteuid() != 0:
            return f"the grader runs as uid {os.geteuid()}, not root"
        if shutil.which("setpriv") is None:
            return "setpriv not found on PATH"
    return None


@functools.cache
def detection(limits: Limits = Limits()) -> Detection:
    """The strongest sandbox that works here, and why not a stronger one (tried once)."""
    import tempfile

    reasons: list[tuple[str, str]] = []
    for level in LEVELS[:-1]:
        refused = _refusal(level)
        if refused is None:
            folder = Path(tempfile.mkdtemp(prefix="citylib-sandbox-"))
            try:
                trial = Sandbox(level, limits, own_uid_base())
                uid = trial.uid(0)
                if uid is not None:
                    os.chown(folder, uid, uid)
                refused = _try(trial, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if refused is None:
                return Detection(Sandbox(level, limits, own_uid_base()), tuple(reasons))
            if level == "namespaces":
                switch = _userns_switch()
                refused = (
                    f"user namespaces are disabled here ({switch}; unshare --user: {refused})"
                    if switch
                    else f"user namespaces are refused here (unshare --user: {refused})"
                )
        reasons.append((level, refused))
    return Detection(Sandbox("limits", limits), tuple(reasons))


def detect(limits: Limits = Limits()) -> Sandbox:
    """The strongest sandbox that works here (tried once per process)."""
    return detection(limits).sandbox
