"""200 sandboxes of every ending (normal exit, SIGKILLed command, timed out, a daemon
left running in the background, out of memory), 4 at a time: afterwards the host has
the same processes, cgroups and mounts as before.

Every command line carries a marker (the whole run's, then the sandbox's number), so
that a process left behind is found by it; the sandboxes also run under a uid range of
their own, so that one left behind without the marker (an init) is found by its uid."""

import concurrent.futures
import os
import subprocess
import time

import pytest

import sandbox_util as su

UID_BASE, UID_COUNT = 930000 + su.UID_SHIFT, 1000
PER_KIND = 40
WORKERS = 4


def _kinds(mark):
    """name -> (command for sandbox i, extra -s, expected exit code, stderr must contain)."""
    return {
        "normal": (lambda i: ["sh", "-c", f": {mark}{i:03d}; echo ok"], [], 0, None),
        "killed": (lambda i: ["sh", "-c", f"sleep 300.{mark}{i:03d} & kill -9 $$"], [], 137, None),
        "timeout": (lambda i: ["sh", "-c", f"sleep 300.{mark}{i:03d} & sleep 300.{mark}{i:03d}"],
                    ["command_timeout_s=1"], 124, "timed out"),
        "daemon": (lambda i: ["sh", "-c", f"setsid sh -c 'sleep 300.{mark}{i:03d} &'; "
                              f"(trap '' HUP TERM; sleep 300.{mark}{i:03d}) & exit 0"], [], 0, None),
        "oom": (lambda i: ["python3", "-c", f"# {mark}{i:03d}\nl = []\nwhile True: l.append(bytearray(1 << 20))"],
                ["memory_max=32M"], 137, "out of memory"),
    }


def _host_state():
    return su.agentd_cgroups(), su.mount_table()


def test_200_sandboxes_leave_nothing_behind(tmp_path):
    mark = su.marker()[:8]
    cfg = su.write_config(tmp_path / "c.json", uid_base=UID_BASE, uid_count=UID_COUNT)
    kinds = _kinds(mark)
    jobs = [(name, i) for i in range(PER_KIND) for name in kinds]          # interleaved kinds
    jobs = [(name, n) for n, (name, _) in enumerate(jobs)]
    assert len(jobs) == 200

    cgroups_before, mounts_before = _host_state()
    assert not su.processes_with(mark)
    uid_procs_before = su.processes_with_uid(UID_BASE, UID_BASE + UID_COUNT)

    def one(job):
        name, n = job
        cmd_of, sets, want_rc, want_err = kinds[name]
        args = su.sandbox_args(cmd_of(n), sets, cfg)
        t = time.monotonic()
        proc = subprocess.Popen(args, env=su.clean_env(), cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        err = err.decode("utf-8", "backslashreplace")
        su.assert_no_sanitizer_report(err)
        # the sandbox is over: nothing of it may remain, not even for a moment more
        left = {pid: c for pid, c in su.processes_with(f"{mark}{n:03d}").items() if pid != proc.pid}
        return {"name": name, "n": n, "rc": proc.returncode, "err": err, "out": out.decode(), "pid": proc.pid,
                "left": left, "secs": time.monotonic() - t}

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(one, jobs))
    elapsed = time.monotonic() - t0

    problems = []
    for r in results:
        _, _, want_rc, want_err = kinds[r["name"]]
        if r["rc"] != want_rc:
            problems.append(f"#{r['n']} {r['name']}: exit {r['rc']} (want {want_rc}): {r['err'][-300:]}")
        elif want_err and want_err not in r["err"]:
            problems.append(f"#{r['n']} {r['name']}: no {want_err!r} on stderr: {r['err'][-300:]}")
        if r["name"] == "normal" and r["out"] != "ok\n":
            problems.append(f"#{r['n']} normal: stdout {r['out']!r}")
        if "sandbox: rmdir" in r["err"]:     # the launcher says why a cgroup stayed
            problems.append(f"#{r['n']} {r['name']}: {r['err'][-300:]}")
        if r["left"]:
            problems.append(f"#{r['n']} {r['name']}: processes left right after the launcher exited: {r['left']}")
    assert not problems, "\n".join(problems[:20])

    # the host as before
    launchers = {r["pid"] for r in results}
    assert not su.processes_with(mark), su.processes_with(mark)
    assert su.processes_with_uid(UID_BASE, UID_BASE + UID_COUNT) == uid_procs_before
    cgroups_after, mounts_after = _host_state()
    ours = su.cgroups_of_launchers(launchers)
    assert not ours, f"{len(ours)} cgroups left, e.g. {sorted(ours)[:5]}"
    assert not {c for c in cgroups_after - cgroups_before
                if int(su.CGROUP_NAME_RE.match(os.path.basename(c)).group(1)) in launchers}
    assert mounts_after == mounts_before, "the host's mount table changed"
    # no bound on the time: a launcher that waited for what its sandbox left running
    # would wait 300 s and be killed at 60 (communicate), with the wrong exit status
    print(f"200 sandboxes in {elapsed:.1f} s")


def test_stale_cgroup_named_like_the_launcher_does_not_block_it():
    """A launcher that was SIGKILLed leaves agentd-<pid>-1 until another launcher sweeps
    it; the sweep skips it while a process with that pid lives. When the pid comes round
    again to a new launcher, the leftover (empty) cgroup must not stop it from running."""
    pids_dir = su.own_v1_dir("pids")
    if not su.is_root() or pids_dir is None:
        pytest.skip("needs root and a cgroup v1 pids hierarchy")
    script = 'echo $$ >&2; mkdir "$1/agentd-$$-1" || exit 99; exec "$2" sandbox run --config "$3" -- echo hi'
    p = subprocess.run(["sh", "-c", script, "sh", str(pids_dir), su.AGENTD_BIN, str(su.default_config())],
                       env=su.clean_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    err = p.stderr.decode()
    pid = int(err.split()[0])
    for d in su.cgroups_of_launchers([pid]):
        try:
            os.rmdir(d)
        except OSError:
            pass
    su.assert_no_sanitizer_report(err)
    assert p.returncode != 99, "could not make the stale cgroup"
    assert (p.returncode, p.stdout) == (0, b"hi\n"), f"exit {p.returncode}: {err}"
