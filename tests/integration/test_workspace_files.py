"""A suspended session's files, reached without resuming it: GET, PUT and DELETE of
/api/sessions/{id}/files are done by the gateway on the host's side of the workspace
(on disk), with no sandbox, no model call, and the session still suspended afterwards;
the replies and errors are those the agent gives a running session.

The tree is the sandbox's and the gateway is root, so the hostile cases matter most:
a symlink out of the workspace (to /etc/passwd, to a host file beside the state
directory) is neither read nor written through, a FIFO does not hold the gateway up, a
device node is not opened, a host file the sandbox cannot read cannot be read here
either, and what PUT makes belongs to the sandbox's root, within its limits."""

import hashlib
import os
import stat
import subprocess
import time
from contextlib import contextmanager

from chat_util import finish, mock, sandbox_processes  # noqa: F401
from conftest import assert_json_error
from test_hybrid_suspend import CHAT_TIMEOUT, exec_, hybrid, resume_and_check, state_of, suspend, turn, wait_state
from test_hybrid_suspend import start as start_with_store


def start(daemon_factory, mock, workdir=None, **env):
    """A daemon whose workspaces are on the host's disk (the best store this host has:
    quota or loop, as root), which a suspended session keeps in place."""
    d = start_with_store(daemon_factory, mock, workdir=workdir, store="auto", **env)
    store = d.get("/api/health").json()["workspaces"]["store"]
    assert store in ("quota", "loop"), store
    return d


def suspended(d, sid):
    if state_of(d, sid) == "creating":                      # no turn yet: its sandbox first
        wait_state(d, sid, "ready")
    r = suspend(d, sid)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    assert state_of(d, sid) == "suspended"


def files(d, sid, path, method="GET", body=None, headers=None, timeout=CHAT_TIMEOUT):
    return d.request(method, f"/api/sessions/{sid}/files/{path}", body=body, headers=headers, timeout=timeout)


def workspace(d, sid, workdir=None):
    return os.path.join(workdir or d.workdir, "state", "sessions", sid, "workspace")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def names(r):
    assert r.status == 200, r
    return {e["name"]: e["type"] for e in r.json()["entries"]}


def mounted(d, sid, workdir=None):
    ws = workspace(d, sid, workdir)
    return any(line.split()[1] == ws for line in open("/proc/self/mounts"))


@contextmanager
def on_host(d, sid):
    """The suspended session's workspace as the host's root sees it: its image mounted
    for the test (the loop store; the quota store's is a plain directory)."""
    ws = workspace(d, sid)
    image = ws + ".img"
    if not os.path.exists(image) or mounted(d, sid):
        yield ws
        return
    subprocess.run(["mount", "-o", "loop,nodev,nosuid", image, ws], check=True)
    try:
        yield ws
    finally:
        subprocess.run(["umount", ws], check=True)


def assert_still_suspended(d, sid, mock, calls_before, workdir=None):
    """As a suspended session is: no sandbox, no model call since, no mount of its
    workspace left on the host (the file ops let go of theirs)."""
    assert state_of(d, sid) == "suspended"
    assert len(mock.requests) == calls_before, "a model call was made"
    assert not sandbox_processes(d.proc.pid), "a sandbox was started"
    assert not mounted(d, sid, workdir), "the workspace is still mounted"


def test_files_of_a_suspended_session_round_trip_without_a_resume(daemon_factory, mock):
    d = start(daemon_factory, mock)
    sid = hybrid(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    exec_(d, sid, "printf 'the report\\n' > report.txt && mkdir -p out")
    suspended(d, sid)
    before = len(mock.requests)

    r = files(d, sid, "report.txt")                         # made by exec, downloaded now
    assert r.status == 200 and r.body == b"the report\n", r
    blob = os.urandom(300_000)
    r = files(d, sid, "up/deep/data.bin", "PUT", blob)      # its directories made too
    assert r.status == 200 and r.json()["size"] == len(blob), r
    r = files(d, sid, "up/deep/data.bin")
    assert r.status == 200 and sha(r.body) == sha(blob), r
    r = files(d, sid, "/workspace/up/deep/data.bin")        # as the agent takes it: absolute below /workspace
    assert r.status == 200 and sha(r.body) == sha(blob), r
    assert names(files(d, sid, "")) == {"report.txt": "file", "out": "dir", "up": "dir"}
    assert names(files(d, sid, "up/deep/")) == {"data.bin": "file"}
    assert files(d, sid, "report.txt", "DELETE").status == 200
    assert_json_error(files(d, sid, "report.txt"), 404)
    assert_json_error(files(d, sid, "report.txt", "DELETE"), 404)
    assert_json_error(files(d, sid, "nothing/here/"), 404)
    assert_json_error(files(d, sid, "up"), 400)             # a directory where a file is expected
    assert files(d, sid, "out", "DELETE").status == 200     # a directory, with what it holds
    assert_still_suspended(d, sid, mock, before)

    # what PUT made is the sandbox's root's, not the host's root's
    with on_host(d, sid) as ws:
        owner = os.stat(ws).st_uid
        assert owner != 0
        for p in ("up", "up/deep", "up/deep/data.bin"):
            st = os.stat(os.path.join(ws, p))
            assert (st.st_uid, st.st_gid) == (owner, owner), (p, st)
        assert not [n for n in os.listdir(os.path.join(ws, "up/deep")) if n.startswith(".agentd-write")]

    # back in a sandbox: there, readable and writable by the session
    resume_and_check(d, sid, mock, {"up/deep/data.bin": blob})
    assert exec_(d, sid, "echo more >> up/deep/data.bin && touch up/deep/new && rm -r up && echo ok") == "ok\n"
    finish(d, mock)


def test_files_of_a_suspended_session_after_a_restart(daemon_factory, mock, tmp_path):
    """agentd stopped and started: the sessions come back suspended, their workspace
    images not mounted: a file op mounts one (and lets it go after). The second is
    mounted by the file thread after it worked as the first's owner: it is root again."""
    workdir = str(tmp_path / "d")
    d = start(daemon_factory, mock, workdir=workdir)
    sid = hybrid(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    exec_(d, sid, "printf 'before the stop\\n' > kept.txt")
    other = hybrid(d)
    assert files(d, other, "other.txt", "PUT", b"the other's\n").status == 200
    d.stop()
    assert not mounted(d, sid, workdir) and not mounted(d, other, workdir)
    d2 = start(daemon_factory, mock, workdir=workdir)
    assert state_of(d2, sid) == "suspended" and state_of(d2, other) == "suspended"
    before = len(mock.requests)
    r = files(d2, sid, "kept.txt")
    assert r.status == 200 and r.body == b"before the stop\n", r
    r = files(d2, other, "other.txt")
    assert r.status == 200 and r.body == b"the other's\n", r
    assert files(d2, sid, "added.txt", "PUT", b"added while suspended\n").status == 200
    assert names(files(d2, sid, "")) == {"kept.txt": "file", "added.txt": "file"}
    assert_still_suspended(d2, sid, mock, before, workdir)
    assert not mounted(d2, other, workdir)
    resume_and_check(d2, sid, mock, {"kept.txt": b"before the stop\n", "added.txt": b"added while suspended\n"})
    finish(d2, mock)


def test_the_workspace_limits_hold_for_uploads(daemon_factory, mock):
    d = start(daemon_factory, mock)
    sid = hybrid(d, policy={"workspace_size": "2M", "workspace_files": 16})
    suspended(d, sid)
    r = files(d, sid, "big.bin", "PUT", os.urandom(3 << 20))
    assert_json_error(r, 400)
    assert "space" in r.json()["error"]["message"] or "quota" in r.json()["error"]["message"], r.json()
    assert names(files(d, sid, "")) == {}                   # no temporary file left behind
    made = 0
    for i in range(64):                                     # the file limit: a few inodes, not 64
        r = files(d, sid, f"f{i}", "PUT", b"x")
        if r.status != 200:
            assert_json_error(r, 400)
            break
        made += 1
    assert 0 < made < 64, made
    for i in range(made):
        assert files(d, sid, f"f{i}", "DELETE").status == 200
    assert state_of(d, sid) == "suspended"
    assert files(d, sid, "small.txt", "PUT", b"small\n").status == 200
    resume_and_check(d, sid, mock, {"small.txt": b"small\n"})
    finish(d, mock)


def test_hostile_trees_do_not_reach_the_host(daemon_factory, mock, tmp_path):
    d = start(daemon_factory, mock)
    secret = tmp_path / "host-secret.txt"                   # beside the state directory
    secret.write_bytes(b"host secret\n")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    passwd = open("/etc/passwd", "rb").read()
    sid = hybrid(d)
    ws = workspace(d, sid)
    up = os.path.relpath(str(tmp_path), ws)                 # ../../../.. from the workspace to tmp_path
    exec_(d, sid, " && ".join([
        "ln -s /etc/passwd passwd",
        f"ln -s {up}/host-secret.txt secret",               # relative, climbing out
        f"ln -s {secret} secret_abs",
        f"ln -s {host_dir} outdir",
        "ln -s / root",
        "mkfifo fifo",
        "echo mine > locked.txt && chmod 000 locked.txt",
    ]))
    suspended(d, sid)
    # made on the host, where the sandbox cannot: a device node, a root-only file and directory
    with on_host(d, sid) as w:
        os.mknod(os.path.join(w, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        with open(os.path.join(w, "root-only.txt"), "wb") as f:
            f.write(b"root only\n")
        os.chmod(os.path.join(w, "root-only.txt"), 0o600)
        os.mkdir(os.path.join(w, "root-dir"), 0o755)
    before = len(mock.requests)

    for path in ("passwd", "secret", "secret_abs", "root/etc/passwd", f"outdir/../{secret.name}"):
        r = files(d, sid, path)
        assert r.status in (400, 404), (path, r)
        assert b"host secret" not in r.body and b"root:" not in r.body, path
    assert_json_error(files(d, sid, "outdir/"), 400)        # listing through the link: refused
    t0 = time.monotonic()
    assert_json_error(files(d, sid, "fifo", timeout=10), 400)
    assert time.monotonic() - t0 < 5
    assert_json_error(files(d, sid, "null"), 400)
    assert_json_error(files(d, sid, "locked.txt"), 400)     # the sandbox's own permission checks
    assert_json_error(files(d, sid, "root-only.txt"), 400)  # the host's root may; the sandbox's may not
    assert_json_error(files(d, sid, "root-dir/x.txt", "PUT", b"x"), 400)

    # writes replace a link, never go through it
    for path in ("outdir/x.txt", "root/etc/agentd-test-pwned", "root/tmp/agentd-test-pwned"):
        assert_json_error(files(d, sid, path, "PUT", b"pwned\n"), 400)
    assert files(d, sid, "passwd", "PUT", b"replaced\n").status == 200
    assert files(d, sid, "secret", "PUT", b"replaced\n").status == 200
    assert open("/etc/passwd", "rb").read() == passwd
    assert secret.read_bytes() == b"host secret\n"
    assert not os.listdir(host_dir)
    assert not os.path.exists("/etc/agentd-test-pwned") and not os.path.exists("/tmp/agentd-test-pwned")
    with on_host(d, sid) as w:
        assert os.path.isfile(os.path.join(w, "passwd")) and not os.path.islink(os.path.join(w, "passwd"))
        assert not os.listdir(os.path.join(w, "root-dir"))
    # deletes remove the link, not what it names
    for path in ("secret_abs", "outdir", "root"):
        assert files(d, sid, path, "DELETE").status == 200, path
    assert_json_error(files(d, sid, "root-dir/../../x", "DELETE"), 400)
    assert secret.read_bytes() == b"host secret\n" and host_dir.is_dir() and os.path.isdir("/etc")
    assert names(files(d, sid, "")) == {"passwd": "file", "secret": "file", "fifo": "other", "null": "other",
                                        "locked.txt": "file", "root-only.txt": "file", "root-dir": "dir"}
    assert_still_suspended(d, sid, mock, before)
    finish(d, mock)


def test_another_tokens_suspended_session_is_not_found(daemon_factory, mock):
    a, b = "token-a-0123456789abcdef", "token-b-fedcba9876543210"
    d = start(daemon_factory, mock, AGENTD_TOKENS=f"{a},{b}")
    r = d.post_json("/api/sessions", {"pattern": "hybrid"}, headers={"Authorization": f"Bearer {a}"})
    assert r.status == 201, r
    sid = r.json()["id"]
    auth_a, auth_b = {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}
    assert files(d, sid, "mine.txt", "PUT", b"a's\n", headers=auth_a).status == 200
    r = d.request("POST", f"/api/sessions/{sid}/suspend", headers=auth_a, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    assert_json_error(files(d, sid, "mine.txt", headers=auth_b), 404)
    assert_json_error(files(d, sid, "", headers=auth_b), 404)
    assert_json_error(files(d, sid, "mine.txt", "PUT", b"b's\n", headers=auth_b), 404)
    assert_json_error(files(d, sid, "mine.txt", "DELETE", headers=auth_b), 404)
    r = files(d, sid, "mine.txt", headers=auth_a)
    assert r.status == 200 and r.body == b"a's\n", r
    finish(d, mock)
