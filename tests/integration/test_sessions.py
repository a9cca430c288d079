"""The session API against the real daemon and the local Messages API server:
create, list, get (with live cgroup figures), turns that keep the sandbox (files, the
shell's state, the conversation), the transcript, the event log resumed with
Last-Event-ID, interrupt, delete, the idle timeout, and the checks on bad input."""

import json
import threading
import time

import pytest

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chatd, finish, interrupted_turn, mock,  # noqa: F401
                       only_result, start_chat_daemon, stream_chat, check_stream_done, wait_pool_ready, chat_env, chat_settings, UID_BASE, UID_COUNT)
from conftest import assert_json_error, poll
import sandbox_util as su


def create(d, body=None, status=201):
    r = d.post_json("/api/sessions", body if body is not None else {})
    assert r.status == status, r
    return r.json()


def message(d, sid, text, status=200, **extra):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text, **extra}, timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def get(d, sid, status=200):
    r = d.get(f"/api/sessions/{sid}")
    assert r.status == status, r
    return r.json()


def wait_state(d, sid, state, timeout=su.HOST_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = get(d, sid)
        if doc["state"] == state:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"session {sid} never became {state}: {get(d, sid)}")


def test_a_long_running_session_keeps_its_sandbox_between_turns(chatd, mock):
    host = HostState(chatd)
    s = create(chatd, {"pattern": "long-running"})
    assert s["id"].startswith("sess_") and s["pattern"] == "long-running"
    assert s["state"] in ("creating", "ready"), s
    wait_state(chatd, s["id"], "ready")

    # (and some CPU time, for the figures below: a loop in the shell itself)
    mock.enqueue(calls(bash("echo kept > /workspace/f; cd /tmp; export X=42; "
                            "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")), {"text": "first"})
    doc = message(chatd, s["id"], "remember")
    assert doc["reply"] == "first" and doc["session_id"] == s["id"]

    mock.enqueue(calls(bash("cat /workspace/f; pwd; echo $X")), {"text": "second"})
    doc = message(chatd, s["id"], "recall")
    assert doc["reply"] == "second"
    # the same sandbox and the same shell: the file, the directory and the variable
    assert only_result(mock, 3) == ("kept\n/tmp\n42", False), only_result(mock, 3)
    # the conversation went on: the second turn's request holds the first one
    texts = json.dumps(mock.requests[2]["body"]["messages"])
    assert "remember" in texts and "recall" in texts

    info = get(chatd, s["id"])
    assert info["turns"] == 2 and info["state"] == "idle", info
    assert info["usage"]["input_tokens"] == sum(r["usage"]["input_tokens"] for r in mock.requests)
    res = info["resources"]
    assert res["memory_bytes"] > 0 and res["memory_peak_bytes"] >= res["memory_bytes"] and res["pids"] >= 2, res
    assert res["cpu_seconds"] > 0, res

    listed = chatd.get("/api/sessions").json()["sessions"]
    assert [x["id"] for x in listed] == [s["id"]]

    transcript = chatd.get(f"/api/sessions/{s['id']}/messages").json()["messages"]
    assert [m["role"] for m in transcript] == ["user", "assistant", "user", "assistant"] * 2, transcript

    r = chatd.request("DELETE", f"/api/sessions/{s['id']}")
    assert r.status == 200 and r.json()["state"] == "destroyed", r
    assert_json_error(chatd.get(f"/api/sessions/{s['id']}"), 404)
    assert chatd.get("/api/sessions").json()["sessions"] == []
    host.assert_clean()
    finish(chatd, mock)


def test_turns_stream_and_the_event_log_resumes(chatd, mock):
    s = create(chatd)
    mock.enqueue(calls(bash("echo one")), {"text": "streamed"})
    st = stream_chat(chatd, {"message": "go", "stream": True}, path=f"/api/sessions/{s['id']}/messages")
    done = check_stream_done(st)
    assert done["reply"] == "streamed" and done["session_id"] == s["id"]
    ids = [e.id for e in st.events]
    # the event log has the same events with the same ids; a reader that saw up to the
    # tool's start resumes after it
    start = next(e for e in st.events if e.event == "tool_start")
    seen = []

    def read():
        ev = stream_chat(chatd, None, path=f"/api/sessions/{s['id']}/events", method="GET",
                         headers={"Last-Event-ID": str(start.id)}, stop=lambda e: e.event == "done")
        seen.extend(ev.events)
    t = threading.Thread(target=read)
    t.start()
    t.join(CHAT_TIMEOUT)
    # all of them, with the messages of the transcript between (the stream leaves those out)
    want = [int(e.id) for e in st.events if int(e.id) > int(start.id)]
    assert [int(e.id) for e in seen] == list(range(int(start.id) + 1, want[-1] + 1)), (ids, seen)
    assert {int(e.id) for e in seen if e.event != "message"} == set(want), (ids, seen)
    assert seen[-1].event == "done"
    finish(chatd, mock)


def test_an_event_reader_attached_before_the_turn_sees_it_live(chatd, mock):
    s = create(chatd)
    got = []
    ready = threading.Event()

    def read():
        got.append(stream_chat(chatd, None, path=f"/api/sessions/{s['id']}/events", method="GET",
                               stop=lambda e: e.event == "done", opened=ready.set))
    t = threading.Thread(target=read)
    t.start()
    assert ready.wait(su.HOST_WAIT), "the event stream did not open"     # attached: the turn comes after
    mock.enqueue({"text": "live"})
    assert message(chatd, s["id"], "hello")["reply"] == "live"
    t.join(CHAT_TIMEOUT)
    names = got[0].names
    assert "text" in names and names[-1] == "done", names
    finish(chatd, mock)


def test_interrupt_stops_the_running_tool(chatd, mock):
    s = create(chatd)
    mark = su.marker()
    mock.enqueue(calls(bash(f"sleep 600.{mark}")), {"text": "after the interrupt"})
    r = interrupted_turn(chatd, s["id"], f"600.{mark}", "sleep")
    assert r.status == 200 and r.json()["stop_reason"] == "interrupted", r
    assert not su.wait_gone(lambda: su.processes_with(f"600.{mark}")), "the interrupted command still runs"
    # nothing to interrupt now; the session still works, and its transcript kept the turn
    assert_json_error(chatd.request("POST", f"/api/sessions/{s['id']}/interrupt"), 409)
    mock.reset()
    mock.enqueue({"text": "still here"})
    assert message(chatd, s["id"], "again")["reply"] == "still here"
    transcript = chatd.get(f"/api/sessions/{s['id']}/messages").json()["messages"]
    assert "sleep" in json.dumps(transcript)
    finish(chatd, mock)


def test_one_turn_at_a_time(chatd, mock):
    s = create(chatd)
    # the model call of the first turn lasts until the test interrupts it: the second
    # message comes while the turn runs, however slow the machine
    mock.enqueue({"text": "slow", "latency_ms": 600000})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("doc", message(chatd, s["id"], "first")))
    t.start()
    wait_state(chatd, s["id"], "running")
    mock.wait_for_requests(1, timeout=su.HOST_WAIT)
    err = assert_json_error(chatd.post_json(f"/api/sessions/{s['id']}/messages", {"message": "second"}), 409)
    assert "working on a turn" in err["message"]
    assert chatd.request("POST", f"/api/sessions/{s['id']}/interrupt").status == 202
    t.join(CHAT_TIMEOUT)
    assert out["doc"]["stop_reason"] == "interrupted", out
    finish(chatd, mock)


def test_the_idle_timeout_destroys_a_long_running_session(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock)
    host = HostState(d)
    s = create(d, {"idle_timeout_s": 1})
    assert s["idle_timeout_s"] == 1
    wait_state(d, s["id"], "ready")
    # ticks come every 5 s: gone within two of them (on a machine that keeps up)
    assert poll(lambda: d.get(f"/api/sessions/{s['id']}").status != 200, su.HOST_WAIT, interval=0.2)
    assert_json_error(d.get(f"/api/sessions/{s['id']}"), 404)
    assert "idle timeout" in d.stderr
    host.assert_clean()
    finish(d, mock)


def test_api_chat_with_a_session_id_continues_it(chatd, mock):
    s = create(chatd)
    mock.enqueue({"text": "a"}, {"text": "b"})
    r1 = chatd.post_json("/api/chat", {"message": "one", "session_id": s["id"]}, timeout=CHAT_TIMEOUT)
    r2 = chatd.post_json("/api/chat", {"message": "two", "session_id": s["id"]}, timeout=CHAT_TIMEOUT)
    assert r1.status == 200 and r2.status == 200 and r2.json()["reply"] == "b"
    assert len(mock.requests[1]["body"]["messages"]) == 3
    assert get(chatd, s["id"])["turns"] == 2
    finish(chatd, mock)


@pytest.mark.parametrize("body,status,needle", [
    ({"pattern": "forever"}, 400, "pattern must be one of"),
    ({"idle_timeout_s": 0}, 400, "idle_timeout_s"),
    ({"idle_timeout_s": 10 ** 9}, 400, "idle_timeout_s"),
    ({"policy": {"memory_max": "1T"}}, 400, "policy"),
    ({"policy": {"nosuch": 1}}, 400, "policy"),
    ({"model": "claude-nope"}, 400, "not allowed"),
    ({"what": 1}, 400, "unknown field \"what\""),
    ([], 400, "JSON object"),
])
def test_bad_session_requests(chatd, mock, body, status, needle):
    err = assert_json_error(chatd.post_json("/api/sessions", body), status)
    assert needle in err["message"], err
    finish(chatd, mock)


def test_unknown_sessions_are_404(chatd, mock):
    for method, path in [("GET", "/api/sessions/sess_nope"), ("DELETE", "/api/sessions/sess_nope"),
                         ("GET", "/api/sessions/sess_nope/messages"), ("GET", "/api/sessions/sess_nope/events"),
                         ("POST", "/api/sessions/sess_nope/interrupt")]:
        assert_json_error(chatd.request(method, path), 404)
    assert_json_error(chatd.post_json("/api/sessions/sess_nope/messages", {"message": "hi"}), 404)
    assert_json_error(chatd.post_json("/api/chat", {"message": "hi", "session_id": "sess_nope"}), 404)
    finish(chatd, mock)


def test_a_tightened_policy_applies_to_the_session(chatd, mock):
    s = create(chatd, {"policy": {"command_timeout_s": 1, "hostname": "tight"}})
    mock.enqueue(calls(bash("hostname")), calls(bash("sleep 5")), {"text": "ok"})
    message(chatd, s["id"], "look")
    assert only_result(mock, 1) == ("tight", False), only_result(mock, 1)
    text, is_error = only_result(mock, 2)
    assert is_error and "1 s" in text, text
    finish(chatd, mock)


def test_capacity_is_a_503_with_retry_after(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_MAX_SESSIONS=2)
    a, b = create(d), create(d)
    r = d.post_json("/api/sessions", {})
    err = assert_json_error(r, 503)
    assert r.header("Retry-After") and "capacity" in err["message"], r
    d.request("DELETE", f"/api/sessions/{a['id']}")
    c = create(d)
    for x in (b, c):
        d.request("DELETE", f"/api/sessions/{x['id']}")
    finish(d, mock)


def test_the_warm_pool_hands_out_built_sandboxes_and_refills(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_POOL_SIZE=2)
    pool = wait_pool_ready(d, 2)
    assert pool["size"] == 2 and pool["ready"] == 2 and pool["hits"] == 0, pool
    # a session made now is ready at once: its sandbox was built before
    s = create(d)
    assert s["state"] == "ready", s
    mock.enqueue(calls(bash("hostname; ls -A /workspace | wc -l")), {"text": "pooled"})
    assert message(d, s["id"], "where am I")["reply"] == "pooled"
    assert only_result(mock, 1) == ("sandbox\n0", False), only_result(mock, 1)
    # an ephemeral chat takes one too; the pool is topped up behind them
    mock.enqueue({"text": "ephemeral"})
    assert d.post_json("/api/chat", {"message": "hi"}, timeout=CHAT_TIMEOUT).json()["reply"] == "ephemeral"
    # one with its own policy builds its own sandbox
    t = create(d, {"policy": {"pids_max": 64}})
    assert t["state"] == "creating", t
    pool = wait_pool_ready(d, 2)
    assert pool["ready"] == 2 and pool["hits"] == 2 and pool["misses"] == 0, pool
    # pooled sandboxes belong to nobody: they are not listed
    assert sorted(x["id"] for x in d.get("/api/sessions").json()["sessions"]) == sorted([s["id"], t["id"]])
    finish(d, mock)


def test_a_session_belongs_to_the_token_that_made_it(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS="tok-alice-0123456789,tok-bob-0123456789",
                          AGENTD_RATE_PER_MINUTE=0)
    alice = {"Authorization": "Bearer tok-alice-0123456789"}
    bob = {"Authorization": "Bearer tok-bob-0123456789"}
    assert_json_error(d.post_json("/api/sessions", {}), 401)
    r = d.post_json("/api/sessions", {}, headers=alice)
    assert r.status == 201, r
    sid = r.json()["id"]
    assert d.get(f"/api/sessions/{sid}", headers=alice).status == 200
    # to another token it does not exist, whatever the verb
    assert_json_error(d.get(f"/api/sessions/{sid}", headers=bob), 404)
    assert_json_error(d.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, headers=bob), 404)
    assert_json_error(d.post_json("/api/chat", {"message": "hi", "session_id": sid}, headers=bob), 404)
    assert_json_error(d.request("DELETE", f"/api/sessions/{sid}", headers=bob), 404)
    for method, tail, body in (("POST", "exec", {"command": "touch /workspace/bob-was-here"}),
                               ("PUT", "files/bob.txt", b"bob"), ("GET", "files/", None),
                               ("DELETE", "files/x", None), ("GET", "events", None),
                               ("POST", "interrupt", None), ("GET", "history", None),
                               ("GET", "messages", None), ("POST", "suspend", None)):
        hdrs = dict(bob, **({"Content-Type": "application/json"} if isinstance(body, dict) else {}))
        data = json.dumps(body) if isinstance(body, dict) else body
        r = d.request(method, f"/api/sessions/{sid}/{tail}", body=data, headers=hdrs)
        assert_json_error(r, 404)
    assert d.get("/api/sessions", headers=bob).json()["sessions"] == []
    # nothing bob sent reached alice's sandbox
    listing = d.get(f"/api/sessions/{sid}/files/", headers=alice).json()["entries"]
    assert listing == [], listing
    assert [x["id"] for x in d.get("/api/sessions", headers=alice).json()["sessions"]] == [sid]
    mock.enqueue({"text": "for alice"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, headers=alice, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "for alice", r
    assert d.request("DELETE", f"/api/sessions/{sid}", headers=alice).status == 200
    finish(d, mock)


def test_the_session_cap_per_token(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS="tok-alice-0123456789,tok-bob-0123456789",
                          AGENTD_RATE_PER_MINUTE=0, AGENTD_MAX_SESSIONS_PER_TOKEN=1)
    alice = {"Authorization": "Bearer tok-alice-0123456789"}
    bob = {"Authorization": "Bearer tok-bob-0123456789"}
    assert d.post_json("/api/sessions", {}, headers=alice).status == 201
    r = d.post_json("/api/sessions", {}, headers=alice)
    err = assert_json_error(r, 503)
    assert r.header("Retry-After") and "session.max_per_token" in err["message"], err
    assert d.post_json("/api/sessions", {}, headers=bob).status == 201
    finish(d, mock)


def test_a_session_deleted_while_its_sandbox_is_made_stays_deleted(daemon_factory, mock):
    """DELETE of a suspended hybrid session at the moment a message resumes it: the
    session is gone for good and so is any sandbox the resume made (a race: it is tried
    a number of times, the two requests let go together)."""
    from chat_util import start_chat_daemon
    from conftest import assert_no_sanitizer_report, read_response
    d = start_chat_daemon(daemon_factory, mock, AGENTD_HTTP_THREADS=4)
    host = HostState(d)

    def raw(method, path, body=b""):
        return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body

    for i in range(8):
        sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
        mock.enqueue({"text": "first"})
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "first"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200, r
        assert d.request("POST", f"/api/sessions/{sid}/suspend").status == 200
        mock.enqueue({"text": "maybe"})
        reqs = [("POST", raw("POST", f"/api/sessions/{sid}/messages", json.dumps({"message": "hi"}).encode())),
                ("DELETE", raw("DELETE", f"/api/sessions/{sid}"))]
        if i % 2:
            reqs.reverse()
        socks = [d.connect(timeout=60) for _ in reqs]
        for s, (_, r) in zip(socks, reqs):
            s.sendall(r[:-1])
        time.sleep(0.1)
        for s, (_, r) in zip(socks, reqs):
            s.sendall(r[-1:])
        for s, (method, _) in zip(socks, reqs):
            try:
                read_response(s, method, timeout=60)
            finally:
                s.close()
        assert d.get(f"/api/sessions/{sid}").status == 404
        host.assert_clean()
    d.assert_serving()
    assert_no_sanitizer_report(d.stderr)


def test_a_sandbox_that_cannot_be_set_up_fails_its_session_saying_why(daemon_factory, mock, tmp_path):
    # a bind whose source the sandbox's ids cannot reach (under a 0700 directory of root's)
    hidden = tmp_path / "private"
    (hidden / "data").mkdir(parents=True)
    hidden.chmod(0o700)
    d = daemon_factory(settings=chat_settings({"sandbox": {"uid_base": UID_BASE, "uid_count": UID_COUNT,
                                                           "binds": [f"{hidden}/data:/data"]}}),
                       env=chat_env(mock))
    sid = d.post_json("/api/sessions", {}).json()["id"]
    doc = poll(lambda: (lambda j: j if j["state"] == "failed" else None)(d.get(f"/api/sessions/{sid}").json()),
               su.HOST_WAIT)
    assert doc, d.get(f"/api/sessions/{sid}").json()
    assert f"bind source {hidden}/data" in doc["error"] and "EACCES" in doc["error"], doc
    # a message to it is refused, saying why the session ended (not that it is busy)
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, timeout=CHAT_TIMEOUT)
    err = assert_json_error(r, 409)
    assert err["type"] == "session_ended_error", err
    assert "has ended" in err["message"] and f"bind source {hidden}/data" in err["message"], err
    r = d.post_json("/api/chat", {"message": "hi"}, timeout=CHAT_TIMEOUT)
    assert r.status == 500 and "bind source" in r.json()["error"]["message"], r
    finish(d, mock)
