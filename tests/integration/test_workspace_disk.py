"""Workspaces on the host's disk (issue 15): /workspace is a directory under
state_dir/sessions/<id>/ with a hard size and file-count limit that ends in ENOSPC,
never in an OOM kill; a hybrid session's suspend keeps it in place and the next
sandbox is built on it, in a time that does not grow with its size."""

import fcntl
import hashlib
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import poll
import sandbox_util as su
from chat_util import (CHAT_TIMEOUT, UID_BASE, UID_COUNT, bash, calls, chat_env, chat_settings, finish,  # noqa: F401
                       messages, mock, only_result)


# the loop store needs root and loop devices: where there are none, agentd falls back to
# the tmpfs store (test_unprivileged.py runs it so) and these tests have nothing to test
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/loop-control"),
                                reason="workspaces on disk need root and /dev/loop-control here")


def start(daemon_factory, mock, settings=None, workdir=None, **env):
    kw = {"workdir": workdir} if workdir else {}
    return daemon_factory(settings=chat_settings(settings), env=chat_env(mock, **env), **kw)


def new_session(d, **body):
    r = d.post_json("/api/sessions", body)
    assert r.status == 201, r.json()
    return r.json()["id"]


def run(d, sid, command, timeout=300):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, "timeout_s": timeout},
                    timeout=timeout + CHAT_TIMEOUT)
    assert r.status == 200, r
    return r.json()


def sdir(d, sid):
    return os.path.join(d.workdir, "state", "sessions", sid)


def test_health_says_where_workspaces_live(daemon_factory, mock):
    d = start(daemon_factory, mock)
    ws = d.health()["workspaces"]
    assert ws["store"] == "loop", ws          # root, no project quotas on this kernel
    sid = new_session(d)
    out = run(d, sid, "stat -c '%u %a' /workspace && df -k /workspace | tail -1 && touch /workspace/x")
    assert out["exit_status"] == 0, out
    owner, mode = out["output"].splitlines()[0].split()
    assert (owner, mode) == ("0", "755"), out
    size_kb = int(out["output"].splitlines()[1].split()[1])
    assert 4.5 * 2**20 < size_kb <= 5 * 2**20, out     # the 5 GiB default
    assert os.path.ismount(os.path.join(sdir(d, sid), "workspace"))
    assert os.path.exists(os.path.join(sdir(d, sid), "workspace", "x"))


def test_a_stuck_holder_of_the_loop_lock_stops_no_session(daemon_factory, mock):
    """Each supervisor attaches its image under a lock on /dev/loop-control that every
    one takes: a holder stopped or stuck with it (here this test, which never lets go)
    delays the others by seconds, and never stops them, also when many of them then
    race for the free devices without it."""
    d = start(daemon_factory, mock)
    fd = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with ThreadPoolExecutor(16) as pool:
            sids = list(pool.map(lambda _: new_session(d), range(16)))
            outs = list(pool.map(lambda sid: run(d, sid, "touch /workspace/x && echo ok"), sids))
        for sid, out in zip(sids, outs):
            assert out["exit_status"] == 0 and out["output"] == "ok\n", out
            assert os.path.ismount(os.path.join(sdir(d, sid), "workspace"))
        devices = [list(su.loop_devices(sdir(d, sid))) for sid in sids]
        assert all(len(x) == 1 for x in devices) and len({x[0] for x in devices}) == 16, devices
    finally:
        os.close(fd)


def test_a_resumed_workspace_whose_owner_a_live_sandbox_has_is_given_a_free_one(daemon_factory, mock):
    """Two live sandboxes never share a host uid. A suspended hybrid session's workspace
    keeps its owner, which another sandbox may hold by the time it resumes (here this
    test holds it, as agentd's sandboxes do: a lock on its byte of the ids' file): the
    workspace is then given a free uid, everything in it, never through a link."""
    d = start(daemon_factory, mock)
    sid = new_session(d, pattern="hybrid")
    out = run(d, sid, "mkdir d && echo kept > d/f && touch x && chmod 4755 x && ln -s /etc/passwd link && echo ok")
    assert out["output"] == "ok\n", out
    ws = os.path.join(sdir(d, sid), "workspace")
    owner = os.stat(ws).st_uid
    assert UID_BASE <= owner < UID_BASE + UID_COUNT, owner
    r = d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    assert poll(lambda: not os.path.ismount(ws), su.HOST_WAIT)
    fd = os.open(f"/run/agentd-ids-{UID_BASE}-{UID_COUNT}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, owner - UID_BASE, os.SEEK_SET)
        mock.enqueue(calls(bash("stat -c '%u %g %a %N' . d d/f x link && cat d/f && touch new && echo ok")),
                     {"text": "back"})
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "look"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200, r
        got, is_error = only_result(mock, 1)
        assert not is_error, got
        assert got.splitlines() == ["0 0 755 '.'", "0 0 755 'd'", "0 0 644 'd/f'", "0 0 4755 'x'",
                                    "0 0 777 'link' -> '/etc/passwd'", "kept", "ok"], got
        now = os.stat(ws).st_uid
        assert now != owner and UID_BASE <= now < UID_BASE + UID_COUNT, (owner, now)
        assert os.lstat(os.path.join(ws, "link")).st_uid == now
        assert os.stat("/etc/passwd").st_uid == 0          # the link's target was left alone
        assert d.wait_for_log(f"its workspace's owner, host uid {owner}, is a live sandbox's", timeout=10)
    finally:
        os.close(fd)
    finish(d, mock)


def oom_kills(d, sid):
    res = d.get(f"/api/sessions/{sid}").json()["resources"]
    return res.get("oom_kills", 0), res


def test_a_disk_fill_meets_enospc_not_the_oom_killer(daemon_factory, mock):
    """The defaults (memory 1 GiB, workspace 5 GiB): writing until the disk is full ends
    in ENOSPC for the writer, with no OOM kill and the session alive."""
    d = start(daemon_factory, mock)
    sid = new_session(d)
    t0 = time.monotonic()
    out = run(d, sid, "head -c 6G /dev/zero > /workspace/fill; echo status=$?; stat -c %s /workspace/fill")
    took = time.monotonic() - t0
    assert "No space left on device" in out["output"], out
    lines = out["output"].splitlines()
    assert lines[-2] == "status=1", out
    assert int(lines[-1]) > 4.5 * 2**30, out      # less the file system's own blocks
    kills, res = oom_kills(d, sid)
    assert kills == 0, res
    assert res["disk_bytes"] > 4.5 * 2**30, res
    # the space is the workspace's, given back once the file goes
    out = run(d, sid, "rm /workspace/fill && sync && echo ok")
    assert out["output"].strip() == "ok", out
    print(f"filled 5 GiB in {took:.1f} s")


def test_a_file_larger_than_memory(daemon_factory, mock):
    """600 MiB written and read back in a sandbox of 256 MiB: the page cache is the
    sandbox's, and reclaimed; nothing is killed."""
    d = start(daemon_factory, mock)
    sid = new_session(d, policy={"memory_max": "256M"})
    out = run(d, sid, "head -c 600M /dev/urandom > big && sha256sum big && stat -c %s big")
    assert out["exit_status"] == 0, out
    digest, size = out["output"].split()[0], int(out["output"].split()[-1])
    assert size == 600 * 2**20
    with open(os.path.join(sdir(d, sid), "workspace", "big"), "rb") as f:
        h = hashlib.sha256()
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == digest
    assert oom_kills(d, sid)[0] == 0


def test_the_file_count_limit(daemon_factory, mock):
    d = start(daemon_factory, mock)
    sid = new_session(d, policy={"workspace_files": 64, "workspace_size": "64M"})
    out = run(d, sid, "for i in $(seq 1 1000); do : > f$i || break; done; ls | wc -l")
    assert "No space left on device" in out["output"], out
    made = int(out["output"].splitlines()[-1])
    assert 64 <= made < 200, out     # mkfs rounds the inode count up to a whole group
    res = d.get(f"/api/sessions/{sid}").json()["resources"]
    assert res["disk_files"] == made, res


def test_200_sessions_leave_nothing_behind(daemon_factory, mock):
    """Ephemeral chats and long-running sessions, each with a workspace on disk: once
    they are over, no folder, mount or loop device of theirs is left."""
    from chat_util import HostState
    d = start(daemon_factory, mock)
    host = HostState(d)
    for i in range(100):
        mock.enqueue(calls(bash(f"echo {i} > n.txt")), {"text": "done"})
        r = d.post_json("/api/chat", {"message": "go"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200, r
    for i in range(100):
        sid = new_session(d)
        assert run(d, sid, "head -c 1M /dev/zero > f")["exit_status"] == 0
        assert d.request("DELETE", f"/api/sessions/{sid}").status in (200, 204)
    host.assert_clean()


def test_kill_9_leftovers_are_swept_at_the_next_start(daemon_factory, mock, tmp_path):
    """A killed agentd leaves its sessions' workspaces; the next one removes all but the
    saved hybrid sessions', which resume with their files."""
    import signal
    workdir = str(tmp_path / "d")
    d = start(daemon_factory, mock, workdir=workdir)
    lr = new_session(d)
    run(d, lr, "echo gone > lr.txt")
    hy = new_session(d, pattern="hybrid")
    mock.enqueue(calls(bash("echo kept > hy.txt")), {"text": "saved"})
    r = d.post_json(f"/api/sessions/{hy}/messages", {"message": "write"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(30)
    d2 = start(daemon_factory, mock, workdir=workdir)
    assert not os.path.exists(sdir(d2, lr))
    assert d2.get(f"/api/sessions/{hy}").json()["state"] == "suspended"
    mock.reset()
    mock.enqueue(calls(bash("cat hy.txt; ls")), {"text": "back"})
    r = d2.post_json(f"/api/sessions/{hy}/messages", {"message": "read"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    assert only_result(mock, 1) == ("kept\nhy.txt", False), only_result(mock, 1)
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert sdir(d2, lr) not in mounts, mounts


def test_in_memory_store_meets_enospc_first(daemon_factory, mock):
    """Without a store on disk (sandbox.workspace_store tmpfs, what an unprivileged
    agentd gets), the sandbox's memory limit is raised by the workspace's size: a fill
    ends in ENOSPC, not in the OOM killer."""
    d = start(daemon_factory, mock, AGENTD_SANDBOX_WORKSPACE_STORE="tmpfs")
    assert d.health()["workspaces"] == {"store": "tmpfs", "disk_bytes": 0, "disk_files": 0}
    sid = new_session(d, policy={"memory_max": "256M", "workspace_size": "400M"})
    # files of 300 MiB (one larger than the workspace meets RLIMIT_FSIZE first)
    out = run(d, sid, "for i in 1 2 3; do head -c 300M /dev/zero > /workspace/f$i || exit 7; done")
    assert "No space left on device" in out["output"] and out["exit_status"] == 7, out
    kills, res = oom_kills(d, sid)
    assert kills == 0, res
    assert res["disk_bytes"] >= 399 * 2**20, res
    assert not os.path.exists(sdir(d, sid))


def test_health_and_session_report_disk(daemon_factory, mock):
    d = start(daemon_factory, mock)
    a, b = new_session(d), new_session(d)
    run(d, a, "head -c 3M /dev/zero > x && mkdir -p d/e && touch d/e/f")
    res = d.get(f"/api/sessions/{a}").json()["resources"]
    assert res["disk_files"] == 4 and 3 * 2**20 <= res["disk_bytes"] < 4 * 2**20, res
    # /api/health's totals come from a pass over the sessions that a request queues and
    # a later one sees (it never waits for the pass: thousands of sessions)
    assert poll(lambda: (lambda ws: ws["disk_files"] >= 4 and ws["disk_bytes"] >= 3 * 2**20)(
        d.health()["workspaces"]), su.HOST_WAIT), d.health()
    assert d.get(f"/api/sessions/{b}").json()["resources"]["disk_files"] == 0


def project_quota_fs(path, tmp):
    """A file system with project quotas on, mounted at path (made here from an image:
    ext4 with the project feature, else XFS), or None and why not on this kernel."""
    why = []
    for kind, mkfs, opts in (("ext4", ["mkfs.ext4", "-q", "-O", "quota,project", "-E", "quotatype=prjquota"],
                              "prjquota"),
                             ("xfs", ["mkfs.xfs", "-q"], "prjquota")):
        image = os.path.join(tmp, f"{kind}.img")
        with open(image, "wb") as f:
            f.truncate(512 << 20)
        made = subprocess.run([*mkfs, image], capture_output=True, text=True)
        if made.returncode != 0:
            why.append(f"{kind}: {made.stderr.strip()}")
            continue
        os.makedirs(path, exist_ok=True)
        m = subprocess.run(["mount", "-o", f"loop,{opts}", image, path], capture_output=True, text=True)
        if m.returncode == 0:
            return kind, None
        kernel = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.strip().splitlines()[-1:]
        why.append(f"{kind}: mount -o {opts} failed; the kernel said: {' '.join(kernel)}")
    return None, "; ".join(why)


def test_project_quotas_keep_the_limit(daemon_factory, mock, tmp_path):
    """Where the state directory's file system has project quotas (XFS or ext4 mounted
    with prjquota), each workspace is a plain directory in a project of its own whose
    quota is the limit. This kernel may not have quota support: then it says why."""
    state = str(tmp_path / "d" / "state")
    kind, why = project_quota_fs(state, str(tmp_path))
    if kind is None:
        pytest.skip(f"no file system with project quotas can be mounted here: {why}")
    try:
        d = start(daemon_factory, mock, workdir=str(tmp_path / "d"), AGENTD_SANDBOX_WORKSPACE_STORE="quota")
        assert d.health()["workspaces"]["store"] == "quota"
        sid = new_session(d, policy={"workspace_size": "64M", "workspace_files": 100})
        out = run(d, sid, "head -c 100M /dev/zero > f; echo; for i in $(seq 200); do : > g$i || exit 7; done")
        assert "quota exceeded" in out["output"].lower() or "no space" in out["output"].lower(), out
        res = d.get(f"/api/sessions/{sid}").json()["resources"]
        assert res["disk_bytes"] <= 64 * 2**20 and res["disk_files"] <= 100, res
        assert d.request("DELETE", f"/api/sessions/{sid}").status in (200, 204)
        d.stop()
        assert not os.path.exists(sdir(d, sid))
    finally:
        subprocess.run(["umount", "-l", state], capture_output=True)


def test_a_store_the_host_cannot_give_stops_agentd_with_the_reason(daemon_factory, mock, tmp_path):
    """sandbox.workspace_store set to quota where the state directory has no project
    quotas (this test's, on the host's file system without prjquota): agentd does not
    start, and says why, rather than running with a limit it cannot keep."""
    from conftest import Daemon, run_agentd
    d = Daemon(str(tmp_path / "q"), settings=chat_settings(),
               env=chat_env(mock, AGENTD_SANDBOX_WORKSPACE_STORE="quota"))
    r = run_agentd(["--config", str(d.config_path)], env=d.env, timeout=30)
    assert r.returncode != 0
    assert "sandbox.workspace_store is quota, but" in r.stderr, r.stderr


def test_a_suspended_workspace_holds_no_mount_and_reports_its_disk(daemon_factory, mock):
    """Suspended, a hybrid session keeps its image (300 MiB of it used) but no mount
    and no loop device; its disk is still reported; the resume mounts it again, its
    bytes intact. (That the time does not grow with the size is the benchmark's:
    tests/bench/workspace_bench.py.)"""
    d = start(daemon_factory, mock)
    sid = new_session(d, pattern="hybrid")
    out = run(d, sid, "head -c 300M /dev/urandom > r && sha256sum r")
    digest = out["output"].split()[0]
    r = d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    folder = sdir(d, sid)
    # the supervisor lets go of it as it ends, just after the answer
    want = ["session.json", "workspace", "workspace.img", "workspace.usage"]
    assert poll(lambda: sorted(os.listdir(folder)) == want and not su.loop_devices(folder), su.HOST_WAIT), \
        (os.listdir(folder), su.loop_devices(folder))
    assert not os.path.ismount(os.path.join(folder, "workspace"))
    res = d.get(f"/api/sessions/{sid}").json()["resources"]
    assert res["disk_files"] == 1 and 300 * 2**20 <= res["disk_bytes"] < 301 * 2**20, res
    mock.enqueue(calls(bash("sha256sum r")), {"text": "back"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "check"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    assert only_result(mock, 1)[0].split()[0] == digest


def test_a_sandbox_reaches_no_other_workspace_and_no_image(daemon_factory, mock):
    """The workspace is bound nosuid and nodev; nothing of the host's folder (the image,
    the other sessions' workspaces, session.json) can be named from inside."""
    d = start(daemon_factory, mock)
    a, b = new_session(d, pattern="hybrid"), new_session(d)
    run(d, a, "echo secret-of-a > mine.txt")
    out = run(d, b, "grep ' /workspace ' /proc/self/mounts; "
                    "find / -xdev \\( -name mine.txt -o -name 'workspace.img' -o -name session.json \\) 2>/dev/null; "
                    "grep -rlD skip --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr "
                    "secret-of-a / 2>/dev/null; true", timeout=60)
    assert not out["timed_out"], out
    lines = out["output"].splitlines()
    assert lines[0].split()[3].split(",")[:3] == ["rw", "nosuid", "nodev"], lines
    assert lines[1:] == [], out["output"]
    # the sandbox's root owns its workspace, and it is nobody else's on the host
    st_a = os.stat(os.path.join(sdir(d, a), "workspace"))
    st_b = os.stat(os.path.join(sdir(d, b), "workspace"))
    assert st_a.st_uid != 0 and st_b.st_uid != 0 and st_a.st_uid != st_b.st_uid, (st_a, st_b)


def test_a_workspace_held_by_a_stuck_process_is_a_clear_error_and_loses_nothing(daemon_factory, mock):
    """A session's folder is locked while its workspace is opened, released or removed.
    A holder stopped or stuck with that lock (here this test, which takes it while the
    hybrid session is suspended) makes the resume fail after 10 s with a message that
    says so, not a wait without end; the session stays suspended, and once the lock is
    let go the next message resumes it, its files and conversation intact."""
    d = start(daemon_factory, mock)
    sid = new_session(d, pattern="hybrid")
    mock.enqueue(calls(bash("echo kept > f && echo ok")), {"text": "written"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "write f"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "written", r
    r = d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    ws = os.path.join(sdir(d, sid), "workspace")
    assert poll(lambda: not os.path.ismount(ws), su.HOST_WAIT)
    fd = os.open(sdir(d, sid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "look"}, timeout=CHAT_TIMEOUT + 30)
        assert r.status >= 500 and "has been locked by another process for 10 s" in r.json()["error"]["message"], r
        assert d.get(f"/api/sessions/{sid}").json()["state"] == "suspended"
        assert d.wait_for_log("its sandbox could not be built: workspace: ", timeout=10)
    finally:
        os.close(fd)
    mock.enqueue(calls(bash("cat f")), {"text": "back"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "look again"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "back", r
    got, is_error = only_result(mock, 3)
    assert not is_error and got == "kept\n" or got == "kept", got
    # the turn that could not run left nothing in the conversation the model is given
    texts = [m["content"] if isinstance(m["content"], str) else " ".join(b.get("text", "") for b in m["content"])
             for m in messages(mock, 3) if m["role"] == "user"]
    assert "write f" in texts and "look again" in texts and "look" not in texts, texts
    finish(d, mock)
