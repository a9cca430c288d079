"""Smaller things a user ran into, one test each: a bash call's history entry has its exit
status; `turns` means one thing everywhere; an ended ephemeral session says so; a bash
timeout's message says what it killed, and it is true."""

from chat_util import (CHAT_TIMEOUT, bash, calls, chatd, check_stream_done, finish, mock,  # noqa: F401
                       only_result, read_events, stream_chat)
from conftest import poll


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


def test_turns_means_user_turns_everywhere_and_model_calls_are_model_calls(chatd, mock):
    """A turn is one user message and all the agent does for it; `turns` counts those
    wherever it appears; `model_calls` counts a turn's model calls."""
    sid = create(chatd)
    mock.enqueue(calls(bash("echo hi")), {"text": "first"})
    doc = message(chatd, sid, "one")
    assert doc["model_calls"] == 2 and "turns" not in doc, doc
    mock.enqueue({"text": "second"})
    st = stream_chat(chatd, {"message": "two", "stream": True}, path=f"/api/sessions/{sid}/messages")
    done = check_stream_done(st)
    assert done["model_calls"] == 1 and "turns" not in done, done
    assert chatd.get(f"/api/sessions/{sid}").json()["turns"] == 2
    events = read_events(chatd, sid, int(st.events[-1].id))
    dones = [e.data for e in events if e.event == "done"]
    assert [d["model_calls"] for d in dones] == [2, 1] and not any("turns" in d for d in dones), dones
    usage = [e.data for e in events if e.event == "usage"]
    assert len(usage) == 3 and all("call" in u and "turn" not in u for u in usage), usage
    finish(chatd, mock)


def test_a_message_to_an_ended_session_says_how_it_ended(chatd, mock):
    # the next message at once, as often as it takes to meet the session between the
    # end of its turn and its destruction (where it once started a turn, 500)
    for i in range(20):
        mock.enqueue({"text": "once"})
        r = chatd.post_json("/api/chat", {"message": "hello"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200, r
        sid = r.json()["session_id"]                             # ephemeral: it goes with its turn
        for path, body in ((f"/api/sessions/{sid}/messages", {"message": "again"}),
                           ("/api/chat", {"message": "again", "session_id": sid})):
            r = chatd.post_json(path, body, timeout=CHAT_TIMEOUT)
            assert r.status in (404, 409), (i, r)
            msg = r.json()["error"]["message"]
            assert "ephemeral" in msg and "ended with its turn" in msg and "long-running" in msg, msg
    # a deleted session says so too
    other = create(chatd)
    assert chatd.request("DELETE", f"/api/sessions/{other}").status == 200
    r = chatd.post_json(f"/api/sessions/{other}/messages", {"message": "hi"}, timeout=CHAT_TIMEOUT)
    assert r.status == 404 and "has ended: deleted by its owner" in r.json()["error"]["message"], r
    # one that never was: as before
    r = chatd.get("/api/sessions/sess_neverwas")
    assert r.status == 404 and r.json()["error"]["message"] == 'no session "sess_neverwas"', r
    assert mock.pending() == 0
    finish(chatd, mock)


def sleeps_left(d, sid):
    """How many `sleep` processes the sandbox still has, asked from inside (an exec)."""
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "pgrep -c -x sleep || true"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    return int(r.json()["output"].strip())


def test_a_bash_timeout_kills_what_left_the_process_group_and_says_so(chatd, mock):
    sid = create(chatd, {"policy": {"command_timeout_s": 2}})
    # one child in a new session, one orphaned there by a double fork, one in the group
    mock.enqueue(calls(bash("setsid sleep 1000 & (setsid sleep 1001 &); sleep 1002")), {"text": "gave up"})
    message(chatd, sid, "run it")
    assert poll(lambda: sleeps_left(chatd, sid) == 0, 10, interval=0.1), "a process the timed-out command started lives on"
    out, is_error = only_result(mock, 1)
    assert is_error and "timed out after 2 s" in out, out
    assert "the shell was killed with every process started in it, also those that left its process group" \
        in out, out
    # the shell starts again, and works
    mock.enqueue(calls(bash("echo back")), {"text": "ok"})
    message(chatd, sid, "again")
    assert only_result(mock, 3) == ("back", False)
    # an exec's timeout likewise
    r = chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "setsid sleep 1003 & (setsid sleep 1004 &); "
                                                       "sleep 1005", "timeout_s": 1}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["timed_out"] is True, r
    assert poll(lambda: sleeps_left(chatd, sid) == 0, 10, interval=0.1), "a process the timed-out exec started lives on"
    finish(chatd, mock)
