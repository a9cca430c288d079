"""Background processes: POST .../exec with "background": true starts a command that
outlives its request and the session's turns; GET .../processes lists them, GET
.../processes/{id} shows one with the tail of its output, DELETE kills it with all it
started. Listing and reading work during a turn too (the supervisor reads the records);
at most sandbox.max_background run at once; they go with their session's sandbox."""

import time

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chatd, finish, mock,  # noqa: F401
                       only_result, start_chat_daemon)
from conftest import assert_json_error, poll
import sandbox_util as su
from test_files_during_turn import HeldTurn

WAIT = su.HOST_WAIT
NO_PROXY = "curl --noproxy '*' -sS -m 30"


def create(d, body=None):
    r = d.post_json("/api/sessions", body if body is not None else {})
    assert r.status == 201, r
    return r.json()["id"]


def exec_(d, sid, command):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, "timeout_s": 60}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def start(d, sid, command, status=201):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, "background": True}, timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def show(d, sid, pid):
    r = d.get(f"/api/sessions/{sid}/processes/{pid}", timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def listed(d, sid):
    r = d.get(f"/api/sessions/{sid}/processes", timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-2000:]}"
    return {p["id"]: p for p in r.json()["processes"]}


def kill(d, sid, pid, status=200):
    r = d.request("DELETE", f"/api/sessions/{sid}/processes/{pid}", timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def ended(d, sid, pid):
    """The process once it is no longer running (the test's deadline otherwise)."""
    return poll(lambda: (lambda p: p if p["state"] != "running" else None)(show(d, sid, pid)), WAIT, interval=0.1)


def count(d, sid, args):
    """How many processes of the sandbox pgrep finds with args, asked from inside."""
    return int(exec_(d, sid, f"pgrep -c {args} || true")["output"].strip())


def test_a_background_server_outlives_its_request_and_a_turn(chatd, mock):
    sid = create(chatd)
    exec_(chatd, sid, "echo served-from-the-workspace > index.txt")
    t0 = time.time()
    cmd = "exec python3 -u -m http.server 8000 --bind 127.0.0.1"
    p = start(chatd, sid, cmd)
    assert p["id"].startswith("proc_") and p["command"] == cmd and p["state"] == "running", p
    assert isinstance(p["pid"], int) and p["pid"] > 1 and t0 - 1 <= p["started"] <= time.time() + 1, p
    assert p["exit_status"] is None and p["signal"] is None and p["ended"] is None, p
    # it listens, in /workspace, and what it prints is kept
    assert poll(lambda: "Serving HTTP" in show(chatd, sid, p["id"])["output"], WAIT, interval=0.1)
    out = exec_(chatd, sid, f"{NO_PROXY} http://127.0.0.1:8000/index.txt")["output"]
    assert out == "served-from-the-workspace\n", out
    r = chatd.get(f"/api/sessions/{sid}/ports/8000/index.txt", timeout=CHAT_TIMEOUT)   # and from outside
    assert r.status == 200 and r.body == b"served-from-the-workspace\n", r
    got = poll(lambda: (lambda s: s if "GET /index.txt" in s["output"] else None)(show(chatd, sid, p["id"])), WAIT)
    assert got and got["state"] == "running" and got["output_truncated"] is False, got
    assert got["output_bytes"] == len(got["output"].encode()), got
    # a turn reaches it, and leaves it running
    mock.enqueue(calls(bash(f"{NO_PROXY} http://127.0.0.1:8000/index.txt")), {"text": "seen"})
    r = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "fetch it"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and only_result(mock, 1) == ("served-from-the-workspace", False), r
    procs = listed(chatd, sid)
    assert list(procs) == [p["id"]] and procs[p["id"]]["state"] == "running", procs
    assert procs[p["id"]]["pid"] == p["pid"] and "output" not in procs[p["id"]], procs
    # killed: it answers as it ended, and stays listed so
    k = kill(chatd, sid, p["id"])
    assert k["state"] == "killed" and k["signal"] == 9 and k["exit_status"] == 137, k
    assert k["ended"] >= k["started"], k
    assert listed(chatd, sid)[p["id"]]["state"] == "killed"
    assert poll(lambda: count(chatd, sid, "-f '[h]ttp.server'") == 0, WAIT, interval=0.1)
    # the exec is in the history, as started
    hist = [h for h in chatd.get(f"/api/sessions/{sid}/history").json()["history"] if h["input"] == cmd]
    assert [(h["kind"], h["is_error"], h["exit_status"]) for h in hist] == [("exec", False, None)], hist
    finish(chatd, mock)


def test_a_kill_ends_all_it_started_and_an_end_by_itself_is_recorded(chatd, mock):
    sid = create(chatd)
    # a child in the group, one in a session of its own, one orphaned by a double fork
    p = start(chatd, sid, "sleep 1001 & setsid sleep 1002 & (setsid sleep 1003 &); sleep 1004")
    assert poll(lambda: count(chatd, sid, "-x sleep") == 4, WAIT, interval=0.1)
    assert kill(chatd, sid, p["id"])["state"] == "killed"
    assert poll(lambda: count(chatd, sid, "-x sleep") == 0, WAIT, interval=0.1), "a process it started lives on"
    # one that ends by itself: its status, stdout and stderr
    q = start(chatd, sid, "echo out; echo err >&2; exit 7")
    done = ended(chatd, sid, q["id"])
    assert done["state"] == "exited" and done["exit_status"] == 7 and done["signal"] is None, done
    assert done["output"] == "out\nerr\n" and done["ended"] >= done["started"], done
    # one a signal ended from inside
    s = start(chatd, sid, "kill -TERM $$")
    done = ended(chatd, sid, s["id"])
    assert (done["state"], done["exit_status"], done["signal"]) == ("exited", 143, 15), done
    # a kill of one that has ended answers how it ended
    assert kill(chatd, sid, q["id"])["exit_status"] == 7
    assert [listed(chatd, sid)[i]["state"] for i in (p["id"], q["id"], s["id"])] == ["killed", "exited", "exited"]
    finish(chatd, mock)


def test_output_keeps_its_last_mib_as_text_and_never_stalls_the_writer(chatd, mock):
    sid = create(chatd)
    # 3.3 MB of three-byte characters: the tail is cut in the middle of one
    p = start(chatd, sid, "python3 -c \"import sys; sys.stdout.write('\\u65e5' * 1100000 + 'END\\n\\n')\"")
    done = ended(chatd, sid, p["id"])
    assert done["state"] == "exited" and done["exit_status"] == 0, done
    out = done["output"]
    assert done["output_truncated"] is True and done["output_bytes"] == 3 * 1100000 + 5, {**done, "output": out[-50:]}
    assert out.endswith("END\n\n") and set(out[:-5]) == {"\u65e5"}, out[:20]
    assert (1 << 20) - 3 <= len(out.encode()) <= 1 << 20, len(out.encode())
    # what it takes in the sandbox's /tmp is capped too
    size = exec_(chatd, sid, f"stat -c %s /tmp/.agentd/procs-*/{p['id']}/output")["output"]
    assert int(size) <= (1 << 20) + 8, size
    finish(chatd, mock)


def test_at_most_max_background_run_at_once(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SANDBOX_MAX_BACKGROUND=2)
    sid = create(d)
    a, b = start(d, sid, "sleep 1000"), start(d, sid, "sleep 1000")
    err = assert_json_error(d.post_json(f"/api/sessions/{sid}/exec", {"command": "true", "background": True}), 409)
    assert "2 background processes are running" in err["message"] and "max_background" in err["message"], err
    kill(d, sid, a["id"])
    c = start(d, sid, "true")                      # a place is free again; this one ends by itself
    ended(d, sid, c["id"])
    start(d, sid, "sleep 1000")
    assert sorted(p["state"] for p in listed(d, sid).values()) == ["exited", "killed", "running", "running"]
    assert b["id"] in listed(d, sid)
    # another session has places of its own
    start(d, create(d), "true")
    finish(d, mock)


def test_bad_requests_and_unknown_processes_are_refused_clearly(chatd, mock):
    sid = create(chatd)
    url = f"/api/sessions/{sid}/exec"
    for body, words in (({"command": "true", "background": "yes"}, "background must be true or false"),
                        ({"command": "true", "background": 1}, "background must be true or false"),
                        ({"command": "true", "background": True, "timeout_s": 5}, "no timeout_s"),
                        ({"command": "true", "background": True, "stream": True}, "no stream"),
                        ({"background": True}, "command must be a string")):
        err = assert_json_error(chatd.post_json(url, body), 400)
        assert words in err["message"], (body, err)
    for path in ("proc_0123456789abcdef", "nonsense", "proc_..", "%2e%2e"):
        for method in ("GET", "DELETE"):
            r = chatd.request(method, f"/api/sessions/{sid}/processes/{path}")
            err = assert_json_error(r, 404)
            assert "no background process" in err["message"], (method, path, err)
    assert listed(chatd, sid) == {}
    err = assert_json_error(chatd.get("/api/sessions/sess_neverwas/processes"), 404)
    assert "sess_neverwas" in err["message"], err
    finish(chatd, mock)


def test_processes_are_read_during_a_turn_and_killed_after_it(chatd, mock):
    sid = create(chatd)
    p = start(chatd, sid, "echo ready; exec sleep 1000")
    held = HeldTurn(chatd, mock, sid, "true")
    try:
        assert chatd.get(f"/api/sessions/{sid}").json()["state"] == "running"
        assert listed(chatd, sid)[p["id"]]["state"] == "running"
        assert poll(lambda: show(chatd, sid, p["id"])["output"] == "ready\n", WAIT, interval=0.1)
        err = assert_json_error(chatd.request("DELETE", f"/api/sessions/{sid}/processes/{p['id']}"), 409)
        assert "turn" in err["message"], err
        err = assert_json_error(chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "true", "background": True}), 409)
        assert "turn" in err["message"], err
    finally:
        held.release()
    assert kill(chatd, sid, p["id"])["state"] == "killed"
    finish(chatd, mock)


def test_nothing_is_left_once_the_session_is_deleted(chatd, mock):
    state = HostState(chatd)
    tag = su.marker()
    sid = create(chatd)
    for i in range(3):
        start(chatd, sid, f"setsid sleep 1000 & sleep 2000; : {tag}")
    assert poll(lambda: len(su.processes_with(tag)) == 3, WAIT, interval=0.1)
    # each bash has forked its two sleeps, and both have been exec'd, only some time after
    assert poll(lambda: count(chatd, sid, "-x sleep") == 6, WAIT, interval=0.1), count(chatd, sid, "-x sleep")
    assert chatd.request("DELETE", f"/api/sessions/{sid}").status == 200
    state.assert_clean(tag)
    finish(chatd, mock)


def test_in_a_shared_sandbox_each_session_has_its_own_and_they_go_with_it(chatd, mock):
    a = create(chatd, {"pattern": "shared", "sandbox": "team"})
    b = create(chatd, {"pattern": "shared", "sandbox": "team"})
    assert poll(lambda: all(chatd.get(f"/api/sessions/{s}").json()["state"] == "ready" for s in (a, b)), WAIT)
    pa = start(chatd, a, "exec sleep 1001")
    pb = start(chatd, b, "exec sleep 1002")
    assert list(listed(chatd, a)) == [pa["id"]] and list(listed(chatd, b)) == [pb["id"]]
    assert_json_error(chatd.request("DELETE", f"/api/sessions/{b}/processes/{pa['id']}"), 404)
    # the sandbox stays with b; a's process goes with a, records and all
    assert chatd.request("DELETE", f"/api/sessions/{a}").status == 200
    assert poll(lambda: exec_(chatd, b, "pgrep -x sleep -a")["output"].split() == [str(pb["pid"]), "sleep", "1002"],
                WAIT, interval=0.1)
    left = exec_(chatd, b, "ls /tmp/.agentd")["output"].split()
    assert len(left) == 1 and show(chatd, b, pb["id"])["state"] == "running", left
    finish(chatd, mock)
