"""Helpers for the sandbox tests (test_sandbox_*.py): run `agentd sandbox run` with a
config file written for the test, find what a sandbox leaves on the host (processes,
cgroups, mounts).

Every run gets a timeout, a clean environment (conftest.clean_env: PATH and the
sanitizer knobs, plus what the test adds), an empty working directory (so that no .env
is read) and an explicit --config (so that no /etc/agentd/agentd.json is read); its
stderr must hold no sanitizer report.
"""

import atexit
import glob
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from conftest import AGENTD_BIN, assert_no_sanitizer_report, clean_env, poll  # noqa: F401 (re-exported)
from procfs import children  # noqa: F401 (re-exported)

# Generous: the ASan build is slower and the machine has 2 cores.
RUN_TIMEOUT = 60

# An empty directory to run the launcher in: no .env there.
_WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix="agentd-sbx-cwd-"))
atexit.register(shutil.rmtree, _WORKDIR, True)

# Test runs that share the host (make test runs two flavours side by side) keep their
# sandboxes on uids of their own: every fixed uid range of a test is moved by this.
UID_SHIFT = int(os.environ.get("AGENTD_TEST_UID_SHIFT", "0"))

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
CGROUP_NAME_RE = re.compile(r"^agentd-(\d+)-(\d+)$")


def is_root():
    return os.geteuid() == 0


def marker():
    """A unique string of digits: usable as a `sleep` argument's fraction and findable
    in a process's command line."""
    return str(uuid.uuid4().int)[:12]


def write_config(path, **sandbox):
    """A settings file holding {"sandbox": {...}}; returns its path."""
    path = pathlib.Path(path)
    path.write_text(json.dumps({"sandbox": sandbox}, indent=2))
    return path


_default_config = None


def default_config():
    global _default_config
    if _default_config is None:
        _default_config = write_config(_WORKDIR / "default.json")
    return _default_config


def sandbox_args(cmd, sets=(), config=None):
    args = [AGENTD_BIN, "sandbox", "run", "--config", str(config or default_config())]
    for s in sets:
        args += ["-s", s]
    return args + ["--", *cmd]


def run(cmd, sets=(), config=None, env=None, input=None, timeout=RUN_TIMEOUT, cwd=None, pass_fds=(),
        check_sanitizer=True):
    """`agentd sandbox run` to completion: CompletedProcess with text stdout and stderr."""
    args = sandbox_args(cmd, sets, config)
    p = subprocess.run(args, env=clean_env(env), cwd=str(cwd or _WORKDIR),
                       stdin=subprocess.DEVNULL if input is None else None,
                       input=None if input is None else input.encode(),
                       capture_output=True, timeout=timeout, pass_fds=pass_fds, close_fds=True)
    p.stdout = p.stdout.decode("utf-8", "backslashreplace")
    p.stderr = p.stderr.decode("utf-8", "backslashreplace")
    if check_sanitizer:
        assert_no_sanitizer_report(p.stderr)
    return p


def run_ok(cmd, **kw):
    p = run(cmd, **kw)
    assert p.returncode == 0, f"{cmd!r} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def py(code, **kw):
    """Run Python code inside a sandbox (python3 from the host's read-only /usr)."""
    return run(["python3", "-c", code], **kw)


def py_json(code, **kw):
    """Run Python code that prints one JSON document as its last line; return it."""
    p = py(code, **kw)
    assert p.returncode == 0, f"exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def _no_core_dumps():
    # tests kill launchers with SIGQUIT: no core file, whatever the caller's ulimit; and
    # the signals at their defaults, whatever the caller's: a test suite started in the
    # background by a shell without job control inherits SIGINT and SIGQUIT ignored
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class Launcher:
    """A launcher in the background (Popen), for tests that look at the host while the
    sandbox runs or signal the launcher. Always stopped at exit of the with-block."""

    def __init__(self, cmd, sets=(), config=None, env=None):
        self.args = sandbox_args(cmd, sets, config)
        self.proc = subprocess.Popen(self.args, env=clean_env(env), cwd=str(_WORKDIR),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=_no_core_dumps)
        self.stdout = self.stderr = None

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        return self

    def wait(self, timeout=RUN_TIMEOUT):
        out, err = self.proc.communicate(timeout=timeout)
        self.stdout = out.decode("utf-8", "backslashreplace")
        self.stderr = err.decode("utf-8", "backslashreplace")
        assert_no_sanitizer_report(self.stderr)
        return self.proc.returncode

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            # SIGTERM lets the launcher tear the sandbox down; SIGKILL only if it will not
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate(timeout=10)
        return False


# ------------------------------------------------------------------ the host's view

def host_processes():
    """{pid: (cmdline as text, real uid)} of every process on the host."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{d}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        procs[int(d)] = (cmd, uid)
    return procs


def processes_with(text):
    """pid -> cmdline of every host process whose command line contains text (not us)."""
    me = os.getpid()
    return {pid: cmd for pid, (cmd, _) in host_processes().items() if text in cmd and pid != me}


def processes_with_uid(lo, hi):
    """pid -> (cmdline, uid) of every host process whose real uid is in [lo, hi)."""
    return {pid: v for pid, v in host_processes().items() if lo <= v[1] < hi}


# How long a poll for the host to change (a process to show or to go, a cgroup to be
# removed) waits before it gives up: generous, for ASan builds on a loaded 2-core
# machine; a poll returns as soon as its condition holds, so passing runs never wait it.
HOST_WAIT = 60


def wait_for_process(text, timeout=HOST_WAIT):
    return poll(lambda: processes_with(text), timeout)


def agentd_cgroups():
    """Every directory named agentd-<pid>-<n> in every cgroup hierarchy on the host."""
    found = set()
    if not CGROUP_ROOT.is_dir():
        return found
    for top, dirs, _files in os.walk(CGROUP_ROOT):
        for d in dirs:
            if CGROUP_NAME_RE.match(d):
                found.add(os.path.join(top, d))
    return found


def process_report(pid):
    """What the kernel says of a process that does not end: its state, signal masks,
    where it waits (wchan, kernel stack) and its cgroups; for a failing test's message."""
    out = {}
    for name in ("status", "wchan", "stack", "cgroup"):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                text = f.read()
        except OSError as e:
            text = f"({e})"
        if name == "status":
            text = "; ".join(line for line in text.splitlines()
                             if line.split(":")[0] in ("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))
        out[name] = text.strip()
    return out


def own_v1_dir(controller):
    """Our own cgroup directory of a v1 controller (a launcher we start inherits it)."""
    for line in open("/proc/self/cgroup").read().splitlines():
        _, ctls, path = line.split(":", 2)
        if controller in ctls.split(","):
            d = CGROUP_ROOT / controller / path.lstrip("/")
            return d if d.is_dir() else None
    return None


def creator_pid(cgroup):
    """The host pid of the process that made an agentd-<pid>-<n> cgroup."""
    return int(CGROUP_NAME_RE.match(os.path.basename(cgroup)).group(1))


def cgroups_of_launchers(pids):
    """The agentd-* cgroup directories that launchers with these host pids made."""
    pids = {int(p) for p in pids}
    return {c for c in agentd_cgroups() if creator_pid(c) in pids}


_WORKSPACE_MOUNT = re.compile(r"/sessions/sess_[0-9a-f]+(?:\.[a-z0-9-]+)?/workspace$")


def mount_table(mine=None):
    """The host's mounts, but the session workspaces of agentds (on disk, one mount each)
    other than those under mine: other test runs share the host and make theirs."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    keep = [ln for ln in lines
            if not _WORKSPACE_MOUNT.search(ln.split()[4]) or (mine and ln.split()[4].startswith(mine + "/"))]
    return "\n".join(keep) + "\n"


def loop_devices(under):
    """Loop devices whose backing file is under the directory under: {device: file}."""
    out = {}
    for dev in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(dev) as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(under + "/"):
            out[dev.split("/")[3]] = backing
    return out


def in_sandbox_of(marker, path):
    """path inside the sandbox of the process whose command line holds marker, as the
    host reaches it (/proc/PID/root/...); None while there is no such process."""
    pids = processes_with(marker)
    return f"/proc/{min(pids)}/root{path}" if pids else None


def write_fifo(path, data="go\n", timeout=HOST_WAIT):
    """Write data into the fifo at path (a callable: the path, or None while unknown)
    once a reader has it open: a command in a sandbox that waits for the test to let it
    go on. False if no reader came within timeout."""
    def opened():
        p = path() if callable(path) else path
        try:
            return [os.open(p, os.O_WRONLY | os.O_NONBLOCK)] if p else None
        except OSError:              # ENXIO: no reader yet; ENOENT: not made yet
            return None
    fd = poll(opened, timeout)
    if fd is None:
        return False
    with os.fdopen(fd[0], "w") as f:
        f.write(data)
    return True


def wait_gone(pred, timeout=HOST_WAIT):
    """Poll until pred() is falsy; return its last value (falsy when gone)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if not v or time.monotonic() >= deadline:
            return v
        time.sleep(0.05)


def parse_status(text):
    """/proc/PID/status text -> {field: value}."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out
