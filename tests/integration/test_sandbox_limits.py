"""The sandbox's limits, pushed past: processes, memory, workspace and /tmp size and
file count, wall-clock timeouts, CPU; the launcher's exit codes and its cleanup on
Ctrl-C; a request may only tighten the policy."""

import errno
import json
import pathlib
import signal
import subprocess
import time

import pytest

import sandbox_util as su


def _cgroup_dirs(launcher_pid):
    """controller -> the sandbox's cgroup directory (v1: one per controller)."""
    out = {}
    for d in su.cgroups_of_launchers([launcher_pid]):
        parts = pathlib.Path(d).relative_to(su.CGROUP_ROOT).parts
        out[parts[0]] = pathlib.Path(d)
    return out


# ------------------------------------------------------------ processes

FORK_BOMB = r"""
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    os.write(w, b"x")
    # the bomb: every process forks for ever
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.005)
os.close(w)
os.read(r, 1)
# watched until the cgroup has been full (32 tasks or more) for a second, however long
# the bomb takes to fill it on a loaded machine (the command's timeout ends it at worst)
peak = 0
full_since = None
while full_since is None or time.monotonic() - full_since < 1.0:
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/status") as f:
                    n += int(next(l for l in f if l.startswith("Threads:")).split()[1])
            except (OSError, StopIteration):
                pass
    peak = max(peak, n)
    if full_since is None and peak >= 32:
        full_since = time.monotonic()
print(peak, flush=True)
"""


def test_fork_bomb_stops_at_the_pids_limit_and_the_host_stays_responsive():
    mark = su.marker()
    with su.Launcher(["python3", "-c", FORK_BOMB + f"# {mark}"],
                     sets=["pids_max=64", "command_timeout_s=60"]) as l:
        # the host during the bomb (once it has started): starting a process stays fast
        assert su.poll(lambda: len(su.processes_with(mark)) >= 8, 60), "the bomb did not start"
        worst = 0.0
        pids_seen = []
        cg = _cgroup_dirs(l.pid)
        for _ in range(10):
            t = time.monotonic()
            subprocess.run(["true"], timeout=10)
            worst = max(worst, time.monotonic() - t)
            if "pids" in cg:
                try:
                    pids_seen.append(int((cg["pids"] / "pids.current").read_text()))
                except OSError:
                    pass
            time.sleep(0.1)
        rc = l.wait(timeout=90)
    assert rc == 0, l.stderr
    peak = int(l.stdout.split()[-1])
    # the watcher saw the cgroup full (init + watcher + bomb) but never above the limit
    assert 32 <= peak <= 64, f"{peak} tasks at once with pids_max=64"
    assert all(n <= 64 for n in pids_seen), pids_seen
    # an uncontained bomb leaves the host unable to fork for a long while; a loaded
    # shared machine can be slow for a moment: 5 s tells them apart
    assert worst < 5.0, f"the host took {worst:.2f} s to run true during the fork bomb"
    assert not su.wait_gone(lambda: set(su.processes_with(mark)) - {l.pid}), "fork bomb processes left behind"
    assert not su.cgroups_of_launchers([l.pid])


def _pids_max_events(d):
    """How many forks pids.max refused in the cgroup d (0 if it is gone)."""
    try:
        ev = (d / "pids.events").read_text().split()
    except OSError:
        return 0
    return int(ev[ev.index("max") + 1])


def test_shell_fork_bomb_is_contained_and_killed_at_the_timeout():
    mark = su.marker()
    t = time.monotonic()
    with su.Launcher(["sh", "-c", f"bomb() {{ bomb | bomb & }}; bomb; sleep 300.{mark}"],
                     sets=["pids_max=64", "command_timeout_s=10"]) as l:
        # until the bomb has hit pids.max (where a pids controller is there to say so)
        assert su.poll(lambda: _cgroup_dirs(l.pid) and su.processes_with(mark), 30), "the sandbox did not start"
        cg = _cgroup_dirs(l.pid)
        events = None
        if "pids" in cg:
            events = su.poll(lambda: _pids_max_events(cg["pids"]), 30) or 0
            current = int((cg["pids"] / "pids.current").read_text())
            assert current <= 64, current
        rc = l.wait(timeout=90)
    elapsed = time.monotonic() - t
    assert rc == 124, (rc, l.stderr)
    assert "timed out" in l.stderr
    assert elapsed < 90, f"{elapsed:.1f} s: the bomb was not killed at its 10 s timeout but ran on"
    if events is not None:
        assert events > 0, "the bomb never hit pids.max"
    assert not su.wait_gone(lambda: set(su.processes_with(mark)) - {l.pid})
    assert not su.cgroups_of_launchers([l.pid])


# ------------------------------------------------------------ memory

MEMORY_HOG = r"""
chunks = []
while True:
    chunks.append(bytearray(1 << 20))      # touched: bytearray zero-fills
"""


def test_memory_hog_is_oom_killed_and_reported():
    p = su.run(["python3", "-c", MEMORY_HOG], sets=["memory_max=64M"], timeout=60)
    assert p.returncode == 137, (p.returncode, p.stderr)
    assert "out of memory" in p.stderr, p.stderr
    assert "64 MiB" in p.stderr, p.stderr


def test_command_that_survives_an_oom_kill_keeps_its_exit_status():
    """Only a child was OOM-killed; the command itself went on and exited 0: the launcher
    exits with the command's status (issue 3 point 8: "exits with its status"), not 137."""
    p = su.run(["sh", "-c", 'python3 -c "$1"; echo "child $?"; exit 0', "sh", MEMORY_HOG], sets=["memory_max=64M"],
               timeout=60)
    assert "child 137" in p.stdout, (p.stdout, p.stderr)
    assert p.returncode == 0, f"the command exited 0 but the launcher exited {p.returncode}: {p.stderr}"


def test_tmpfs_counts_against_memory():
    """Files in /workspace are memory: filling it past memory_max is an OOM kill or
    ENOSPC, never more memory than the limit."""
    code = r"""
import os, sys
n = 0
try:
    with open("/workspace/f", "wb") as f:
        while n < 200:
            f.write(b"\0" * (1 << 20)); f.flush(); n += 1
except OSError as e:
    print("errno", e.errno, n); sys.exit(0)
print("wrote", n)
"""
    p = su.run(["python3", "-c", code], sets=["memory_max=48M"], timeout=60)
    assert "wrote 200" not in p.stdout, "200 MiB of tmpfs under a 48 MiB memory limit"
    assert p.returncode == 137 or "errno" in p.stdout, (p.returncode, p.stdout, p.stderr)


def test_sigkilled_command_is_not_reported_as_oom():
    p = su.run(["sh", "-c", "kill -9 $$"])
    assert p.returncode == 137
    assert "out of memory" not in p.stderr


# ------------------------------------------------------------ disk

FILL = r"""
import json, os, sys
path, limit = sys.argv[1], int(sys.argv[2])
written, err = 0, None
try:
    with open(path, "wb", buffering=0) as f:
        while written < limit:
            written += f.write(b"\1" * 65536)
except OSError as e:
    err = e.errno
print(json.dumps({"written": written, "errno": err}))
"""

MANY_FILES = r"""
import json, os, sys
d, limit = sys.argv[1], int(sys.argv[2])
n, err = 0, None
try:
    while n < limit:
        open(os.path.join(d, f"f{n}"), "x").close(); n += 1
except OSError as e:
    err = e.errno
print(json.dumps({"files": n, "errno": err}))
"""


def test_workspace_size_limit_enospc():
    p = su.run(["sh", "-c", "dd if=/dev/zero of=/workspace/dd bs=1M count=8; echo dd=$?; rm /workspace/dd; "
                "python3 -c \"$1\" /workspace/py 16777216", "sh", FILL], sets=["workspace_size=4M"])
    assert p.returncode == 0, p.stderr
    assert "No space left on device" in p.stderr, p.stderr
    assert "dd=1" in p.stdout
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["errno"] == errno.ENOSPC, res
    assert 3 << 20 <= res["written"] <= 4 << 20, res


def test_workspace_file_limit_enospc():
    p = su.run(["python3", "-c", MANY_FILES, "/workspace", "1000"], sets=["workspace_files=64"])
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["errno"] == errno.ENOSPC, res
    assert 50 <= res["files"] < 64, res


def test_tmp_has_its_own_size_and_file_limits():
    p = su.run(["sh", "-c", 'python3 -c "$1" /tmp/big 8388608; python3 -c "$2" /tmp 1000; '
                'python3 -c "$1" /workspace/big 3145728; python3 -c "$2" /workspace 100',
                "sh", FILL, MANY_FILES], sets=["tmp_size=2M", "tmp_files=40"])
    assert p.returncode == 0, p.stderr
    tmp_size, tmp_files, ws_size, ws_files = map(json.loads, p.stdout.strip().splitlines()[-4:])
    assert tmp_size["errno"] == errno.ENOSPC and tmp_size["written"] <= 2 << 20, tmp_size
    assert tmp_files["errno"] == errno.ENOSPC and tmp_files["files"] < 40, tmp_files
    # /workspace is not /tmp: its own (default) limits
    assert ws_size == {"written": 3 << 20, "errno": None}, ws_size
    assert ws_files == {"files": 100, "errno": None}, ws_files


def test_tmp_and_dev_shm_share_the_tmp_limits():
    """/tmp and /dev/shm are directories of one tmpfs (rootfs.c): tmp_size and tmp_files
    hold for the two together, not for each."""
    p = su.run(["sh", "-c", 'python3 -c "$1" /tmp/big 1572864; python3 -c "$1" /dev/shm/big 2097152; '
                'rm /tmp/big /dev/shm/big; python3 -c "$2" /tmp 30; python3 -c "$2" /dev/shm 40',
                "sh", FILL, MANY_FILES], sets=["tmp_size=2M", "tmp_files=40"])
    assert p.returncode == 0, p.stderr
    tmp_size, shm_size, tmp_files, shm_files = map(json.loads, p.stdout.strip().splitlines()[-4:])
    assert tmp_size == {"written": 1572864, "errno": None}, tmp_size
    assert shm_size["errno"] == errno.ENOSPC and shm_size["written"] <= 512 << 10, shm_size
    assert tmp_files == {"files": 30, "errno": None}, tmp_files
    assert shm_files["errno"] == errno.ENOSPC and shm_files["files"] < 10, shm_files


def test_nofile_and_core_rlimits():
    p = su.run_ok(["sh", "-c", "ulimit -n; ulimit -c"], sets=["nofile=64"])
    assert p.stdout.split() == ["64", "0"]


# ------------------------------------------------------------ time

def test_timeout_kills_the_command_and_all_its_children():
    mark = su.marker()
    t = time.monotonic()
    with su.Launcher(["sh", "-c", f"sleep 299.{mark} & setsid sleep 299.{mark} & "
                      f"(trap '' TERM HUP; sleep 299.{mark}) & sleep 299.{mark}"],
                     sets=["command_timeout_s=1"]) as l:
        rc = l.wait(timeout=90)
    elapsed = time.monotonic() - t
    assert rc == 124, (rc, l.stderr)
    assert "timed out after 1 s" in l.stderr
    assert elapsed < 60, f"{elapsed:.1f} s: killed at its 1 s timeout, not at the end of its 299 s"
    left = su.processes_with(f"299.{mark}")
    assert not left, f"left on the host after the timeout: {left}"
    assert not su.cgroups_of_launchers([l.pid])


def test_session_timeout_caps_the_command_timeout():
    t = time.monotonic()
    p = su.run(["sleep", "300"], sets=["session_timeout_s=1"])
    assert p.returncode == 124, p.stderr
    assert time.monotonic() - t < 50, "killed at its 1 s session timeout, not at the end of its 300 s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_to_the_launcher_kills_the_sandbox(sig):
    mark = su.marker()
    with su.Launcher(["sh", "-c", f"setsid sleep 300.{mark} & sleep 300.{mark}"]) as l:
        assert su.poll(lambda: len(set(su.processes_with(f"300.{mark}")) - {l.pid}) >= 3, 60), \
            "the sandbox did not start"
        assert _cgroup_dirs(l.pid)
        t = time.monotonic()
        l.proc.send_signal(sig)
        rc = l.wait(timeout=60)
    assert time.monotonic() - t < 50, "the sandbox ran on after the signal"
    if sig == signal.SIGINT:
        assert rc == 130, (rc, l.stderr)
    else:
        assert rc in (130, 128 + sig), (rc, l.stderr)
    assert not su.wait_gone(lambda: su.processes_with(f"300.{mark}")), "sandbox processes left"
    assert not su.cgroups_of_launchers([l.pid]), "cgroups left"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGQUIT])
def test_sandbox_dies_with_a_killed_launcher_and_its_cgroup_is_swept(sig):
    """A launcher killed outright cannot clean up: its sandbox dies with it (parent-death
    signal) at once, and the next launcher removes the cgroup it left."""
    mark = su.marker()
    with su.Launcher(["sh", "-c", f"setsid sleep 300.{mark} & sleep 300.{mark}"]) as l:
        assert su.poll(lambda: len(set(su.processes_with(f"300.{mark}")) - {l.pid}) >= 3, 60)
        l.proc.send_signal(sig)
        try:
            l.proc.wait(timeout=su.HOST_WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the launcher outlived signal {sig}: {su.process_report(l.pid)}") from None
    left = su.wait_gone(lambda: su.processes_with(f"300.{mark}"))
    assert not left, f"the sandbox outlived its launcher (signal {sig}): {left}"
    time.sleep(2.1)     # the sweep leaves cgroups younger than 2 s alone (cgroup.c)
    su.run_ok(["true"])
    assert not su.cgroups_of_launchers([l.pid]), "the killed launcher's cgroups were not swept"


# ------------------------------------------------------------ exit codes and refusals

@pytest.mark.parametrize("script,code", [("exit 0", 0), ("exit 3", 3), ("exit 255", 255),
                                         ("kill -TERM $$", 143), ("kill -KILL $$", 137),
                                         ("kill -SEGV $$", 139)])
def test_exit_status_is_passed_on(script, code):
    p = su.run(["sh", "-c", script])
    assert p.returncode == code, (p.returncode, p.stderr)


def test_missing_command_is_127_and_named():
    p = su.run(["agentd-no-such-command", "x"])
    assert p.returncode == 127
    assert "agentd-no-such-command" in p.stderr
    p = su.run(["/workspace/nothing-here"])
    assert p.returncode == 127
    assert "/workspace/nothing-here" in p.stderr


def test_not_executable_is_126():
    p = su.run(["/etc/passwd"])
    assert p.returncode == 126, (p.returncode, p.stderr)
    assert "/etc/passwd" in p.stderr


@pytest.mark.parametrize("kv,key", [("memory_max=2G", "memory_max"), ("pids_max=100000", "pids_max"),
                                    ("cpus=8", "cpus"), ("workspace_size=2T", "workspace_size"),
                                    ("workspace_files=10000000", "workspace_files"), ("tmp_size=100G", "tmp_size"),
                                    ("tmp_files=99999999", "tmp_files"), ("nofile=1000000", "nofile"),
                                    ("command_timeout_s=86400", "command_timeout_s"),
                                    ("session_timeout_s=604800", "session_timeout_s")])
def test_loosening_the_policy_is_refused(kv, key):
    p = su.run(["true"], sets=[kv])
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert key in p.stderr and "lowered" in p.stderr, p.stderr


@pytest.mark.parametrize("kv", ["memory_max=abc", "pids_max=-1", "pids_max=0", "uid_base=0", "binds=/:/x",
                                "env_allow=SECRET", "hostname=bad name", "hostname=", "nokey"])
def test_invalid_settings_are_refused(kv):
    p = su.run(["true"], sets=[kv])
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert kv.split("=")[0] in p.stderr, p.stderr


@pytest.mark.parametrize("kv,key", [("memory_max=1", "memory_max"), ("pids_max=1", "pids_max"),
                                    ("cpus=0.001", "cpus"), ("nofile=1", "nofile")])
def test_values_below_the_settings_minimum_are_refused(kv, key):
    """A request may tighten, but not below what the setting itself allows (the config
    refuses memory_max < 16M, pids_max < 8, cpus < 0.01, nofile < 16): refused up front
    with the key named, not a sandbox that cannot start or run."""
    p = su.run(["sh", "-c", "echo ran"], sets=[kv])
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert key in p.stderr, p.stderr


def test_stdio_is_attached():
    p = su.run(["sh", "-c", "tr a-z A-Z; echo err >&2; exit 7"], input="hello sandbox\n" * 1000)
    assert p.returncode == 7
    assert p.stdout == "HELLO SANDBOX\n" * 1000
    assert p.stderr == "err\n"


def test_lower_values_are_accepted_and_written_to_the_cgroup():
    mark = su.marker()
    with su.Launcher(["sleep", f"300.{mark}"], sets=["memory_max=64M", "pids_max=32", "cpus=0.25"]) as l:
        # the sleep itself: init carries the launcher's command line until it execs
        assert su.poll(lambda: [c for c in su.processes_with(f"300.{mark}").values() if c.startswith("sleep ")], 60)
        cg = _cgroup_dirs(l.pid)
        kids = pathlib.Path(f"/proc/{l.pid}/task/{l.pid}/children").read_text().split()
        assert len(kids) == 1
        init = kids[0]
        if "unified" in cg or len(cg) == 1:          # cgroup v2: one directory
            d = next(iter(cg.values()))
            assert int((d / "memory.max").read_text()) == 64 << 20
            assert int((d / "pids.max").read_text()) == 32
            assert (d / "cpu.max").read_text().split() == ["25000", "100000"]
            procs = (d / "cgroup.procs").read_text().split()
            assert init in procs
        else:
            assert {"memory", "pids", "cpu", "freezer"} <= set(cg), cg
            assert int((cg["memory"] / "memory.limit_in_bytes").read_text()) == 64 << 20
            memsw = cg["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                assert int(memsw.read_text()) == 64 << 20
            assert int((cg["pids"] / "pids.max").read_text()) == 32
            assert int((cg["cpu"] / "cpu.cfs_quota_us").read_text()) == 25000
            assert int((cg["cpu"] / "cpu.cfs_period_us").read_text()) == 100000
            for ctl in ("memory", "pids", "cpu", "freezer"):
                procs = (cg[ctl] / "cgroup.procs").read_text().split()
                assert init in procs, (ctl, procs)
                assert len(procs) == 2, (ctl, procs)          # init and sleep
            # the sandbox lives under the launcher's own cgroup
            own = dict(line.split(":", 2)[1:] for line in pathlib.Path(f"/proc/{l.pid}/cgroup").read_text().splitlines())
            for ctl in ("memory", "pids"):
                path = next(v for k, v in own.items() if ctl in k.split(","))
                assert str(cg[ctl]).endswith(path.rstrip("/") + "/" + cg[ctl].name), (ctl, path, cg[ctl])


def test_cpu_quota_is_enforced():
    """A busy loop for 1.5 s of wall-clock time with cpus=0.2 gets about 0.3 s of CPU."""
    code = r"""
import time
w0, c0 = time.monotonic(), time.process_time()
while time.monotonic() - w0 < 1.5:
    pass
print(time.process_time() - c0, time.monotonic() - w0)
"""
    p = su.run(["python3", "-c", code], sets=["cpus=0.2"])
    assert p.returncode == 0, p.stderr
    cpu, wall = map(float, p.stdout.split())
    assert 0.05 < cpu <= 0.5, f"{cpu:.2f} s of CPU in {wall:.2f} s with cpus=0.2"
