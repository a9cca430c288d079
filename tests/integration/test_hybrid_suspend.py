"""A hybrid session loses nothing when it is suspended: what its workspace holds at the
moment of the suspend (files uploaded or made by exec after its last turn included) is
what comes back, whether the suspend is asked for, comes from the idle timeout, or from
a clean stop of agentd. A suspend whose save fails says so and leaves the session as it
was; a resumed session's conversation and workspace always belong together."""

import hashlib
import json
import os
import subprocess
import time

import pytest

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chat_env, chat_settings, error_is_a_sentence,  # noqa: F401
                       finish, mock, only_result)


def start(daemon_factory, mock, workdir=None, store="tmpfs", **env):
    """A daemon whose workspaces are in memory (store tmpfs: a suspend saves a snapshot,
    what most tests here are about), or on disk (loop: kept in place)."""
    kw = {"workdir": workdir} if workdir else {}
    env.setdefault("AGENTD_SANDBOX_WORKSPACE_STORE", store)
    return daemon_factory(settings=chat_settings(), env=chat_env(mock, **env), **kw)


both_stores = pytest.mark.parametrize("store", ["tmpfs", "loop"])


def hybrid(d, **extra):
    r = d.post_json("/api/sessions", dict(pattern="hybrid", **extra))
    assert r.status == 201, r.json()
    return r.json()["id"]


def turn(d, sid, text):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def state_of(d, sid):
    return d.get(f"/api/sessions/{sid}").json()["state"]


def wait_state(d, sid, want, timeout=30):
    deadline = time.monotonic() + timeout
    while (got := state_of(d, sid)) != want:
        assert time.monotonic() < deadline, f"session {sid} is {got}, not {want}"
        time.sleep(0.1)


def suspend(d, sid):
    return d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)


def upload(d, sid, path, blob):
    r = d.request("PUT", f"/api/sessions/{sid}/files/{path}", body=blob, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r


def exec_(d, sid, command):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["exit_status"] == 0, r
    return r.json()["output"]


def session_dir(d, sid, workdir=None):
    return os.path.join(workdir or d.workdir, "state", "sessions", sid)


def block_saves(d, sid, workdir=None):
    """A directory where the workspace's snapshot is written first: every save of the
    session fails (open(2): EISDIR), whoever runs it."""
    os.makedirs(os.path.join(session_dir(d, sid, workdir), "workspace.tar.tmp"))


def unblock_saves(d, sid, workdir=None):
    os.rmdir(os.path.join(session_dir(d, sid, workdir), "workspace.tar.tmp"))


def after_turn_files(d, sid):
    """Work done on the workspace after the session's last turn: an upload and an exec.
    What the resumed session must show: {path: bytes}."""
    blob = os.urandom(200_000)
    upload(d, sid, "up/data.bin", blob)
    exec_(d, sid, "printf 'made by exec\\n' > made.txt")
    return {"up/data.bin": blob, "made.txt": b"made by exec\n"}


def assert_files(d, sid, files):
    for path, blob in files.items():
        r = d.get(f"/api/sessions/{sid}/files/{path}", timeout=CHAT_TIMEOUT)
        assert r.status == 200, (path, r)
        assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(blob).hexdigest(), path


def resume_and_check(d, sid, mock, files):
    """A turn resumes the session; in it, the files are there with their bytes."""
    mock.reset()
    sums = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
    mock.enqueue(calls(bash("sha256sum " + " ".join(sorted(files)))), {"text": "resumed"})
    assert turn(d, sid, "what is there")["reply"] == "resumed"
    out, is_error = only_result(mock, 1)
    assert not is_error, out
    got = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    assert got == sums, out
    assert_files(d, sid, files)


def assert_back_as_turn_one_left_it(d, sid, mock):
    """Suspended, with turn one's conversation (not turn two's) and turn one's files."""
    info = d.get(f"/api/sessions/{sid}").json()
    assert info["state"] == "suspended" and info["turns"] == 1, info
    text = json.dumps(d.get(f"/api/sessions/{sid}/messages").json()["messages"])
    assert "turn one" in text and "turn two" not in text, text
    mock.reset()
    mock.enqueue(calls(bash("ls *.txt")), {"text": "back"})
    assert turn(d, sid, "what is there")["reply"] == "back"
    assert only_result(mock, 1) == ("one.txt", False), only_result(mock, 1)


@both_stores
def test_files_made_after_a_turn_survive_a_suspend(daemon_factory, mock, store):
    d = start(daemon_factory, mock, store=store)
    host = HostState(d)
    sid = hybrid(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    files = after_turn_files(d, sid)
    r = suspend(d, sid)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    host.assert_clean(timeout=20)                 # the sandbox is gone
    resume_and_check(d, sid, mock, files)
    finish(d, mock)


@both_stores
def test_files_made_after_a_turn_survive_the_idle_timeout(daemon_factory, mock, store):
    d = start(daemon_factory, mock, store=store)
    # long enough that the upload and the exec come before it, however slow the machine
    sid = hybrid(d, idle_timeout_s=5)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    files = after_turn_files(d, sid)
    wait_state(d, sid, "suspended")
    resume_and_check(d, sid, mock, files)
    finish(d, mock)


@both_stores
def test_files_made_after_a_turn_survive_a_daemon_restart(daemon_factory, mock, tmp_path, store):
    workdir = str(tmp_path / "d")
    d = start(daemon_factory, mock, workdir=workdir, store=store)
    sid = hybrid(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    files = after_turn_files(d, sid)
    never = hybrid(d)                                 # no turn at all: its upload comes back too
    upload(d, never, "only.txt", b"uploaded, never a turn\n")
    d.stop()
    d2 = start(daemon_factory, mock, workdir=workdir, store=store)
    assert state_of(d2, sid) == "suspended"
    resume_and_check(d2, sid, mock, files)
    assert state_of(d2, never) == "suspended"
    resume_and_check(d2, never, mock, {"only.txt": b"uploaded, never a turn\n"})
    finish(d2, mock)


@both_stores
def test_a_session_suspended_before_its_first_turn_resumes(daemon_factory, mock, store):
    d = start(daemon_factory, mock, store=store)
    sid = hybrid(d)
    upload(d, sid, "first.txt", b"before any turn\n")
    r = suspend(d, sid)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    resume_and_check(d, sid, mock, {"first.txt": b"before any turn\n"})
    assert state_of(d, sid) == "idle"
    finish(d, mock)


def test_a_suspend_whose_save_fails_leaves_the_session_as_it_was(daemon_factory, mock):
    d = start(daemon_factory, mock)
    sid = hybrid(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    files = after_turn_files(d, sid)
    block_saves(d, sid)
    r = suspend(d, sid)
    assert r.status == 500, r
    err = r.json()["error"]
    error_is_a_sentence(err)
    assert "not suspended" in err["message"] and "could not be saved" in err["message"], err
    # as it was: idle, its sandbox up, its files there, and it works
    assert state_of(d, sid) == "idle"
    assert exec_(d, sid, "echo alive") == "alive\n"
    assert_files(d, sid, files)
    # the session's event log says so
    from chat_util import stream_chat
    ev = stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET",
                     headers={"Last-Event-ID": "0"}, stop=lambda e: e.event == "warning", timeout=10)
    assert "not suspended" in ev.of("warning")[-1].data["message"], ev.names
    # once the disk takes it again, the same suspend goes through, and nothing was lost
    unblock_saves(d, sid)
    r = suspend(d, sid)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    resume_and_check(d, sid, mock, files)
    finish(d, mock)


def test_the_conversation_and_the_workspace_come_back_together(daemon_factory, mock, tmp_path):
    """A turn whose save failed: a suspend cannot save either, so it fails and the
    session stays; a daemon stop that cannot save leaves the last pair that was saved,
    and the session comes back with that pair: the conversation of turn one with the
    files of turn one, never turn two's conversation without its files."""
    workdir = str(tmp_path / "d")
    d = start(daemon_factory, mock, workdir=workdir)
    sid = hybrid(d)
    mock.enqueue(calls(bash("echo one > one.txt")), {"text": "t1"})
    assert "warning" not in turn(d, sid, "turn one")
    block_saves(d, sid, workdir)
    mock.enqueue(calls(bash("echo two > two.txt")), {"text": "t2"})
    doc = turn(d, sid, "turn two")
    assert "was not saved" in doc.get("warning", ""), doc
    r = suspend(d, sid)
    assert r.status == 500 and "could not be saved" in r.json()["error"]["message"], r
    assert state_of(d, sid) == "idle"
    assert exec_(d, sid, "ls *.txt") == "one.txt\ntwo.txt\n"
    d.stop()                                          # its save fails too: logged
    assert "could not be saved" in d.stderr
    unblock_saves(d, sid, workdir)
    d2 = start(daemon_factory, mock, workdir=workdir)
    assert_back_as_turn_one_left_it(d2, sid, mock)
    finish(d2, mock)


def test_the_snapshot_cap_is_the_sessions_own(daemon_factory, mock):
    """A session whose policy makes its workspace small: a save larger than a tar of
    that workspace can be (here a sparse file, which tar writes out in full) is refused
    by the session's own cap, not the configured workspace's far larger one."""
    d = start(daemon_factory, mock)
    sid = hybrid(d, policy={"workspace_size": "2M", "workspace_files": 16})
    exec_(d, sid, "truncate -s 16M sparse.bin")
    r = suspend(d, sid)
    assert r.status == 500, r
    msg = r.json()["error"]["message"]
    assert "larger than a tar of the workspace can be" in msg, msg
    assert state_of(d, sid) == "ready"                # no turn yet: as it was
    exec_(d, sid, "rm sparse.bin && echo small > small.txt")
    r = suspend(d, sid)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    resume_and_check(d, sid, mock, {"small.txt": b"small\n"})
    finish(d, mock)


def test_a_transcript_that_could_not_be_saved_never_comes_back_with_newer_files(daemon_factory, mock, tmp_path):
    """The workspace of turn two is saved, its session.json cannot be (made immutable):
    the session, stopped and started again, comes back as turn one left it, both its
    conversation and its files, not with turn two's files under turn one's talk."""
    workdir = str(tmp_path / "d")
    d = start(daemon_factory, mock, workdir=workdir)
    sid = hybrid(d)
    mock.enqueue(calls(bash("echo one > one.txt")), {"text": "t1"})
    assert "warning" not in turn(d, sid, "turn one")
    meta = os.path.join(session_dir(d, sid, workdir), "session.json")
    subprocess.run(["chattr", "+i", meta], check=True)
    try:
        mock.enqueue(calls(bash("echo two > two.txt")), {"text": "t2"})
        doc = turn(d, sid, "turn two")
        assert "was not saved" in doc.get("warning", ""), doc
        d.stop()                                      # its save at the stop fails the same way
    finally:
        subprocess.run(["chattr", "-i", meta], check=True)
    d2 = start(daemon_factory, mock, workdir=workdir)
    assert_back_as_turn_one_left_it(d2, sid, mock)
    finish(d2, mock)
