"""The sandbox each submission's child runs in (the judge stays outside it).

Levels, strongest first; the grader uses the strongest this machine allows, prints
which protections held before grading and records them on every submission
(:data:`PROTECTIONS`, :meth:`Sandbox.protections`):

``bwrap`` (Debian's bubblewrap installed)
    A minimal read-only filesystem: the interpreter, the standard library, the
    installed packages and citylib's own package (bound at a neutral path, never the
    checkout), the system's shared libraries, a fresh ``/proc`` and ``/dev``; no
    ``/etc``, no ``/home``, no notebooks, tests, output folder or other submission.
    Private network (its own loopback only), PID, IPC, UTS and mount namespaces; a
    private ``/tmp`` tmpfs capped at :attr:`Limits.workspace_mb` holds its folder, and
    nothing else is writable. As root it runs as a user of its own (``setpriv``
    inside); unprivileged, in a user namespace of its own instead. When it ends, its
    PID namespace ends: nothing it started, no SysV object and no file outlives it.
``full`` (root, no bubblewrap)
    ``unshare`` gives the child private network, process, IPC and mount namespaces:
    only its own loopback (``ip link set lo up``; the child talks to the judge over
    an inherited socket pair, not the network), no view of other processes, and
    fresh capped ``/tmp``, ``/var/tmp`` and ``/dev/shm`` with its folder a capped
    tmpfs of its own. It then runs as a user of its own (``setpriv``), so it can
    write nothing else on the machine; it can still *read* what the machine lets
    any user read. Its process limit of one means no thread and no child process:
    nothing else can answer for a held loop.
``namespaces`` (unprivileged, user namespaces allowed, no bubblewrap)
    The same namespaces inside a user namespace, without the change of user.
``limits``
    Namespaces refused: only the limits below.

Every level adds ``prlimit`` limits (address space, file size, CPU time, open
files) and ``timeout -k``. cgroup limits are not used: on the machine this was
built on, cgroup v2 has no memory, CPU or pids controller (only a v1 hierarchy),
so memory and CPU stay per-process rlimits.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from citylib.grading._messages import DEFAULTS

__all__ = [
    "LEVELS", "PROTECTIONS", "Detection", "Limits", "Protection", "Sandbox", "describe",
    "detect", "detection",
]  # fmt: skip

#: Sandbox levels, strongest first.
LEVELS = ("bwrap", "full", "namespaces", "limits")

#: One protection around a child, as recorded on every submission.
Protection = Literal[
    "own_user", "user_namespace", "network_namespace", "pid_namespace", "ipc_namespace",
    "mount_namespace", "minimal_filesystem", "private_tmp", "workspace_cap",
    "nothing_outlives", "no_threads", "rlimits", "timeout",
]  # fmt: skip

#: Every protection, and what it means in one line.
PROTECTIONS: dict[Protection, str] = {
    "own_user": "runs as a user of its own, not the grader's",
    "user_namespace": "in a user namespace of its own",
    "network_namespace": "no network: only a loopback of its own",
    "pid_namespace": "sees and signals only its own processes",
    "ipc_namespace": "SysV shared memory, semaphores and queues of its own",
    "mount_namespace": "mounts of its own",
    "minimal_filesystem": (
        "sees only the interpreter, the standard library, the installed packages and "
        "citylib's package, read-only"
    ),
    "private_tmp": "a private /tmp (no other submission's files)",
    "workspace_cap": "its writable places are capped tmpfs",
    "nothing_outlives": "nothing it starts or creates outlives it",
    "no_threads": "no thread or process besides itself",
    "rlimits": "address space, file size, CPU time and open files limited",
    "timeout": "killed after a wall-clock timeout",
}
assert set(PROTECTIONS) == set(get_args(Protection))

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
        workspace_mb: Its private workspace tmpfs (levels with a mount namespace).
    """

    memory_mb: int = DEFAULTS.memory_mb
    processes: int = DEFAULTS.processes
    file_mb: int = DEFAULTS.file_mb
    open_files: int = DEFAULTS.open_files
    workspace_mb: int = DEFAULTS.workspace_mb

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


def _setup_script(drop_to_uid: int | None, workspace_mb: int = DEFAULTS.workspace_mb) -> str:
    """The shell that prepares the namespaces, then runs the rest of argv."""
    before, after = _keep_from_tmp(_needed_paths())
    owner = "" if drop_to_uid is None else f",uid={drop_to_uid},gid={drop_to_uid}"
    lines = [
        "set -e",
        "ip link set lo up",
        *before,
        f"mount -t tmpfs -o size={workspace_mb}m,mode=1777,nosuid,nodev tmpfs /tmp",
        *after,
        f"mkdir {INSIDE}",
        # Its folder is a capped tmpfs of its own: the host's folder stays empty.
        f"mount -t tmpfs -o size={workspace_mb}m,mode=700{owner},nosuid,nodev tmpfs {INSIDE}",
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


#: Where citylib's package and the installed packages appear inside ``bwrap``.
NEUTRAL = "/opt/citylib"


def _package_dir() -> Path:
    """citylib's own package folder (the only part of a checkout a child sees)."""
    from citylib._core import clock  # a module's file: the package may be a namespace

    return Path(clock.__file__).resolve().parents[1]


def _site_dirs() -> list[Path]:
    """The environment's installed packages (a venv's, or the interpreter's own)."""
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return [Path(os.path.realpath(p)) for p in sorted(paths) if Path(p).is_dir()]


def _library_dirs() -> list[str]:
    """Where the interpreter's shared libraries come from (``/usr/lib/<arch>``, ``/lib64``)."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [f"/usr/lib/{arch}" if arch and Path(f"/usr/lib/{arch}").is_dir() else "/usr/lib"]
    dirs += [d for d in ("/usr/lib64",) if Path(d).is_dir()]
    return dirs


def _ancestors(path: Path) -> list[str]:
    return [str(p) for p in reversed(path.parents) if str(p) != "/"]


@functools.cache
def _bwrap_filesystem() -> tuple[str, ...]:
    """``bwrap`` arguments for the child's read-only world (computed once)."""
    interpreter = Path(os.path.realpath(sys.executable))
    base = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    binds: list[tuple[Path, Path]] = [(interpreter, interpreter), (stdlib, stdlib)]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    shared = sysconfig.get_config_var("INSTSONAME") or ""
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and shared and Path(libdir, shared).exists():
        binds.append((Path(libdir, shared).resolve(), Path(libdir, shared)))
    for n, site in enumerate(_site_dirs()):
        binds.append((site, Path(NEUTRAL, f"site-{n}")))
    binds.append((_package_dir(), Path(NEUTRAL, "lib", "citylib")))
    for tool in ("prlimit", "setpriv"):
        found = shutil.which(tool)
        if found:
            binds.append((Path(os.path.realpath(found)), Path("/usr/bin", tool)))
    args: list[str] = []
    made: set[str] = set()
    for system in _library_dirs():
        binds.insert(0, (Path(system), Path(system)))
    for source, target in binds:
        for folder in _ancestors(target):
            if folder not in made:  # bwrap would make them mode 700 as root
                made.add(folder)
                args += ["--perms", "0755", "--dir", folder]
        args += ["--ro-bind", str(source), str(target)]
    for link, points_to in (("/lib", "usr/lib"), ("/lib64", "usr/lib64")):
        if Path(link).is_symlink():
            args += ["--symlink", points_to, link]
        elif Path(link).is_dir():
            args += ["--ro-bind", link, link]
    # The interpreter's own site-packages (pyenv's, the system's) stays out of sight.
    base_site = Path(
        sysconfig.get_paths(vars={"base": str(base), "platbase": str(base)})["purelib"]
    )
    if stdlib in base_site.parents and base_site.is_dir():
        args += ["--tmpfs", str(base_site)]
    python_path = [f"{NEUTRAL}/lib", *(f"{NEUTRAL}/site-{n}" for n in range(len(_site_dirs())))]
    args += ["--setenv", "PYTHONPATH", ":".join(python_path)]
    return tuple(args)


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a worker's command line.

    Attributes:
        level: One of :data:`LEVELS`.
        limits: The resource limits.
        uid_base: The first user id of this grader's slots.
        root: Whether the grader runs as root (a user of its own per slot).
    """

    level: str
    limits: Limits = Limits()
    uid_base: int = BASE_UID
    root: bool = field(default_factory=lambda: os.geteuid() == 0)

    @property
    def private_folder(self) -> bool:
        """Whether the folder shows up as :data:`INSIDE` (namespaced levels)."""
        return self.level != "limits"

    @property
    def protections(self) -> tuple[Protection, ...]:
        """Which protections hold around each child at this level, here."""
        held: list[Protection] = []
        if self.uid(0) is not None:
            held.append("own_user")
        if self.level == "namespaces" or (self.level == "bwrap" and not self.root):
            held.append("user_namespace")
        if self.level != "limits":
            held += ["network_namespace", "pid_namespace", "ipc_namespace", "mount_namespace"]
            if self.level == "bwrap":
                held.append("minimal_filesystem")
            held += ["private_tmp", "workspace_cap", "nothing_outlives"]
        if self.level in ("bwrap", "full") or (self.level == "limits" and not self.root):
            held.append("no_threads")
        return (*held, "rlimits", "timeout")

    @property
    def verified(self) -> bool:
        """Whether the judge is isolated from the child: another user, in namespaces."""
        return {"own_user", "pid_namespace", "mount_namespace"} <= set(self.protections)

    def home(self, folder: Path) -> str:
        """The submission's folder as the sandbox sees it (its cwd and HOME)."""
        return INSIDE if self.private_folder else str(folder)

    def uid(self, slot: int) -> int | None:
        """The user a slot's sandbox runs as (``None``: no change of user)."""
        own = self.level == "full" or (self.level == "bwrap" and self.root)
        return self.uid_base + slot if own else None

    def wrap(self, argv: Sequence[str], *, slot: int, timeout: float) -> list[str]:
        """The full command line: timeout, namespaces, limits, user, then ``argv``.

        Args:
            argv: The child's command.
            slot: The worker slot (each has its own user where the grader is root).
            timeout: Wall-clock seconds before the whole sandbox is killed.
        """
        cpu = int(timeout) + 5  # the wall clock should fire first
        outer = ["timeout", "-k", "3", f"{timeout:g}"]
        uid = self.uid(slot)
        if self.level == "limits":
            return [*outer, *self.limits.prlimit(cpu, os.geteuid() != 0), *argv]
        if self.level == "bwrap":
            # The venv's python is a link the sandbox does not hold: run what it points to.
            program = os.path.realpath(argv[0]) if argv[0] == sys.executable else argv[0]
            inner = self.limits.prlimit(cpu, True)
            return [*outer, *self._bwrap(uid), *inner, program, *argv[1:]]
        unshare = [
            "unshare",
            "--net",
            "--pid",
            "--ipc",
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
            inner += _setpriv(uid)
        script = _setup_script(uid, self.limits.workspace_mb)
        return [*outer, *unshare, "--", "sh", "-c", script, "sandbox", *inner, *argv]

    def _bwrap(self, uid: int | None) -> list[str]:
        """``bwrap``'s part of the command line, down to the user change."""
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                      "--unshare-cgroup-try"]  # fmt: skip
        if uid is None:  # unprivileged: a user namespace, and no nested one for the child
            namespaces = ["--unshare-user", *namespaces, "--disable-userns"]
        capped = str(self.limits.workspace_mb * 2**20)
        args = [
            shutil.which("bwrap") or "bwrap",
            *namespaces,
            "--die-with-parent",
            "--new-session",
            *_bwrap_filesystem(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--size", capped, "--tmpfs", "/tmp",
            # Its own folder (as root, for the user it becomes: alone in its namespaces).
            "--perms", "0700" if uid is None else "0777", "--dir", INSIDE,
            "--chdir", INSIDE,
            "--setenv", "TMPDIR", "/tmp",
        ]  # fmt: skip
        if uid is None:
            return [*args, "--"]
        # As root, bwrap needs no user namespace: the child becomes a user of its own
        # (bwrap drops every capability but these two, and setpriv drops those).
        return [*args, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                *_setpriv(uid)]  # fmt: skip

def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--"]  # fmt: skip


def describe(level: str) -> str:
    """What a level means, in one line for the console summary."""
    return {
        "bwrap": "bubblewrap: minimal read-only filesystem, private network, process, IPC "
        "and mount namespaces, capped private tmpfs, limits, timeout",
        "full": "private network, process, IPC and mount namespaces, own user, limits, timeout",
        "namespaces": "private network, process, IPC and mount namespaces, limits, timeout",
        "limits": "limits and timeout only (namespaces refused here)",
    }.get(level, level)


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
    for tool in ("unshare: ", "bwrap: "):  # "unshare: unshare failed: Operation not permitted"
        if said.startswith(tool):
            return said.removeprefix(tool)
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
        """One line: why this level and not a stronger one (empty when nothing is missing)."""
        refused = dict(self.reasons)
        level = self.sandbox.level
        if level in ("bwrap", "full") and self.sandbox.root:
            return "" if level == "bwrap" else refused.get("bwrap", "")
        if level == "bwrap":
            return f"no user of its own: the grader runs as uid {os.geteuid()}, not root"
        if level == "namespaces":
            return f"no user of its own: {refused.get('full', 'not tried')}"
        return refused.get("namespaces", "namespaces were not tried")

    def summary(self) -> str:
        """``sandbox: LEVEL [— why not stronger]. In force: …``, one line for the console."""
        names = {"limits": "limits only"}
        why = f" — {self.why}" if self.why else ""
        held = self.sandbox.protections
        absent = [p for p in PROTECTIONS if p not in held and p != "user_namespace"]
        missing = f" Not held: {', '.join(absent)}." if absent else ""
        return (
            f"sandbox: {names.get(self.sandbox.level, self.sandbox.level)}{why}. "
            f"In force: {', '.join(held)}.{missing}"
        )


def _refusal(level: str) -> str | None:
    """Why ``level`` cannot even be tried here (``None``: try it)."""
    if level == "bwrap":
        if shutil.which("bwrap") is None:
            return "bubblewrap (bwrap) not found on PATH (Debian: apt-get install bubblewrap)"
        needed = ["prlimit", *(["setpriv"] if os.geteuid() == 0 else [])]
        absent = [tool for tool in needed if shutil.which(tool) is None]
        return f"{' and '.join(absent)} not found on PATH" if absent else None
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
            if level in ("bwrap", "namespaces") and not (level == "bwrap" and os.geteuid() == 0):
                switch = _userns_switch()
                tool = "bwrap" if level == "bwrap" else "unshare --user"
                refused = (
                    f"user namespaces are disabled here ({switch}; {tool}: {refused})"
                    if switch
                    else f"user namespaces are refused here ({tool}: {refused})"
                )
        reasons.append((level, refused))
    return Detection(Sandbox("limits", limits), tuple(reasons))


def detect(limits: Limits = Limits()) -> Sandbox:
    """The strongest sandbox that works here (tried once per process)."""
    return detection(limits).sandbox
