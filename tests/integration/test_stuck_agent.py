"""A sandbox can stop its own agent (kill -STOP 2) or a hostile API can flood it: no
write between agentd's processes may then wait for ever. Delete, the session's time
limit, interrupt and the daemon's stop must work whatever the agent does (the sandbox
is killed through its cgroup), and no HTTP worker or the hub may be held up, so other
sessions and /api/health go on answering. A supervisor killed with SIGKILL leaves no
cgroup and its session says why it failed."""

import os
import signal
import subprocess
import threading

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chat_ok, chatd, finish, mock,  # noqa: F401
                       sandbox_processes, post_chat)
from conftest import poll
import sandbox_util as su

UPLOAD = 4_000_000          # more than the sockets between the processes hold


def _nspid(pid):
    """The pid in the innermost pid namespace (the sandbox's), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return None


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _agent(d):
    """The host pid of the (only) sandbox's agent: pid 2 inside."""
    found = [p for p in sandbox_processes(d.proc.pid) if _nspid(p) == 2]
    return found[0] if len(found) == 1 else None


def _session(d, **policy):
    r = d.post_json("/api/sessions", {"pattern": "long-running", "policy": policy} if policy
                    else {"pattern": "long-running"})
    assert r.status == 201, r
    return r.json()["id"]


def _stop_the_agent(d, sid, mark):
    """From inside: a workload that outlives the exec, and the agent stopped."""
    r = d.post_json(f"/api/sessions/{sid}/exec", {
        "command": f"setsid sleep 100000.{mark} </dev/null >/dev/null 2>&1 & "
                   "setsid sh -c 'sleep 0.2; kill -STOP 2' </dev/null >/dev/null 2>&1 & echo ok"},
        timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["output"].strip() == "ok", r
    agent = poll(lambda: _agent(d), 10)
    assert agent, "no agent found"
    assert poll(lambda: _state(agent) == "T", 10), f"the agent is not stopped: {_state(agent)}"
    return agent


def _agent_backlog(agent):
    """Bytes waiting in the stopped agent's socket for it to read (ss -x)."""
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if f"pid={agent}," in line:
            return int(line.split()[2])
    return 0


def _upload_in_background(d, sid, agent):
    """PUT a file the stopped agent will never read; the answer, when it comes."""
    out = {}

    def run():
        try:
            out["r"] = d.request("PUT", f"/api/sessions/{sid}/files/big.bin", body=os.urandom(UPLOAD),
                                 headers={"Content-Type": "application/octet-stream"}, timeout=120)
        except Exception as e:          # noqa: BLE001 - reported by the test
            out["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    # the supervisor has written what the agent's socket holds, and the rest waits
    assert poll(lambda: _agent_backlog(agent) > 100_000, 30), "the upload never reached the agent's socket"
    return t, out


def _stuck_upload(d, **policy):
    """A session whose agent is stopped, with an upload waiting for it: (host state
    before, marker of its workload, session id, upload thread, its answer)."""
    host = HostState(d)
    mark = su.marker()
    sid = _session(d, **policy)
    agent = _stop_the_agent(d, sid, mark)
    t, out = _upload_in_background(d, sid, agent)
    return host, mark, sid, t, out


def _health_answers(d):
    r = d.get("/api/health", timeout=5)
    assert r.status == 200, r


def test_delete_ends_a_session_whose_agent_is_stopped(chatd, mock):
    host, mark, sid, t, out = _stuck_upload(chatd)
    _health_answers(chatd)
    r = chatd.request("DELETE", f"/api/sessions/{sid}", timeout=10)
    assert r.status == 200, r
    host.assert_clean(marker=mark, timeout=20)
    t.join(30)
    assert not t.is_alive(), "the upload never got an answer"
    assert "r" in out and out["r"].status >= 400, out
    _health_answers(chatd)
    finish(chatd, mock)


def test_the_time_limit_ends_a_session_whose_agent_is_stopped(chatd, mock):
    host, mark, sid, t, out = _stuck_upload(chatd, session_timeout_s=6)
    failed = poll(lambda: chatd.get(f"/api/sessions/{sid}").json().get("state") == "failed", 40, interval=0.2)
    doc = chatd.get(f"/api/sessions/{sid}").json()
    assert failed, doc
    assert "time limit" in doc.get("error", ""), doc
    host.assert_clean(marker=mark, timeout=20)
    t.join(30)
    assert "r" in out and out["r"].status >= 400, out
    finish(chatd, mock)


def test_an_agent_that_takes_nothing_for_30_s_ends_its_session(chatd, mock):
    """No delete, no time limit: the supervisor itself gives up on an agent that has taken
    nothing of what it was sent for 30 s (SUP_STALL_MS), kills the sandbox and says so."""
    host, mark, sid, t, out = _stuck_upload(chatd)
    failed = poll(lambda: chatd.get(f"/api/sessions/{sid}").json().get("state") == "failed", 90, interval=0.5)
    doc = chatd.get(f"/api/sessions/{sid}").json()
    assert failed and "took nothing it was sent for 30 s" in doc.get("error", ""), doc
    host.assert_clean(marker=mark, timeout=20)
    t.join(30)
    assert "r" in out and out["r"].status >= 400 and "took nothing" in out["r"].body.decode(), out
    _health_answers(chatd)
    finish(chatd, mock)


def test_an_interrupt_ends_a_turn_whose_agent_stopped_itself(chatd, mock):
    host = HostState(chatd)
    mark = su.marker()
    sid = _session(chatd)
    # the tool stops the agent that runs it, then ends: the agent never answers again
    mock.enqueue(calls(bash(f"setsid sleep 100000.{mark} </dev/null >/dev/null 2>&1 & kill -STOP 2; echo x")),
                 {"text": "never"})
    out = {}
    t = threading.Thread(target=lambda: out.update(r=post_chat(chatd, {"message": "go", "session_id": sid})),
                         daemon=True)
    t.start()
    agent = poll(lambda: _agent(chatd), 20)
    assert agent and poll(lambda: _state(agent) == "T", 20), "the agent did not stop"
    # many interrupts: none may hold an HTTP worker or the hub
    codes = {chatd.request("POST", f"/api/sessions/{sid}/interrupt", timeout=10).status for _ in range(300)}
    assert codes <= {202, 409}, codes
    _health_answers(chatd)
    t.join(30)
    assert not t.is_alive(), "the turn never ended after the interrupt"
    assert out["r"].status >= 400, out["r"]
    assert "interrupt" in out["r"].json()["error"]["message"], out["r"].json()
    # the turn's answer comes first; the session fails once its supervisor has gone
    assert poll(lambda: chatd.get(f"/api/sessions/{sid}").json()["state"] == "failed", 20)
    doc = chatd.get(f"/api/sessions/{sid}").json()
    assert "interrupt" in doc["error"], doc
    host.assert_clean(marker=mark, timeout=20)
    finish(chatd, mock)


def test_the_daemon_stops_with_a_stopped_agent_and_leaves_nothing(chatd, mock):
    host, mark, sid, t, out = _stuck_upload(chatd)
    before = set(sandbox_processes(chatd.proc.pid)) | {chatd.proc.pid}
    chatd.stop()                # SIGTERM, and it must exit 0
    gone = poll(lambda: not [p for p in before if _state(p) not in (None, "Z")] and not su.processes_with(mark), 20)
    assert gone, {p: _state(p) for p in before}
    host.assert_clean(marker=mark, timeout=20)
    t.join(30)


def test_a_flood_of_huge_deltas_from_the_api_cannot_wedge_a_session(chatd, mock):
    # 6 MiB of text in 1 MiB deltas: each is more than every socket between the
    # processes holds, in both directions at once
    mock.enqueue({"text": "x" * (6 << 20), "chunk_chars": 1 << 20})
    out = {}
    t = threading.Thread(target=lambda: out.update(r=post_chat(chatd, {"message": "flood me"}, timeout=120)),
                         daemon=True)
    t.start()
    while t.is_alive():
        _health_answers(chatd)
        t.join(0.5)
    r = out["r"]
    assert r.status == 200 and len(r.json()["reply"]) == 6 << 20 or r.status >= 400, r
    mock.take_violations()
    mock.enqueue({"text": "fine"})
    assert chat_ok(chatd, "after the flood")["reply"] == "fine"
    finish(chatd, mock)


def test_a_supervisor_killed_with_sigkill_leaves_no_cgroup(chatd, mock):
    host = HostState(chatd)
    mark = su.marker()
    sid = _session(chatd)
    r = chatd.post_json(f"/api/sessions/{sid}/exec",
                        {"command": f"setsid sleep 100000.{mark} </dev/null >/dev/null 2>&1 & echo ok"})
    assert r.status == 200, r
    os.kill(_supervisor_of(chatd), signal.SIGKILL)
    failed = poll(lambda: chatd.get(f"/api/sessions/{sid}").json().get("state") == "failed", 20, interval=0.1)
    doc = chatd.get(f"/api/sessions/{sid}").json()
    assert failed and doc.get("error"), doc
    # the cgroup goes now, not at the next start
    host.assert_clean(marker=mark, timeout=20)
    assert chatd.wait_for_log("was killed by signal 9", timeout=10), chatd.stderr
    finish(chatd, mock)


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def _ancestors(pid):
    out = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        out.append(pid)
    return out


def test_a_stopped_supervisor_holds_no_http_worker(chatd, mock):
    """The gateway never waits on a supervisor: with one stopped (SIGSTOP), an upload to
    its session is queued, other requests are answered meanwhile, and once the
    supervisor has taken nothing for 30 s the gateway gives up on it: the upload is
    answered with an error, the session fails saying why, and the supervisor, which
    would never see the hang-up, is killed and its sandbox removed."""
    host = HostState(chatd)
    sid = _session(chatd)
    sup = _supervisor_of(chatd)
    os.kill(sup, signal.SIGSTOP)
    try:
        out = {}
        t = threading.Thread(target=lambda: out.update(r=chatd.request(
            "PUT", f"/api/sessions/{sid}/files/big.bin", body=os.urandom(UPLOAD),
            headers={"Content-Type": "application/octet-stream"}, timeout=120)), daemon=True)
        t.start()
        other = _session(chatd)
        r = chatd.post_json(f"/api/sessions/{other}/exec", {"command": "echo other"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200 and r.json()["output"] == "other\n", r
        _health_answers(chatd)
        t.join(100)
        assert not t.is_alive(), "the upload to a stopped supervisor was never answered"
        assert out["r"].status >= 500, out["r"]
        doc = chatd.get(f"/api/sessions/{sid}").json()
        assert doc["state"] == "failed" and "supervisor" in doc["error"], doc
        assert chatd.wait_for_log(f"gave up on supervisor {sup} ", timeout=su.HOST_WAIT)
        assert poll(lambda: not os.path.exists(f"/proc/{sup}"), su.HOST_WAIT), "the stuck supervisor lives on"
    finally:
        try:
            os.kill(sup, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert chatd.request("DELETE", f"/api/sessions/{other}").status == 200
    host.assert_clean(timeout=20)
    finish(chatd, mock)


def _supervisor_of(d):
    """The host pid of the (only) supervisor of daemon d."""
    def find():
        # a child the supervisor has just forked (the sandbox's, before its exec) bears the
        # supervisor's name too: a supervisor is one whose parent is not one
        mine = {p: _ancestors(p) for p in su.host_processes()
                if _comm(p) == "agentd-session" and d.proc.pid in _ancestors(p)}
        tops = [p for p, up in mine.items() if up and up[0] not in mine]
        return tops if len(tops) == 1 else None
    sups = poll(lambda: find(), 30) or []
    assert len(sups) == 1, sups
    return sups[0]
