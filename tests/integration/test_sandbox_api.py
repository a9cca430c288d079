"""The Messages API a supervisor serves inside its sandbox (ANTHROPIC_UNIX_SOCKET, and
ANTHROPIC_BASE_URL on the sandbox's 127.0.0.1), for programs other than the built-in
agent: a placeholder key goes in, the real one is added outside; requests go on with
their query string and anthropic-* headers, answers come back as they came (an event
stream included); the model allow-list, runtime.model_map and the session's budget
hold; what the API counted is the session's usage. A probe (api_probe.py) run with
exec plays the client, as a CLI would."""

import json
import os
import pathlib
import threading

import pytest

from chat_util import (CHAT_TIMEOUT, KEY, MODEL, OTHER_MODEL, finish, mock, mock_usage,  # noqa: F401
                       start_chat_daemon)
from conftest import poll
import sandbox_util as su

PROBE = pathlib.Path(__file__).resolve().with_name("api_probe.py").read_bytes()


def create(d, body=None):
    r = d.post_json("/api/sessions", {"pattern": "long-running", **(body or {})})
    assert r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle", "failed"),
                su.HOST_WAIT)
    return sid


def probe(d, sid, *requests):
    """The probe's results for requests, made from inside the sandbox."""
    r = d.request("PUT", f"/api/sessions/{sid}/files/probe.py", body=PROBE)
    assert r.status in (200, 201), r
    args = " ".join("'" + json.dumps(q).replace("'", "'\\''") + "'" for q in requests)
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": f"python3 /workspace/probe.py {args}"},
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    out = r.json()["output"]
    assert r.json()["exit_status"] == 0, out
    return json.loads(out)


def message(model=MODEL, stream=False, text="hello"):
    return {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": text}]}


def test_a_program_in_the_sandbox_reaches_the_api_with_the_key_added_outside(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock)
    sid = create(d)
    mock.enqueue({"text": "over the socket"}, {"text": "streamed"}, {"text": "over the port"})
    beta = "claude-code-20250219,context-management-2025-06-27"
    got = probe(d, sid,
                {"path": "/v1/messages?beta=true", "headers": {"anthropic-beta": beta}, "body": message()},
                {"path": "/v1/messages", "body": message(stream=True)},
                {"via": "tcp", "path": "/v1/messages", "body": message()})
    plain, streamed, tcp = got
    assert plain["status"] == 200 and plain["body"]["content"][0]["text"] == "over the socket", plain
    assert plain["headers"]["content-type"].startswith("application/json"), plain
    assert plain["headers"].get("request-id"), plain
    assert streamed["status"] == 200 and streamed["headers"]["content-type"].startswith("text/event-stream")
    events = [line[7:] for line in streamed["body"].splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop", events
    assert '"text":"streamed"' in streamed["body"].replace(" ", ""), streamed["body"]
    assert tcp["status"] == 200 and tcp["body"]["content"][0]["text"] == "over the port", tcp

    # the API saw the real key, the query string and the client's anthropic-* headers
    assert [r["path"] for r in mock.requests] == ["/v1/messages?beta=true", "/v1/messages", "/v1/messages"]
    for r in mock.requests:
        assert r["headers"]["x-api-key"] == KEY
    assert mock.requests[0]["headers"]["anthropic-beta"] == beta
    assert "authorization" not in mock.requests[0]["headers"]

    # what the API counted is the session's, as for the built-in agent
    want = mock_usage(mock)
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["usage"] == want, su.HOST_WAIT), \
        (d.get(f"/api/sessions/{sid}").json()["usage"], want)
    finish(d, mock)


def test_the_sandbox_api_keeps_the_relays_rules(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, {"anthropic": {"models": [OTHER_MODEL]},
                                                 "runtime": {"model_map": [f"claude-alias={OTHER_MODEL}"]}})
    sid = create(d)
    mock.enqueue({"text": "mapped"})
    got = probe(d, sid,
                {"path": "/v1/messages", "body": message(model="claude-nope")},
                {"path": "/v1/messages", "body": message(model="claude-alias")},
                {"path": "/v1/models", "method": "GET"},
                {"path": "/v1/complete", "body": {"prompt": "x"}},
                {"path": "/v1/messages", "body": "{not json"})
    refused, mapped, models, complete, garbage = got
    assert refused["status"] == 400 and refused["body"]["type"] == "error", refused
    assert refused["body"]["error"]["type"] == "invalid_request_error"
    assert "claude-nope" in refused["body"]["error"]["message"] and "not allowed" in refused["body"]["error"]["message"]
    assert mapped["status"] == 200 and mapped["body"]["model"] == OTHER_MODEL, mapped
    for r in (models, complete):
        assert r["status"] == 404 and r["body"]["error"]["type"] == "not_found_error", r
        assert "/v1/messages" in r["body"]["error"]["message"], r
    assert garbage["status"] == 400 and "JSON" in garbage["body"]["error"]["message"], garbage
    # only the mapped request reached the API, as the model agentd allows
    assert [r["body"]["model"] for r in mock.requests] == [OTHER_MODEL]
    finish(d, mock)


def test_the_session_budget_stops_a_program_that_calls_without_end(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SESSION_MAX_REQUESTS=2)
    sid = create(d)
    mock.enqueue({"text": "one"}, {"text": "two"})
    got = probe(d, sid, *[{"path": "/v1/messages", "body": message()}] * 4)
    assert [g["status"] for g in got] == [200, 200, 429, 429], got
    over = got[2]
    assert over["headers"].get("x-should-retry") == "false", over["headers"]
    assert "session.max_requests" in over["body"]["error"]["message"], over
    assert len(mock.requests) == 2
    # count_tokens is not a model request: it goes on, and is not counted
    got = probe(d, sid, {"path": "/v1/messages/count_tokens",
                         "body": {"model": MODEL, "messages": [{"role": "user", "content": "count me"}]}})
    assert got[0]["status"] == 200 and got[0]["body"]["input_tokens"] > 0, got
    assert len(mock.requests) == 3 and mock.requests[2]["path"] == "/v1/messages/count_tokens"
    finish(d, mock)


def test_the_sandbox_environment_holds_the_api_beside_the_proxy_and_no_key(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, {"network": {"allow": ["pypi.example"]}})
    sid = create(d, {"network": {"allow": ["pypi.example"]}})
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "env | sort"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    env = dict(line.split("=", 1) for line in r.json()["output"].splitlines() if "=" in line)
    assert env["ANTHROPIC_UNIX_SOCKET"] == "/run/agentd/api.sock", env
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4180", env
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:3128" and "127.0.0.1" in env["NO_PROXY"], env
    assert "placeholder" in env["ANTHROPIC_API_KEY"] and KEY not in r.json()["output"], env
    # the socket is the supervisor's: the sandbox may not remove or replace it
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "rm -f /run/agentd/api.sock; echo rc=$?; "
                                                  "ls -l /run/agentd/api.sock"}, timeout=CHAT_TIMEOUT)
    assert "rc=1" in r.json()["output"] and "srw" in r.json()["output"], r.json()["output"]
    finish(d, mock)


def test_hostile_clients_in_the_sandbox_end_only_their_own_requests(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock)
    sid = create(d)
    head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
    got = probe(d, sid,
                {"raw": head + "Content-Length: 40000000\r\n\r\n"},
                {"raw": head + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
                {"raw": head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello"},
                {"raw": "BREW /v1/messages HTCPCP/1.0\r\n\r\n"},
                {"raw": "GET /v1/messages HTTP/1.1\r\nHost: x\r\n" + "X-Long: " + "y" * 70000 + "\r\n\r\n"},
                {"hold": 40},
                {"path": "/v1/messages", "body": message()})
    too_large, chunked, twice, garbage, long_head, held, served = got
    assert too_large["status"] == 413 and "32 MiB" in too_large["body"], too_large
    assert chunked["status"] == 411 and "Content-Length" in chunked["body"], chunked
    assert twice["status"] == 400, twice
    assert garbage["status"] == 400, garbage
    assert long_head["status"] == 431 and "64 KiB" in long_head["body"], long_head
    assert too_large["line"] == "HTTP/1.1 413 Content Too Large", too_large
    # 40 silent connections: the first 32 wait for their requests, the others and the
    # probe's own are refused until they go (with a 429 the client may not get to read:
    # the refusal comes before its request, and the close may cut its sending)
    assert held["held"] == 40
    assert ("32 connections" in json.dumps(served.get("body"))
            or served.get("error", "").split("]")[0] in ("[Errno 32", "[Errno 104")), served
    # whatever they did, the supervisor serves a new connection once they are gone
    mock.enqueue({"text": "after"})
    got = probe(d, sid, {"path": "/v1/messages", "body": message()})
    assert got[0]["status"] == 200 and got[0]["body"]["content"][0]["text"] == "after", got
    finish(d, mock)


def test_a_program_is_served_while_the_agent_waits_on_its_model_call(daemon_factory, mock):
    """The supervisor's loop accepts the sandbox's API connections; while the built-in
    agent's model call holds that loop, the call's progress accepts them: a program that
    connects meanwhile is served before that call ends."""
    d = start_chat_daemon(daemon_factory, mock)
    if d.health()["workspaces"]["store"] == "tmpfs":
        pytest.skip("the test reaches the workspace from the host: it needs a workspace on disk")
    sid = create(d)
    later = ("while [ ! -e /workspace/go ]; do sleep 0.05; done\n"
             "python3 /workspace/probe.py \"$(cat /workspace/req.json)\" > /workspace/out.json\n")
    for name, body in (("probe.py", PROBE), ("later.sh", later.encode()),
                       ("req.json", json.dumps({"path": "/v1/messages", "body": message()}).encode())):
        r = d.request("PUT", f"/api/sessions/{sid}/files/{name}", body=body)
        assert r.status in (200, 201), r
    r = d.post_json(f"/api/sessions/{sid}/exec", {
        "command": "setsid sh /workspace/later.sh </dev/null >/dev/null 2>&1 & echo started"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["output"] == "started\n", r
    mock.enqueue({"text": "held", "gate": "turn"}, {"text": "served meanwhile"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", d.post_json(
        f"/api/sessions/{sid}/messages", {"message": "hold on"}, timeout=CHAT_TIMEOUT)), daemon=True)
    t.start()
    workspace = os.path.join(d.workdir, "state", "sessions", sid, "workspace")
    try:
        mock.wait_for_requests(1, timeout=CHAT_TIMEOUT)       # the agent's call, held
        open(os.path.join(workspace, "go"), "w").close()       # the program may call now
        mock.wait_for_requests(2, timeout=CHAT_TIMEOUT)

        def answer():
            try:
                with open(os.path.join(workspace, "out.json")) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        got = poll(answer, CHAT_TIMEOUT)
        assert got and got[0]["status"] == 200, got
        assert got[0]["body"]["content"][0]["text"] == "served meanwhile", got
        assert t.is_alive() and not out, "the agent's model call ended before the program was served"
    finally:
        mock.open_gate("turn")
    t.join(CHAT_TIMEOUT)
    assert out["r"].status == 200, out
    finish(d, mock)
