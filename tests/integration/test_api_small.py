"""Smaller things a user ran into, one test each: a bash call's history entry has its exit
status; `turns` means one thing everywhere; an ended ephemeral session says so; a bash
timeout's message says what it killed, and it is true."""

from chat_util import (CHAT_TIMEOUT, bash, calls, chatd, finish, mock)  # noqa: F401


def create(d, body=None):
    r = d.post_json("/api/sessions", body if body is not None else {})
    assert r.status == 201, r
    return r.json()["id"]


def message(d, sid, text, status=200):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def test_a_bash_calls_history_entry_has_its_exit_status(chatd, mock):
    sid = create(chatd)
    mock.enqueue(calls(bash("(exit 3)")), calls(bash("echo fine")), {"text": "done"})
    message(chatd, sid, "run them")
    r = chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "exit 5"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["exit_status"] == 5, r
    hist = chatd.get(f"/api/sessions/{sid}/history").json()["history"]
    got = [(h["kind"], h["tool"], h["exit_status"], h["is_error"]) for h in hist]
    assert got == [("tool", "bash", 3, True), ("tool", "bash", 0, False), ("exec", "exec", 5, True)], hist
    assert hist[2]["id"].startswith("exec_"), hist
    finish(chatd, mock)
