"""A pure cgroup v2 host whose cgroup lacks the memory, pids and cpu controllers (systemd
without Delegate=yes, the deployment guide's troubleshooting case): `agentd sandbox run`
refuses with the missing controller, the cgroup and the fix, or, with
sandbox.allow_no_cgroup, runs the sandbox without limits and says so.

The host is played by a private mount namespace (`unshare -m`, everything made private
first so that nothing leaks out) with a fresh cgroup2 mount on /sys/fs/cgroup. The
launcher runs in a cgroup of the test's, below one whose subtree_control the test never
touches: so it has no controllers, whatever the machine."""

import os
import subprocess
import uuid

import pytest

import sandbox_util as su

# $1: the test's cgroup (a name); the rest: the launcher's command line.
# A cgroup2 mount applies its options (nsdelegate, memory_recursiveprot, ...) to the one
# hierarchy of the whole host: the new one gets those it has already.
PURE_V2 = r"""
mount --make-rprivate / || exit 90
opts=$(awk '/ - cgroup2 / { print $NF; exit }' /proc/self/mountinfo)
umount -l /sys/fs/cgroup 2>/dev/null
mount -t cgroup2 ${opts:+-o "$opts"} cgroup2 /sys/fs/cgroup || exit 90
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
top=/sys/fs/cgroup${own%/}/$1
shift
mkdir "$top" "$top/launcher" || exit 91
echo "launcher cgroup: $top/launcher" >&2
sh -c 'echo 0 > "$0/cgroup.procs" && exec "$@"' "$top/launcher" "$@"
rc=$?
for _ in $(seq 100); do rmdir "$top/launcher" "$top" 2>/dev/null; [ -d "$top" ] || break; sleep 0.05; done
exit $rc
"""


def _host_v2_mount():
    """Where the cgroup2 hierarchy is mounted on the host, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, tail = line.partition(" - ")
            if tail.split()[:1] == ["cgroup2"]:
                return fields.split()[4]
    return None


def _own_v2_path():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip().rstrip("/")
    return ""


def _cleanup(name):
    """If the script could not tidy up (killed by a timeout), do it from the host."""
    mnt = _host_v2_mount()
    if mnt is None:
        return
    top = f"{mnt}{_own_v2_path()}/{name}"
    for d in (f"{top}/launcher", top):
        if os.path.isdir(d):
            try:
                with open(f"{d}/cgroup.kill", "w") as f:
                    f.write("1")
            except OSError:
                pass
    for d in (f"{top}/launcher", top):
        su.wait_gone(lambda: os.path.isdir(d) and not _try_rmdir(d))
    assert not os.path.isdir(top), f"{top} left behind"


def _try_rmdir(d):
    try:
        os.rmdir(d)
        return True
    except OSError:
        return False


def run_pure_v2(cmd, config):
    """`agentd sandbox run` on the pretend pure v2 host; skips where cgroup2 cannot be
    mounted (not root, or no cgroup2 in this kernel)."""
    name = f"agentd-it-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    args = ["unshare", "-m", "sh", "-c", PURE_V2, "sh", name, *su.sandbox_args(cmd, config=config)]
    try:
        p = subprocess.run(args, env=su.clean_env(), cwd=str(config.parent), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=su.RUN_TIMEOUT)
    finally:
        _cleanup(name)
    if p.returncode == 90 or (p.returncode == 1 and "unshare failed" in p.stderr):
        pytest.skip(f"cannot mount cgroup2 in a private mount namespace: {p.stderr.strip()}")
    assert p.returncode != 91, p.stderr
    su.assert_no_sanitizer_report(p.stderr)
    return p, f"/sys/fs/cgroup{_own_v2_path()}/{name}/launcher"


def _says_what_is_missing_and_the_fix(stderr, cgroup):
    assert f"the memory controller is not delegated to agentd's cgroup {cgroup} " in stderr, stderr
    assert "set Delegate=yes in agentd's systemd unit, or sandbox.allow_no_cgroup" in stderr, stderr
    assert "memory.max" not in stderr and "No such file" not in stderr, stderr


def test_missing_controllers_refuse_the_sandbox_naming_them_and_the_fix(tmp_path):
    cfg = su.write_config(tmp_path / "c.json")
    p, cgroup = run_pure_v2(["sh", "-c", "echo ran"], cfg)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert "ran" not in p.stdout
    assert f"agentd: sandbox: cgroup: the memory controller" in p.stderr, p.stderr
    _says_what_is_missing_and_the_fix(p.stderr, cgroup)


def test_allow_no_cgroup_runs_the_sandbox_with_the_warning(tmp_path):
    cfg = su.write_config(tmp_path / "c.json", allow_no_cgroup=True)
    p, cgroup = run_pure_v2(["sh", "-c", "echo ran as $(id -u); grep -c . /proc/self/uid_map; "
                             "grep -E '^(CapEff|Seccomp):' /proc/self/status"], cfg)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "running WITHOUT memory, pids and CPU limits (sandbox.allow_no_cgroup)" in p.stderr, p.stderr
    _says_what_is_missing_and_the_fix(p.stderr, cgroup)
    # the rest of the isolation holds: root of its own user namespace, no capabilities, seccomp
    assert p.stdout.splitlines()[:2] == ["ran as 0", "1"], p.stdout
    assert "CapEff:\t0000000000000000" in p.stdout and "Seccomp:\t2" in p.stdout, p.stdout
