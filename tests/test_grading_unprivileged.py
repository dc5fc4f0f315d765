"""The grader as a teacher on a hub runs it: not root, with or without user namespaces.

As root (CI), each test runs a small Python program as ``nobody`` (uid 65534, no
capabilities: ``setpriv``) in a mount namespace of its own, where the interpreter
and the venv under closed folders (``/root``, mode 700) are bound back the way the
full sandbox does it, and ``/tmp`` is private. That program detects the sandbox and
grades one submission; it prints what it found as JSON.

``user namespaces off`` adds a user namespace around it (uids 0 and 65534 mapped to
themselves) whose ``user.max_user_namespaces`` is 0: inside, the kernel refuses
``unshare --user`` exactly as a hub node with user namespaces disabled does.

Not root, the tests run the program as the current (already unprivileged) user; the
user-namespaces-off case then needs root and is skipped, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from citylib.grading import _sandbox as sandboxes

HERE = Path(__file__).parent
SUBMISSION = HERE / "submissions" / "correct_gather.ipynb"
NOBODY = 65534
TIMEOUT = 240.0

SOLUTION = HERE.parent / "notebooks" / "solutions" / "05_parallel_fetch_sprint.ipynb"


def _attack_notebook() -> str:
    """A correct answer that also tries a thread and reads the checkout, as JSON text."""
    spec = importlib.util.spec_from_file_location(
        "make_submissions", HERE / "submissions" / "make_submissions.py"
    )
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    probes = f"""
import os, threading
def probe(name, attempt):
    try:
        print(f"PROBE {{name}}: {{attempt()}}")
    except BaseException as exc:
        print(f"PROBE {{name}}: blocked {{type(exc).__name__}}")
probe("thread", lambda: threading.Thread(target=print).start() or "STARTED")
probe("solution", lambda: len(open({str(SOLUTION)!r}, "rb").read(64)))
probe("tests", lambda: len(open({str(HERE / "test_grading.py")!r}, "rb").read(64)))
probe("processes", lambda: sum(p.isdigit() for p in os.listdir("/proc")))
"""
    return json.dumps(make.build("attack", make.GATHER + probes, None))


PROGRAM = f"""
import json, os, tempfile
from pathlib import Path
from citylib.grading import grade_batch
from citylib.grading._sandbox import Limits, detection
found = detection(Limits())
attack = Path(tempfile.mkdtemp()) / "attack.ipynb"
attack.write_text({_attack_notebook()!r}, encoding="utf-8")
batch = grade_batch([{str(SUBMISSION)!r}, attack], sandbox=found.sandbox, timeout=6.0)
record, attacked = sorted(batch.records, key=lambda r: r.submission != "correct_gather.ipynb")
probes = dict(line.removeprefix("PROBE ").split(": ", 1) for line in attacked.output.splitlines()
              if line.startswith("PROBE "))
print(json.dumps({{
    "attack": [attacked.status, attacked.score], "probes": probes,
    "uid": os.geteuid(), "level": found.sandbox.level, "why": found.why,
    "summary": found.summary(), "status": record.status, "score": record.score,
    "max_score": record.max_score, "record_sandbox": record.sandbox,
    "error": record.error, "protections": record.protections,
}}))
"""


def _namespace_script(userns_off: bool) -> str:
    """Prepare the mount namespace, then become nobody and ``exec "$@"``."""
    needed = sandboxes._needed_paths()
    before, after = sandboxes._keep_from_tmp(needed)
    lines = [
        "set -e",
        *(["echo 0 > /proc/sys/user/max_user_namespaces"] if userns_off else []),
        *before,
        "mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp",
        *after,
        *sandboxes._reexpose(needed),
        "cd /tmp",
        f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "$@"',
    ]
    return "\n".join(lines)


def _write_id_maps(pid: int) -> None:
    """Map root and nobody to themselves in the child's new user namespace."""
    ours = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{pid}/ns/user") == ours:  # unshare(2) not done yet
        if time.monotonic() > deadline:
            raise RuntimeError("the child never entered its user namespace")
        time.sleep(0.01)
    for kind, top in (("uid", NOBODY), ("gid", NOBODY)):
        Path(f"/proc/{pid}/{kind}_map").write_text(f"0 0 1\n{top} {top} 1\n", encoding="ascii")


def run_as_nobody(userns_off: bool) -> dict[str, Any]:
    """Run :data:`PROGRAM` unprivileged; its JSON answer."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("CITYLIB_")})
    if os.geteuid() != 0:
        command = [sys.executable, "-c", PROGRAM]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
        )
    else:
        outer = ["unshare", *(["--user"] if userns_off else []), "--mount"]
        command = [
            *outer, "--propagation", "private", "--",
            # Wait for the parent to write the id maps, then exec again: capabilities
            # in the new user namespace come with an exec as its (mapped) root.
            "sh", "-c", 'read _ready && exec "$@"', "wait-for-maps",
            "sh", "-c", _namespace_script(userns_off), "as-nobody",
            sys.executable, "-c", PROGRAM,
        ]  # fmt: skip
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        ) as child:
            try:
                if userns_off:
                    _write_id_maps(child.pid)
                out, err = child.communicate("go\n", timeout=TIMEOUT)
            finally:  # whatever happened, nothing of it outlives the test
                if child.poll() is None:
                    os.killpg(child.pid, 9)
                    child.wait()
        done = subprocess.CompletedProcess(command, child.returncode, out, err)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("unshare", "setpriv", "ip")),
    reason="needs unshare, setpriv and ip (util-linux, iproute2)",
)


@needs_tools
def test_unprivileged_with_user_namespaces() -> None:
    found = run_as_nobody(userns_off=False)
    assert found["uid"] != 0
    # Where the kernel allows unprivileged user namespaces (this machine's default),
    # a teacher gets the namespaced sandbox; the summary says why not the full one.
    if found["level"] in ("bwrap", "namespaces"):  # bwrap where bubblewrap is installed
        uid, level = found["uid"], found["level"]
        assert found["why"] == f"no user of its own: the grader runs as uid {uid}, not root"
        assert found["summary"].startswith(f"sandbox: {level} — no user of its own")
        assert "own_user" not in found["protections"]
        assert {"user_namespace", "pid_namespace", "ipc_namespace"} <= set(found["protections"])
        if level == "bwrap":
            assert "minimal_filesystem" in found["protections"]
            # Tried, not just listed: no thread, no checkout, only its own processes.
            probes = found["probes"]
            assert probes["thread"].startswith("blocked"), probes
            assert probes["solution"].startswith("blocked"), probes
            assert probes["tests"].startswith("blocked"), probes
            assert int(probes["processes"]) <= 2, probes
    else:
        assert found["level"] == "limits"
        assert "user namespaces" in found["why"]
    assert (found["status"], found["score"]) == ("ok", found["max_score"]), found
    assert found["attack"] == ["ok", 10], found  # trying costs nothing, and earns nothing
    assert found["record_sandbox"] == found["level"]


@needs_tools
def test_unprivileged_without_user_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("turning user namespaces off for one test needs root (CI runs as root)")
    found = run_as_nobody(userns_off=True)
    assert found["uid"] == NOBODY
    assert found["level"] == "limits"
    assert found["summary"].startswith("sandbox: limits only — user namespaces are disabled here")
    assert "user namespaces are disabled here" in found["why"]
    assert "user.max_user_namespaces is 0" in found["why"]
    assert (found["status"], found["score"]) == ("ok", found["max_score"]), found
    assert found["record_sandbox"] == "limits"
    assert found["protections"] == ["no_threads", "rlimits", "timeout"]
    # What the README's threat model says of this level, seen: no minimal filesystem,
    # so the solution is readable; its limit of one process still refuses a thread.
    assert found["probes"]["solution"] == "64" and found["probes"]["thread"].startswith("blocked")
    assert found["attack"] == ["ok", 10], found


def test_a_closed_folder_holding_a_kept_tmp_folder_is_bound_with_what_is_mounted_below(
    tmp_path: Path,
) -> None:
    # A checkout in a mode-700 folder under /tmp (mktemp -d) is first kept from the
    # real /tmp as a bind mount; the closed folder above it is then covered and its
    # content bound back. A plain --bind of that folder would leave the checkout
    # behind (a bind is not recursive) and the sandbox's user would find no citylib.
    closed = tmp_path / "closed"
    checkout = closed / "course"
    checkout.mkdir(parents=True)
    closed.chmod(0o700)
    top = sandboxes._blocked(checkout)  # closed, or a closed folder above it
    assert top is not None and (top == closed or top in closed.parents)
    lines = sandboxes._reexpose([checkout])
    (bind,) = [line for line in lines if line.startswith("mount") and f" {top} /tmp/" in line]
    assert bind.startswith("mount --rbind "), lines
    assert any(line.endswith(f" {checkout}") and "mount --bind" in line for line in lines), lines
