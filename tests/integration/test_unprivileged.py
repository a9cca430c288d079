"""agentd as an ordinary user (nobody): the self-check and the sandbox say what they can
and cannot do, and without a cgroup sandboxes start only when the policy allows it."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import AGENTD_BIN, Daemon, clean_env

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing"),
]


@pytest.fixture
def shared_dir():
    """A directory nobody can read (pytest's tmp_path is root's alone)."""
    d = tempfile.mkdtemp(prefix="agentd-unpriv-")
    os.chmod(d, 0o755)
    state = os.path.join(d, "state")
    os.mkdir(state)
    os.chown(state, NOBODY, NOBODY)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def sandbox_run(config, *cmd):
    return subprocess.run([*AS_NOBODY, AGENTD_BIN, "sandbox", "run", "--config", config, "--", *cmd],
                          capture_output=True, text=True, timeout=30, env=clean_env(), cwd="/")


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    os.chmod(path, 0o644)
    return path


def test_sandbox_without_cgroup_is_refused_with_the_reason(shared_dir):
    r = sandbox_run(write(os.path.join(shared_dir, "c.json"), {}), "true")
    assert r.returncode == 125, r
    assert "cgroup: mkdir" in r.stderr and "EACCES" in r.stderr
    assert "allow_no_cgroup" not in r.stdout


def test_sandbox_without_cgroup_runs_when_allowed_and_maps_root_to_the_caller(shared_dir):
    cfg = write(os.path.join(shared_dir, "c.json"), {"sandbox": {"allow_no_cgroup": True}})
    r = sandbox_run(cfg, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; "
                    "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status")
    assert r.returncode == 0, r
    assert "WITHOUT memory, pids and CPU limits" in r.stderr
    maps = [line.split() for line in r.stdout.splitlines()[:2]]
    assert maps == [["0", str(NOBODY), "1"], ["0", str(NOBODY), "1"]]
    assert "CapEff:\t0000000000000000" in r.stdout
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout


@pytest.mark.parametrize("allow", [False, True])
def test_health_reports_missing_limits(shared_dir, allow):
    d = Daemon(os.path.join(shared_dir, f"d{int(allow)}"),
               settings={"state_dir": os.path.join(shared_dir, "state"),
                         "sandbox": {"allow_no_cgroup": allow}},
               prefix=AS_NOBODY)
    os.chmod(d.workdir, 0o755)
    os.chmod(d.config_path, 0o644)
    for root, dirs, files in os.walk(d.static_dir):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    d.start()
    try:
        sb = d.health()["sandbox"]
        assert sb["limits"] is False
        assert sb["cgroup"]["writable"] == []
        assert sb["namespaces"]["user"] is True     # an ordinary user may still make them
        if allow:
            assert sb["ready"] is True and "WITHOUT" in sb["warning"]
        else:
            assert sb["ready"] is False and "cgroup controller" in sb["reason"]
    finally:
        d.stop()
    d.assert_clean_exit()


def test_usr_overlay_needs_root_and_says_so(shared_dir):
    """The writable /usr needs an idmapped copy of the host's /usr, which only a
    privileged agentd can make: unprivileged, the sandbox refuses with the reason."""
    cfg = write(os.path.join(shared_dir, "c.json"), {"sandbox": {"allow_no_cgroup": True, "usr_overlay": True}})
    r = sandbox_run(cfg, "touch", "/usr/local/x")
    assert r.returncode == 125, r
    assert "rootfs:" in r.stderr and "/usr" in r.stderr
    assert "sandbox.usr_overlay needs agentd to run as root" in r.stderr
