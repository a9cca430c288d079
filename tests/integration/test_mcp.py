"""MCP servers in a session: @modelcontextprotocol/server-everything from npm (pinned in
tests/mcp/package.json) over stdio, run inside the sandbox as the agent's child, and over
Streamable HTTP on loopback, called by the supervisor; a server that crashes at start
and hostile ones (garbage, huge output, silence) are reported and end nothing else."""

import json
import os
import pathlib
import sys

import pytest

from chat_util import (calls, chat_ok, finish, mock, only_result, start_chat_daemon,  # noqa: F401
                       tool_results, result_text, tool_use)
from conftest import assert_json_error, poll
import sandbox_util as su

MCP_DIR = pathlib.Path(__file__).resolve().parents[1] / "mcp"
EVERYTHING = MCP_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything"
HOSTILE = pathlib.Path(__file__).resolve().with_name("mcp_hostile.py")


def everything_dir():
    if not (EVERYTHING / "dist" / "index.js").exists():
        pytest.fail(f"{EVERYTHING} is missing: `make deps` installs it (npm ci in tests/mcp)")
    return EVERYTHING


def stdio_settings(servers, **mcp):
    """Settings that bind server-everything's packages (and this directory's hostile
    server) into the sandbox at /opt/mcp/node_modules and /opt/hostile."""
    binds = [f"{MCP_DIR / 'node_modules'}:/opt/mcp/node_modules", f"{HOSTILE.parent}:/opt/hostile"]
    return {"sandbox": {"binds": binds}, "mcp": {"servers": servers, **mcp}}


EVERYTHING_STDIO = {"command": "node",
                    "args": ["/opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"]}


def session(d, body=None):
    r = d.post_json("/api/sessions", body or {})
    assert r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle", "failed"),
                su.HOST_WAIT), d.get(f"/api/sessions/{sid}").json()
    return sid, d.get(f"/api/sessions/{sid}").json()


def tools_offered(mock, i=0):
    return {t["name"]: t for t in mock.requests[i]["body"]["tools"]}


def call(d, mock, sid, name, args):
    """One turn whose model calls tool name with args: the tool_result block."""
    n = len(mock.requests)
    mock.enqueue(calls(tool_use(name, args)), {"text": "done"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": f"call {name}"}, timeout=120)
    assert r.status == 200, r
    [res] = tool_results(mock, n + 1)
    return res


def test_a_stdio_server_runs_in_the_sandbox(daemon_factory, mock):
    everything_dir()
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings({"everything": EVERYTHING_STDIO}))
    sid, s = session(d)
    state = s["mcp"]["everything"]
    assert state["state"] == "ready" and state["tools"] >= 5 and "error" not in state, s
    res = call(d, mock, sid, "mcp__everything__echo", {"message": "hi from the model"})
    assert "Echo: hi from the model" in result_text(res) and not res.get("is_error"), res
    offered = tools_offered(mock, len(mock.requests) - 2)
    echo = offered["mcp__everything__echo"]
    assert echo["input_schema"]["properties"]["message"]["type"] == "string", echo
    assert "mcp__everything__get-sum" in offered and "bash" in offered
    res = call(d, mock, sid, "mcp__everything__get-sum", {"a": 2, "b": 40})
    assert "42" in result_text(res), res
    # the server runs inside the sandbox, as the agent's child
    mock.enqueue(calls(tool_use("bash", {"command": "ps -eo args | grep -c '[s]erver-everything'"})),
                 {"text": "counted"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "ps"}, timeout=120)
    assert r.status == 200 and only_result(mock, len(mock.requests) - 1)[0].strip() == "1"
    finish(d, mock)


def test_sessions_choose_among_the_servers(daemon_factory, mock):
    everything_dir()
    servers = {"everything": EVERYTHING_STDIO,
               "other": {"command": "node", "args": ["/opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(servers))
    sid, s = session(d, {"mcp_servers": ["other"]})
    assert list(s["mcp"]) == ["other"] and s["mcp"]["other"]["state"] == "ready", s
    for bad, words in ((["nope"], "not one of agentd's MCP servers"), ("other", "must be an array"),
                       (["other", "other"], "twice")):
        r = d.post_json("/api/sessions", {"mcp_servers": bad})
        assert_json_error(r, 400, "invalid_request_error", [words])
    r = d.post_json("/api/chat", {"message": "hi", "mcp_servers": ["nope"]})
    assert_json_error(r, 400, "invalid_request_error", ["nope"])
    finish(d, mock)


def test_a_server_that_fails_is_reported_and_the_session_goes_on(daemon_factory, mock):
    everything_dir()
    servers = {"everything": EVERYTHING_STDIO,
               "crash": {"command": "node", "args": ["-e", "console.error('boom: no config'); process.exit(3)"]},
               "missing": {"command": "/no/such/program"},
               "garbage": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "garbage"]},
               "silent": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "silent"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(servers, start_timeout_s=3))
    sid, s = session(d)
    m = s["mcp"]
    assert m["everything"]["state"] == "ready", m
    assert m["crash"]["state"] == "failed" and "boom: no config" in m["crash"]["error"], m
    assert m["missing"]["state"] == "failed" and "/no/such/program" in m["missing"]["error"], m
    assert m["garbage"]["state"] == "failed" and m["garbage"]["error"], m
    assert m["silent"]["state"] == "failed" and "no answer within 3 s" in m["silent"]["error"], m
    events = d.get(f"/api/sessions/{sid}/history").json()
    warnings = [line for line in d.stderr.splitlines() if "MCP server crash is not available" in line]
    assert warnings, d.stderr[-3000:]
    res = call(d, mock, sid, "mcp__everything__echo", {"message": "still here"})
    assert "Echo: still here" in result_text(res)
    finish(d, mock)


def test_a_hostile_server_gets_a_capped_result_and_a_timeout(daemon_factory, mock):
    servers = {"huge": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "huge"]},
               "hang": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "hang"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(servers, call_timeout_s=2,
                                                                          max_output="4K"))
    sid, s = session(d)
    assert s["mcp"]["huge"]["state"] == "ready" and s["mcp"]["hang"]["state"] == "ready", s
    res = call(d, mock, sid, "mcp__huge__flood", {})
    text = result_text(res)
    assert len(text) < 6000 and "cut" in text.lower(), text[-500:]
    res = call(d, mock, sid, "mcp__hang__wait", {})
    assert res.get("is_error") and "no answer within 2 s" in result_text(res), res
    finish(d, mock)


def test_a_server_whose_tools_change_is_listed_again(daemon_factory, mock):
    servers = {"changing": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "changing"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(servers))
    sid, s = session(d)
    assert s["mcp"]["changing"] == {"state": "ready", "tools": 1}, s
    n = len(mock.requests)
    res = call(d, mock, sid, "mcp__changing__grow", {})
    assert result_text(res) == "grew", res
    assert "mcp__changing__grown" not in tools_offered(mock, n)
    assert "mcp__changing__grown" in tools_offered(mock, n + 1)
    finish(d, mock)
