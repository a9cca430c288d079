"""Sessions at the host's hard limits: agentd refuses the next one with a 503, Retry-After
and a message naming the limit and its value, keeps serving, keeps the sessions it has,
and takes a new one once one has gone. The limits are made small for the test's agentd
alone: its RLIMIT_NOFILE lowered (prlimit) once it has started, a v1 pids cgroup of its
own with a low pids.max."""

import os
import resource
import signal
import subprocess

import pytest

import sandbox_util as su
from chat_util import chat_env, chat_settings, finish, mock  # noqa: F401
from conftest import poll

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes need root here")

MANY = 200      # far more sessions than the limits set here let in


def open_fds(pid):
    return os.stat(f"/proc/{pid}/fd").st_size


def create_until_refused(d):
    """Long-running sessions, each ready before the next, until a 503: (ids, the 503)."""
    made = []
    for _ in range(MANY):
        r = d.post_json("/api/sessions", {"pattern": "long-running"}, timeout=30)
        if r.status != 201:
            return made, r
        sid = r.json()["id"]
        made.append(sid)
        assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "ready", su.HOST_WAIT), \
            d.get(f"/api/sessions/{sid}").json()
    return made, None


def still_works(d, made, refused, limit_words):
    """The refusal's form, then: agentd serves, its sessions run, and one deleted lets a
    new one in."""
    assert refused is not None and refused.status == 503, refused
    assert refused.header("Retry-After"), refused
    msg = refused.json()["error"]["message"]
    assert all(w in msg for w in limit_words), msg
    assert made, f"not one session before the limit: {msg}"
    assert d.get("/api/health").status == 200
    out = d.post_json(f"/api/sessions/{made[0]}/exec", {"command": "echo still here"}, timeout=60)
    assert out.status == 200 and "still here" in out.json()["output"], out
    assert d.request("DELETE", f"/api/sessions/{made.pop()}").status == 200
    r = poll(lambda: (lambda r: r if r.status == 201 else None)(
        d.post_json("/api/sessions", {"pattern": "long-running"}, timeout=30)), su.HOST_WAIT)
    assert r is not None, "no session once one was deleted"
    made.append(r.json()["id"])
    for sid in made:
        assert d.request("DELETE", f"/api/sessions/{sid}").status == 200


def test_rlimit_nofile_is_a_503_naming_it(daemon_factory, mock):
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_POOL_SIZE="0"))
    pid = d.proc.pid
    # about five sessions' worth past what agentd keeps free, on top of what it has open
    limit = open_fds(pid) + 64 + 4 + 5
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    made, refused = create_until_refused(d)
    still_works(d, made, refused, ["RLIMIT_NOFILE", f"({limit})"])
    finish(d, mock)


@pytest.fixture
def pids_cgroup():
    """A v1 pids cgroup of the test's own (named not to look like agentd's), removed after."""
    base = "/sys/fs/cgroup/pids"
    if not os.path.exists(f"{base}/pids.current") and not os.path.isdir(base):
        pytest.skip("no v1 pids controller here")
    with open("/proc/self/cgroup") as f:
        own = next(line.rstrip("\n").split(":", 2)[2] for line in f if line.split(":")[1] == "pids")
    path = f"{base}{own.rstrip('/')}/test-pids-limit-{os.getpid()}"
    os.mkdir(path)
    yield path
    def empty():
        with open(f"{path}/cgroup.procs") as f:
            return f.read().strip() == ""
    for line in open(f"{path}/cgroup.procs").read().split():
        os.kill(int(line), signal.SIGKILL)
    poll(empty, su.HOST_WAIT)
    subprocess.run(["find", path, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"], capture_output=True)


def test_a_pids_max_is_a_503_naming_it(pids_cgroup, daemon_factory, mock):
    join = ["sh", "-c", f'echo $$ > {pids_cgroup}/cgroup.procs && exec "$@"', "sh"]
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_POOL_SIZE="0"), prefix=join)
    with open(f"{pids_cgroup}/pids.current") as f:
        base = int(f.read())
    # agentd keeps room for one session's 12 tasks; idle sessions take 3 (4 with a shell)
    limit = base + 12 + 8
    with open(f"{pids_cgroup}/pids.max", "w") as f:
        f.write(str(limit))
    made, refused = create_until_refused(d)
    still_works(d, made, refused, ["pids.max", f"({limit})", pids_cgroup])
    finish(d, mock)
