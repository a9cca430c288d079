"""Hybrid sessions: saved after every turn, suspended (sandbox gone), resumed with the
workspace and the conversation; also after a restart of the daemon and after kill -9
in the middle of a turn; a corrupt state file is reported and skipped."""

import json
import os
import signal

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chat_env, chat_settings, finish, mock,  # noqa: F401
                       only_result)
from conftest import assert_json_error
import sandbox_util as su


def start(daemon_factory, mock, workdir=None, store=None, **env):
    """store: the workspace store (default: the host's best, on disk here; "tmpfs": in
    memory, saved as snapshots)."""
    kw = {"workdir": workdir} if workdir else {}
    if store:
        env["AGENTD_SANDBOX_WORKSPACE_STORE"] = store
    return daemon_factory(settings=chat_settings(), env=chat_env(mock, **env), **kw)


def turn(d, sid, text, status=200):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def state_of(d, sid):
    return d.get(f"/api/sessions/{sid}").json()["state"]


def test_suspend_and_resume_keep_the_workspace_and_the_conversation(daemon_factory, mock):
    d = start(daemon_factory, mock)
    host = HostState(d)
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue(calls(bash("mkdir -p notes && echo kept > notes/a.txt && chmod 600 notes/a.txt")), {"text": "saved"})
    assert turn(d, sid, "write it")["reply"] == "saved"
    r = d.request("POST", f"/api/sessions/{sid}/suspend")
    assert r.status == 200 and r.json()["state"] == "suspended", r
    host.assert_clean()          # the sandbox is gone
    mock.enqueue(calls(bash("cat notes/a.txt; stat -c %a notes/a.txt")), {"text": "resumed"})
    assert turn(d, sid, "read it")["reply"] == "resumed"
    assert only_result(mock, 3) == ("kept\n600", False), only_result(mock, 3)
    # the conversation came back: the resumed turn's request holds the first turn
    assert "write it" in json.dumps(mock.requests[2]["body"]["messages"])
    assert state_of(d, sid) == "idle"
    assert d.request("DELETE", f"/api/sessions/{sid}").status == 200
    assert not os.path.exists(os.path.join(d.workdir, "state", "sessions", sid))
    finish(d, mock)


def test_a_hybrid_session_survives_a_restart(daemon_factory, mock, tmp_path):
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"))
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue(calls(bash("echo before > f.txt")), {"text": "one"})
    turn(d, sid, "first")
    d.stop()
    d2 = start(daemon_factory, mock, workdir=str(tmp_path / "d"))
    info = d2.get(f"/api/sessions/{sid}").json()
    assert info["state"] == "suspended" and info["turns"] == 1 and info["pattern"] == "hybrid", info
    mock.enqueue(calls(bash("cat f.txt")), {"text": "two"})
    assert turn(d2, sid, "second")["reply"] == "two"
    assert only_result(mock, 3) == ("before", False)
    finish(d2, mock)


def kill_9_in_turn_three(daemon_factory, mock, tmp_path, store):
    """Two turns done, the daemon killed in the third (which wrote three.txt): the
    session comes back suspended with the first two turns, resumed by a turn that lists
    the workspace; what that listing is."""
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"), store=store)
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue(calls(bash("echo one > one.txt")), {"text": "t1"})
    turn(d, sid, "turn one")
    mock.enqueue(calls(bash("echo two > two.txt")), {"text": "t2"})
    turn(d, sid, "turn two")
    mark = su.marker()
    mock.enqueue(calls(bash(f"echo three > three.txt; sleep 600.{mark}")), {"text": "never"})
    import threading
    def turn_three():
        try:
            d.post_json(f"/api/sessions/{sid}/messages", {"message": "turn three"}, timeout=CHAT_TIMEOUT)
        except OSError:
            pass          # the daemon is killed under it: that is the point
    threading.Thread(target=turn_three, daemon=True).start()
    assert su.wait_for_process(f"600.{mark}")
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(su.HOST_WAIT)
    # its supervisors see the hang-up and clean up (the sleep would run 10 minutes)
    assert not su.wait_gone(lambda: su.processes_with(f"600.{mark}")), "the sandbox outlived its gateway"
    d2 = start(daemon_factory, mock, workdir=str(tmp_path / "d"), store=store)
    info = d2.get(f"/api/sessions/{sid}").json()
    assert info["state"] == "suspended" and info["turns"] == 2, info
    msgs = d2.get(f"/api/sessions/{sid}/messages").json()["messages"]
    text = json.dumps(msgs)
    assert "turn one" in text and "turn two" in text and "turn three" not in text
    mock.reset()
    mock.enqueue(calls(bash("ls *.txt")), {"text": "back"})
    assert turn(d2, sid, "what is there")["reply"] == "back"
    listing = only_result(mock, 1)
    finish(d2, mock)
    return listing


def test_kill_9_in_the_middle_of_a_turn_loses_only_that_turn(daemon_factory, mock, tmp_path):
    """In memory, the workspace comes back as the last save left it."""
    listing = kill_9_in_turn_three(daemon_factory, mock, tmp_path, "tmpfs")
    assert listing == ("one.txt\ntwo.txt", False), listing


def test_kill_9_in_a_turn_keeps_what_it_wrote_on_disk(daemon_factory, mock, tmp_path):
    """On disk, the workspace is never copied back: the conversation loses the turn in
    flight, the files it wrote stay (README: what a crash keeps)."""
    listing = kill_9_in_turn_three(daemon_factory, mock, tmp_path, None)
    assert listing == ("one.txt\nthree.txt\ntwo.txt", False), listing


def test_a_corrupt_state_file_is_reported_and_skipped(daemon_factory, mock, tmp_path):
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"))
    good = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue({"text": "ok"})
    turn(d, good, "hi")
    d.stop()
    sessions = os.path.join(str(tmp_path / "d"), "state", "sessions")
    bad = "sess_" + "ab" * 12
    os.makedirs(os.path.join(sessions, bad))
    with open(os.path.join(sessions, bad, "session.json"), "w") as f:
        f.write('{"id": "' + bad + '", "transcript": [')       # cut short
    # a first save cut short: a half-written snapshot and no session.json
    cut = "sess_" + "cd" * 12
    os.makedirs(os.path.join(sessions, cut))
    with open(os.path.join(sessions, cut, "workspace.tar.tmp"), "wb") as f:
        f.write(b"\0" * 1000)
    d2 = start(daemon_factory, mock, workdir=str(tmp_path / "d"))
    assert d2.get(f"/api/sessions/{good}").json()["state"] == "suspended"
    assert_json_error(d2.get(f"/api/sessions/{bad}"), 404)
    assert bad in d2.stderr and "skipped" in d2.stderr
    assert_json_error(d2.get(f"/api/sessions/{cut}"), 404)
    assert not os.path.exists(os.path.join(sessions, cut)), "the leftover of a cut save stayed"
    finish(d2, mock)


def test_a_workspace_that_cannot_be_restored_fails_the_turn_not_silently(daemon_factory, mock, tmp_path):
    """(Workspaces in memory, saved as snapshots.) The supervisor reads the saved
    workspace itself: one it cannot read, or a tar
    that does not unpack, ends the resumed turn with an error that says so, never with
    an empty workspace passed off as the saved one."""
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"), store="tmpfs")
    saved = {}
    for how in ("garbage", "symlink", "missing"):
        sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
        mock.enqueue(calls(bash("echo precious > keep.txt")), {"text": "kept"})
        turn(d, sid, "keep it")
        assert d.request("POST", f"/api/sessions/{sid}/suspend").status == 200
        sdir = os.path.join(d.workdir, "state", "sessions", sid)
        with open(os.path.join(sdir, "session.json")) as f:
            gen = json.load(f)["workspace_generation"]
        tar = os.path.join(sdir, f"workspace.{gen}.tar")
        # the snapshot session.json names is the only one kept
        assert sorted(os.listdir(sdir)) == ["session.json", f"workspace.{gen}.tar"], os.listdir(sdir)
        os.unlink(tar)
        if how == "garbage":
            with open(tar, "wb") as f:
                f.write(os.urandom(5000))
        elif how == "symlink":
            os.symlink("/etc/passwd", tar)
        saved[how] = sid
    for how, sid in saved.items():
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "what is kept"}, timeout=CHAT_TIMEOUT)
        assert r.status >= 500, (how, r)
        msg = r.json()["error"]["message"]
        assert "could not be restored" in msg, (how, msg)
        if how == "symlink":
            assert "cannot read the saved workspace" in msg, msg
        if how == "missing":
            assert "is missing" in msg, msg
        assert state_of(d, sid) == "failed", how
    assert len(mock.requests) == 2 * len(saved), "a turn went to the model without its workspace"
    finish(d, mock)


def test_a_turn_that_could_not_be_saved_says_so(daemon_factory, mock, tmp_path):
    from chat_util import stream_chat
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"), store="tmpfs")
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue({"text": "saved"})
    assert "warning" not in turn(d, sid, "one")
    # the session's state directory becomes a file: the next save cannot be written
    sdir = os.path.join(d.workdir, "state", "sessions", sid)
    for name in os.listdir(sdir):
        os.unlink(os.path.join(sdir, name))
    os.rmdir(sdir)
    with open(sdir, "w") as f:
        f.write("in the way")
    mock.enqueue({"text": "not saved"})
    doc = turn(d, sid, "two")
    assert doc["reply"] == "not saved" and "was not saved" in doc["warning"], doc
    # the session's event log says so too, after the turn's done
    ev = stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET",
                     headers={"Last-Event-ID": "0"}, stop=lambda e: e.event == "warning", timeout=10)
    assert [e.event for e in ev.events][-2:] == ["done", "warning"], ev.names
    os.unlink(sdir)
    finish(d, mock)


def test_a_resumed_session_keeps_its_model_and_system_prompt(daemon_factory, mock, tmp_path):
    from chat_util import OTHER_MODEL
    d = start(daemon_factory, mock, workdir=str(tmp_path / "d"), AGENTD_MODELS=OTHER_MODEL)
    host = HostState(d)
    r = d.post_json("/api/sessions", {"pattern": "hybrid", "model": OTHER_MODEL, "system": "You answer in haiku."})
    assert r.status == 201, r.json()
    sid = r.json()["id"]
    mock.enqueue({"text": "one"}, {"text": "two"}, {"text": "three"})
    turn(d, sid, "first")
    assert d.request("POST", f"/api/sessions/{sid}/suspend").status == 200
    host.assert_clean()                # the old sandbox is gone (until then: 409)
    turn(d, sid, "second")                       # resumed in a new sandbox
    d.stop()
    d2 = start(daemon_factory, mock, workdir=str(tmp_path / "d"), AGENTD_MODELS=OTHER_MODEL)
    turn(d2, sid, "third")                       # resumed after a restart
    for r in mock.requests:
        assert r["body"]["model"] == OTHER_MODEL, r["body"]["model"]
        assert "haiku" in json.dumps(r["body"].get("system")), r["body"].get("system")
    finish(d2, mock)
