"""GET /api/health: liveness, version, uptime and the sandbox self-check, compared with
what this host actually allows."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import run_agentd

NAMESPACES = ("user", "pid", "mount", "net", "ipc", "uts", "cgroup")
CONTROLLERS = ("memory", "pids", "cpu", "freezer")

# Run in a fresh single-threaded interpreter: a user namespace first, then each other
# namespace inside it (as the sandbox does), each attempt in its own child.
NS_PROBE = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
flags = {"user": 0x10000000, "pid": 0x20000000, "mount": 0x00020000, "net": 0x40000000,
         "ipc": 0x08000000, "uts": 0x04000000, "cgroup": 0x02000000}
out = {}
for name, flag in flags.items():
    pid = os.fork()
    if pid == 0:
        ok = libc.unshare(flags["user"]) == 0 and (name == "user" or libc.unshare(flag) == 0)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    out[name] = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
print(json.dumps(out))
"""


def host_namespaces():
    p = subprocess.run([sys.executable, "-c", NS_PROBE], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def host_seccomp_possible():
    """The kernel has seccomp filters (a "Seccomp:" line and an actions list)."""
    try:
        with open("/proc/self/status") as f:
            status = f.read()
    except OSError:
        return False
    return "Seccomp:" in status and os.path.exists("/proc/sys/kernel/seccomp/actions_avail")


def host_cgroup():
    """("v1"|"v2"|"none", controllers among CONTROLLERS this process is in)."""
    v1, v2_mount = set(), None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3:
                continue
            if rfields[0] == "cgroup2" and v2_mount is None:
                v2_mount = fields[4]
            elif rfields[0] == "cgroup":
                v1.update(o for o in rfields[2].split(",") if o in CONTROLLERS)
    mine = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                mine.update(parts[1].split(","))
    v1 &= mine
    if v1:
        return "v1", v1
    if v2_mount is not None:
        own = next((l.split(":", 2)[2].strip() for l in open("/proc/self/cgroup") if l.startswith("0::")), "/")
        try:
            with open(os.path.join(v2_mount, own.lstrip("/"), "cgroup.controllers")) as f:
                ctls = set(f.read().split())
        except OSError:
            ctls = set()
        return "v2", (ctls & set(CONTROLLERS)) | {"freezer"}
    return "none", set()


@pytest.fixture(scope="module")
def host():
    version, ctls = host_cgroup()
    return {"namespaces": host_namespaces(), "seccomp": host_seccomp_possible(),
            "cgroup_version": version, "cgroup_controllers": ctls, "root": os.geteuid() == 0}


def test_health_shape(daemon):
    r = daemon.get("/api/health")
    assert r.status == 200, r
    assert r.header("Content-Type", "").startswith("application/json")
    h = r.json()
    assert isinstance(h["status"], str) and h["status"]
    version = run_agentd(["--version"]).stdout.split()[-1]
    assert h["version"] == version
    assert isinstance(h["uptime_s"], (int, float)) and not isinstance(h["uptime_s"], bool)
    assert 0 <= h["uptime_s"] < 60

    sb = h["sandbox"]
    assert isinstance(sb["ready"], bool)
    assert set(NAMESPACES) <= set(sb["namespaces"]), sb
    for ns in NAMESPACES:
        assert isinstance(sb["namespaces"][ns], bool), sb
    assert isinstance(sb["seccomp"]["available"], bool)
    assert sb["cgroup"]["version"] in ("v1", "v2", "none")
    ctls = sb["cgroup"]["controllers"]
    assert isinstance(ctls, list) and all(isinstance(c, str) for c in ctls)
    if not sb["ready"]:
        assert h["status"] != "ok"
    assert h["auth"] == {"token_required": False}, h      # no token, on loopback


def test_health_matches_host(daemon, host):
    sb = daemon.health()["sandbox"]
    for ns in NAMESPACES:
        assert sb["namespaces"][ns] == host["namespaces"][ns], (ns, sb["namespaces"], host["namespaces"])
    assert sb["seccomp"]["available"] == host["seccomp"]
    assert sb["cgroup"]["version"] == host["cgroup_version"]
    assert host["cgroup_controllers"] <= set(sb["cgroup"]["controllers"]), (sb["cgroup"], host)
    if host["cgroup_version"] == "none":
        assert sb["ready"] is False


def test_health_on_a_capable_host(daemon, host):
    """On the CI machine (root, namespaces and seccomp usable, a cgroup hierarchy) the
    self-check reports everything available."""
    if not (host["root"] and all(host["namespaces"].values()) and host["seccomp"]
            and host["cgroup_version"] != "none"):
        pytest.skip("this host cannot run sandboxes: %r" % host)
    h = daemon.health()
    sb = h["sandbox"]
    assert all(sb["namespaces"][ns] for ns in NAMESPACES), sb
    assert sb["seccomp"]["available"] is True
    assert sb["cgroup"]["version"] != "none"
    assert sb["ready"] is True, sb
    assert h["status"] == "ok"


def test_uptime_grows(daemon):
    first = daemon.health()["uptime_s"]
    time.sleep(1.1)
    assert daemon.health()["uptime_s"] > first


def test_health_head(daemon):
    r = daemon.request("HEAD", "/api/health")
    assert r.status == 200
    assert r.body == b""


def test_health_reports_api_key_without_revealing_it(daemon_factory):
    secret = "sk-ant-health-SECRET-42"
    d = daemon_factory(env={"ANTHROPIC_API_KEY": secret})
    r = d.get("/api/health")
    assert r.json()["anthropic"]["api_key_configured"] is True
    assert secret.encode() not in r.body
    assert secret not in d.stderr

