"""Attacks on the sandbox, each graded as a real submission, each with its honest outcome.

Every attack is a correct answer (``parallel_fetch`` with ``gather``, worth 10) whose
cell also tries to break out; it prints ``PROBE name: result`` lines, which the tests
read (what a child prints is its own account: each claim that matters is also checked
from here, outside). The honest outcome of every attack is the full score: breaking
out earns nothing, and trying costs nothing either.

Each batch runs at every namespaced level this machine offers (``bwrap``, and as
root ``full`` and ``namespaces`` too), so the fallbacks stay tested; the checks that
only bubblewrap's minimal filesystem can pass say so and run at ``bwrap`` only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citylib.grading import Batch, grade_batch
from citylib.grading import _sandbox as sandboxes
from citylib.grading._messages import GradeRecord
from citylib.grading._sandbox import Limits, Sandbox

HERE = Path(__file__).parent
CHECKOUT = HERE.parent
SOLUTION = CHECKOUT / "solutions" / "05_parallel_fetch_sprint.ipynb"
TIMEOUT = 8.0
SEED = 271828
SHM_KEY = 0x5C17_0000 + os.getpid() % 0xFFFF  # one key per test run

_MAKER = HERE / "submissions" / "make_submissions.py"
_spec = importlib.util.spec_from_file_location("make_submissions", _MAKER)
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)

#: Shared by the probes: print one line per attempt.
PRELUDE = """
import ctypes, ctypes.util, errno, os, signal, socket
libc = ctypes.CDLL(None, use_errno=True)
def probe(name, attempt):
    try:
        result = attempt()
    except BaseException as exc:
        print(f"PROBE {name}: blocked {type(exc).__name__}")
    else:
        print(f"PROBE {name}: {result}")
def read(path):
    with open(path, "rb") as f:
        return "READ " + str(len(f.read(64)))
"""


def attack(body: str) -> str:
    """A correct answer whose cell also runs ``body`` (the probes) when it is defined."""
    return make.GATHER + PRELUDE + body


SHM_CREATE = f"""
def shm_create():
    seg = libc.shmget({SHM_KEY}, 4096, 0o1666)  # IPC_CREAT | 0666
    if seg < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    libc.shmat.restype = ctypes.c_void_p
    addr = libc.shmat(seg, None, 0)
    ctypes.memmove(addr, b"left behind for the next child", 30)
    return f"created {{seg}}"
probe("shm_create", shm_create)
def shm_posix():
    from multiprocessing import shared_memory
    shared_memory.SharedMemory(name="citylib-left", create=True, size=4096)
    return "created"
probe("dev_shm", shm_posix)
def left_file():
    with open("/tmp/citylib-left-behind", "w") as f:
        f.write("for the next child")
    return "written"
probe("tmp_left", left_file)
"""

SHM_READ = f"""
def shm_read():
    seg = libc.shmget({SHM_KEY}, 0, 0)
    if seg < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    return "FOUND"
probe("shm_read", shm_read)
def shm_posix():
    from multiprocessing import shared_memory
    shared_memory.SharedMemory(name="citylib-left")
    return "FOUND"
probe("dev_shm_read", shm_posix)
probe("tmp_left_read", lambda: read("/tmp/citylib-left-behind"))
"""


def reading(out: Path, other: Path) -> str:
    targets = {
        "solution": SOLUTION,
        "tests": HERE / "test_grading.py",
        "checkout_readme": CHECKOUT / "README.md",
        "output_folder": out,
        "other_submission": other,
        "shadow": Path("/etc/shadow"),
        "passwd": Path("/etc/passwd"),
        "hostname": Path("/etc/hostname"),
        "root_home": Path("/root/.bashrc"),
    }
    lines = [f"probe({name!r}, lambda: read({str(path)!r}) if not os.path.isdir({str(path)!r}) "
             f"else 'LISTED ' + str(len(os.listdir({str(path)!r}))))"
             for name, path in targets.items()]  # fmt: skip
    return "\n".join(lines) + "\n"


WORKSPACE_CAUGHT = """
def fill(place):
    written = 0
    block = b"x" * 2**20
    try:
        for n in range(60):  # 600 MiB in files of 10 (each under the file-size limit)
            with open(f"{place}-{n}", "wb") as f:
                for _ in range(10):
                    f.write(block)
                    f.flush()
                    written += 2**20
    except OSError as exc:
        print(f"FILL {place}: {errno.errorcode[exc.errno]} after {written // 2**20} MiB")
        raise
    finally:
        for n in range(60):
            try:
                os.remove(f"{place}-{n}")
            except OSError:
                pass
    return f"WROTE {written // 2**20} MiB"
probe("fill_workspace", lambda: fill("big"))
probe("fill_tmp", lambda: fill("/tmp/big"))
"""

WORKSPACE_UNCAUGHT = """
block = b"x" * 2**20
for n in range(60):
    with open(f"big-{n}", "wb") as f:
        for _ in range(10):
            f.write(block)
"""


FORKS = """
def daemon():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            import time
            time.sleep(600)
        os._exit(0)
    return f"FORKED {pid}"
probe("fork_daemon", daemon)
def spawn():
    import subprocess
    p = subprocess.Popen(["/bin/sleep", "600"], start_new_session=True)
    return f"SPAWNED {p.pid}"
probe("spawn", spawn)
def thread():
    import threading, time
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    return "THREAD"
probe("thread", thread)
"""


DAEMON = """
import time
def daemon():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            marker = open("/proc/self/comm", "w")
            marker.write("citylib-daemon")
            marker.close()
            time.sleep(600)
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(0.2)  # let the grandchild name itself
    seen = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                seen.append(open(f"/proc/{p}/comm").read().strip())
            except OSError:
                pass
    return "RUNNING" if "citylib-daemon" in seen else "NOT SEEN"
probe("daemon", daemon)
"""


def _still_there(uids: range) -> list[tuple[int, str]]:
    """Processes of ``uids`` still alive a moment after the batch returned.

    A killed sandbox's namespace is torn down by the kernel: on a machine with a load
    average of 10, a process of it was once still listed as the batch returned. What
    counts is that it is dying, not living on: allow it two seconds.
    """
    for _ in range(20):
        found = processes_of(uids)
        if not found:
            return []
        time.sleep(0.1)
    return [(pid, _describe_process(pid)) for pid in found]


def _describe_process(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text()[:120]
    except OSError:
        return "gone"


def command_of(pid: int) -> str:
    """A process's command line, for a failure's message."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "(gone)"
    return raw.replace(b"\0", b" ").decode(errors="replace")


def children_of(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` (the batch's wrappers, if any were left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def daemons_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def network(port: int, abstract: str) -> str:
    return f"""
def connect(host, port):
    socket.create_connection((host, port), timeout=1).close()
    return "CONNECTED"
probe("host_loopback", lambda: connect("127.0.0.1", {port}))
def abstract_unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect({abstract!r})
    return "CONNECTED"
probe("abstract_unix", abstract_unix)
probe("outside_ip", lambda: connect("1.1.1.1", 53))
"""


NEIGHBOURS = """
def processes():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    seen = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                seen.append(f.read().split(b"\\0")[0].decode(errors="replace").rsplit("/", 1)[-1])
        except OSError:
            seen.append("?")
    return f"SEEN {len(pids)} {' '.join(seen)}"
probe("proc_list", processes)
probe("proc_parent_environ", lambda: read(f"/proc/{os.getppid()}/environ"))
probe("proc_1_environ", lambda: read("/proc/1/environ"))
def ptrace(pid):
    PTRACE_ATTACH = 16
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")
    return "ATTACHED"
probe("ptrace_parent", lambda: ptrace(os.getppid()))
probe("ptrace_1", lambda: ptrace(1))
def signal_all():
    os.kill(-1, signal.SIGKILL)  # every process it may signal, itself aside
    return "SENT"
probe("kill_parent", lambda: os.kill(os.getppid(), signal.SIGKILL) or "SENT")
probe("kill_all", signal_all)
def raise_limit():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return "RAISED"
probe("raise_rlimit", raise_limit)
def fds():
    found = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            found.append(fd + "=" + os.readlink(f"/proc/self/fd/{fd}").split(":", 1)[0])
        except OSError:
            pass
    return "FDS " + "|".join(found)
probe("fds", fds)
probe("environ", lambda: "ENV " + " ".join(sorted(os.environ)))
def writable(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # opened for writing, nothing written
    return "WRITABLE"
def creatable(folder):
    made = os.path.join(folder, f"citylib-probe-{os.getpid()}.py")
    os.close(os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    os.remove(made)
    return "CREATED"
import citylib.grading._child as child_module
probe("poison_child", lambda: writable(child_module.__file__))
probe("poison_package", lambda: creatable(os.path.dirname(child_module.__file__)))
def poison_site():
    import sysconfig
    for entry in __import__("sys").path:
        if "site-packages" in entry or "/site-" in entry:
            return creatable(entry)
    return "NO SITE"
probe("poison_site", poison_site)
def nested_userns():
    CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, 0x1000 | 0x20 | 0x4000, None) != 0:  # remount rw
        raise OSError(ctypes.get_errno(), "mount")
    return "REMOUNTED"
probe("nested_userns_remount", nested_userns)
"""


def levels_here() -> list[str]:
    found = sandboxes.detection(Limits()).sandbox.level
    if found == "limits":
        return []
    if os.geteuid() == 0:
        # Not ``namespaces`` as root: there the child is root mapped to root, with the
        # whole machine writable (a grader as root always has ``full``).
        return [lv for lv in ("bwrap", "full") if sandboxes._refusal(lv) is None]
    return [found]


LEVELS_HERE = levels_here()


def write(folder: Path, name: str, answer: str) -> Path:
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(make.build(name, answer, None)), encoding="utf-8")
    return path


def probes(record: GradeRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in record.output.splitlines():
        if line.startswith("PROBE "):
            name, _, result = line.removeprefix("PROBE ").partition(": ")
            found[name] = result
    return found


def host_shm_keys() -> set[int]:
    lines = Path("/proc/sysvipc/shm").read_text(encoding="ascii").splitlines()[1:]
    return {int(line.split()[0]) & 0xFFFFFFFF for line in lines if line.split()}


def processes_of(uids: range) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


class Listener:
    """A TCP and an abstract-unix server here, counting what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"\0citylib-isolation-{os.getpid()}-{id(self)}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.abstract)
        self.unix.listen()
        self.reached = 0
        self.threads = [threading.Thread(target=self._accept, args=(s,), daemon=True)
                        for s in (self.tcp, self.unix)]  # fmt: skip
        for t in self.threads:
            t.start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.reached += 1
            conn.close()

    def close(self) -> None:
        for s in (self.tcp, self.unix):
            s.shutdown(socket.SHUT_RDWR)  # wakes its accept(), so the name is freed
            s.close()


@pytest.fixture(scope="module", params=LEVELS_HERE or ["none"])
def attacked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Two batches at one level: the first leaves things behind, the second looks."""
    level = request.param
    if level == "none":
        pytest.skip("no namespaced sandbox here: only limits (the threat model says so)")
    sandbox = Sandbox(level, Limits(), sandboxes.own_uid_base())
    # Children this test process had before (a worker that ran other modules first may
    # keep a server or a helper of theirs): only the batches' own may not outlive them.
    children_before = set(children_of(os.getpid()))
    folder = tmp_path_factory.mktemp(f"attacks-{level}")
    out = tmp_path_factory.mktemp(f"out-{level}")
    (out / "grades.csv").write_text("a teacher's file\n", encoding="utf-8")
    listener = Listener()
    honest = write(folder, "honest", make.GATHER)
    first = [
        honest,
        write(folder, "leaves_ipc", attack(SHM_CREATE)),
        write(folder, "reads_host", attack(reading(out, honest))),
        write(folder, "fills_workspace", attack(WORKSPACE_CAUGHT)),
        write(folder, "fills_workspace_uncaught", make.HEAD + WORKSPACE_UNCAUGHT + make.GATHER),
        write(folder, "forks", attack(FORKS)),
        write(folder, "network", attack(network(listener.port, listener.abstract))),
        write(folder, "neighbours", attack(NEIGHBOURS)),
    ]
    keys_before = host_shm_keys()
    try:
        batch1 = grade_batch(first, sandbox=sandbox, timeout=TIMEOUT, seed=SEED, workers=2)
        keys_after = host_shm_keys()
        left = _still_there(range(sandbox.uid_base, sandbox.uid_base + sandboxes.UID_BLOCK))
        batch2 = grade_batch(
            [write(folder, "looks_for_ipc", attack(SHM_READ))],
            sandbox=sandbox, timeout=TIMEOUT, seed=SEED, workers=1,
        )  # fmt: skip
        # The same sandbox with forks allowed: a daemon really starts, then must die
        # with the child (its PID namespace ends with it).
        forking = Sandbox(level, Limits(processes=64), sandbox.uid_base)
        batch3 = grade_batch(
            [write(folder, "daemonises", attack(DAEMON))],
            sandbox=forking, timeout=TIMEOUT, seed=SEED, workers=1,
        )  # fmt: skip
        left_after_daemon = _still_there(range(sandbox.uid_base, sandbox.uid_base + 64))
        children = [
            (pid, command_of(pid)) for pid in children_of(os.getpid())
            if pid not in children_before
        ]
    finally:
        listener.close()
    yield {
        "level": level, "sandbox": sandbox, "batch1": batch1, "batch2": batch2,
        "keys_before": keys_before, "keys_after": keys_after, "left": left,
        "reached": listener.reached, "batch3": batch3, "left_after_daemon": left_after_daemon,
        "children": children,
    }  # fmt: skip


def by_name(batch: Batch) -> dict[str, GradeRecord]:
    return {Path(r.submission).stem: r for r in batch.records}


def test_every_attack_earns_its_honest_score(attacked: dict[str, Any]) -> None:
    for name, record in by_name(attacked["batch1"]).items():
        if name == "fills_workspace_uncaught":
            continue
        assert (record.status, record.score) == ("ok", 10), (name, record.error, record.output)
    (looked,) = attacked["batch2"].records
    assert (looked.status, looked.score) == ("ok", 10), looked.error


def test_records_say_which_protections_held(attacked: dict[str, Any]) -> None:
    sandbox: Sandbox = attacked["sandbox"]
    for record in attacked["batch1"].records:
        assert record.sandbox == attacked["level"]
        assert record.protections == list(sandbox.protections)
        assert {"network_namespace", "pid_namespace", "ipc_namespace", "mount_namespace",
                "workspace_cap", "nothing_outlives"} <= set(record.protections)  # fmt: skip
    if attacked["level"] == "bwrap":
        assert "minimal_filesystem" in sandbox.protections


def test_nothing_a_child_creates_reaches_the_next_batch(attacked: dict[str, Any]) -> None:
    made = probes(by_name(attacked["batch1"])["leaves_ipc"])
    assert made["shm_create"].startswith("created"), made  # it really made one...
    seen = probes(attacked["batch2"].records[0])
    assert seen["shm_read"].startswith("blocked"), seen  # ...which the next child cannot find
    assert seen["dev_shm_read"].startswith("blocked"), seen
    assert seen["tmp_left_read"].startswith("blocked"), seen
    # And from outside: no segment with that key was left on this machine.
    assert SHM_KEY not in attacked["keys_after"]
    assert not Path("/dev/shm/citylib-left").exists()
    assert not Path("/tmp/citylib-left-behind").exists()


def test_no_process_outlives_its_child(attacked: dict[str, Any]) -> None:
    tried = probes(by_name(attacked["batch1"])["forks"])
    if attacked["level"] in ("bwrap", "full"):
        assert all(tried[k].startswith("blocked") for k in ("fork_daemon", "spawn", "thread"))
    assert attacked["left"] == []  # no process of the sandbox users after the batch
    # Forks allowed: the daemon really ran, and nothing of it is left now.
    (daemonised,) = attacked["batch3"].records
    assert probes(daemonised)["daemon"] == "RUNNING", daemonised.output
    assert (daemonised.status, daemonised.score) == ("ok", 10), daemonised.error
    assert attacked["left_after_daemon"] == []
    assert daemons_named("citylib-daemon") == []
    assert attacked["children"] == []  # no wrapper of the batch's is left either


def test_no_network_not_even_the_hosts_loopback(attacked: dict[str, Any]) -> None:
    tried = probes(by_name(attacked["batch1"])["network"])
    assert tried["host_loopback"].startswith("blocked"), tried
    assert tried["abstract_unix"].startswith("blocked"), tried
    assert tried["outside_ip"].startswith("blocked"), tried
    assert attacked["reached"] == 0


def test_the_workspace_is_capped_and_the_batch_goes_on(attacked: dict[str, Any]) -> None:
    records = by_name(attacked["batch1"])
    tried = probes(records["fills_workspace"])
    for where in ("fill_workspace", "fill_tmp"):
        assert tried[where] == "blocked OSError", tried  # well before 600 MiB
    # What stopped it was the cap (printed by the child, so only a cross-check).
    fills = [line for line in records["fills_workspace"].output.splitlines() if "FILL" in line]
    assert len(fills) == 2 and all("ENOSPC after" in line for line in fills), fills
    uncaught = records["fills_workspace_uncaught"]
    assert (uncaught.status, uncaught.score) == ("error", 0)
    assert "No space left on device" in uncaught.error, uncaught.error
    assert records["honest"].score == 10


def test_the_child_cannot_read_the_checkout_or_the_host(attacked: dict[str, Any]) -> None:
    tried = probes(by_name(attacked["batch1"])["reads_host"])
    assert SOLUTION.is_file()  # there to be read, from here
    if attacked["level"] != "bwrap":
        # Below bwrap the host's files stay readable to the child's user (the threat
        # model says so); the grader's own /root (mode 700) does not.
        assert tried["shadow"].startswith("blocked"), tried
        return
    for name in ("solution", "tests", "checkout_readme", "output_folder", "other_submission",
                 "shadow", "passwd", "hostname", "root_home"):  # fmt: skip
        assert tried[name].startswith("blocked"), (name, tried)


def test_the_judge_is_out_of_reach(attacked: dict[str, Any]) -> None:
    tried = probes(by_name(attacked["batch1"])["neighbours"])
    count, *names = tried["proc_list"].removeprefix("SEEN ").split()
    # Its own namespace's processes only (the wrapper and itself), never the judge.
    assert int(count) <= 3 and not any("pytest" in n for n in names), tried
    for name in ("proc_parent_environ", "ptrace_parent", "ptrace_1", "kill_parent",
                 "raise_rlimit", "poison_child", "poison_package", "poison_site"):  # fmt: skip
        if attacked["level"] == "namespaces" and name in ("proc_parent_environ", "kill_parent"):
            continue  # its parent is its own namespace's shell, under its own user
        assert tried[name].startswith("blocked"), (name, tried)
    if attacked["level"] == "bwrap":  # below it, / is the host's, already writable to DAC
        assert tried["nested_userns_remount"].startswith("blocked"), tried
    # Nothing open but /dev/null, its own log, its socket to the judge and its loop's
    # own descriptors: no folder, no notebook, no file of the grader's.
    fds = dict(f.split("=", 1) for f in tried["fds"].removeprefix("FDS ").split("|"))
    log = fds["1"]
    assert fds["0"] == "/dev/null" and fds["2"] == log and log.endswith("(deleted)"), fds
    assert set(fds.values()) <= {"/dev/null", log, "socket", "anon_inode", "pipe"}, fds
    # Its environment holds nothing of the grader's: no seed, no path, no secret.
    env = set(tried["environ"].removeprefix("ENV ").split())
    allowed = {"PATH", "HOME", "LANG", "CITYLIB_SPEED", "MPLBACKEND", "MALLOC_ARENA_MAX",
               "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONDONTWRITEBYTECODE",
               "PYTHONSAFEPATH", "PYTHONPATH", "TMPDIR", "PWD", "OLDPWD"}  # fmt: skip
    assert env <= allowed, env - allowed
    record = by_name(attacked["batch1"])["neighbours"]
    assert str(SEED) not in record.output
    # A poisoned citylib would break the next child: the second batch graded fine.
    assert attacked["batch2"].records[0].score == 10


def test_without_bubblewrap_the_unshare_levels_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    which = sandboxes.shutil.which
    monkeypatch.setattr(sandboxes.shutil, "which", lambda n: None if n == "bwrap" else which(n))
    found = sandboxes.detection.__wrapped__(Limits())
    assert found.sandbox.level != "bwrap"
    if os.geteuid() == 0 and found.sandbox.level == "full":
        assert found.why.startswith("bubblewrap (bwrap) not found on PATH")
        assert "minimal_filesystem" in found.summary().split("Not held: ")[1]
        assert {"own_user", "ipc_namespace", "workspace_cap"} <= set(found.sandbox.protections)
