"""MCP servers in a session: @modelcontextprotocol/server-everything from npm (pinned in
tests/mcp/package.json) over stdio, run inside the sandbox as the agent's child, and over
Streamable HTTP on loopback, called by the supervisor; a server that crashes at start
and hostile ones (garbage, huge output, silence) are reported and end nothing else."""

import json
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

from chat_util import (calls, chat_ok, finish, mock, only_result, read_events,  # noqa: F401
                       result_text, start_chat_daemon, tool_results, tool_use)
from conftest import assert_json_error, poll
from mcp_hostile import serve_http
from nethost import nethost  # noqa: F401
import sandbox_util as su

MCP_DIR = pathlib.Path(__file__).resolve().parents[1] / "mcp"
EVERYTHING = MCP_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything"
HOSTILE = pathlib.Path(__file__).resolve().with_name("mcp_hostile.py")


def everything_dir():
    if not (EVERYTHING / "dist" / "index.js").exists():
        pytest.fail(f"{EVERYTHING} is missing: `make deps` installs it (npm ci in tests/mcp)")
    return EVERYTHING


@pytest.fixture(scope="module")
def tree():
    """server-everything's packages and the hostile server, copied where a sandbox may
    read them: a bind's source must be reachable by the sandbox's ids along its whole
    path, and a clone of this tree may sit in a directory only its owner may enter
    (mktemp -d makes them 0700)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="agentd-mcp-"))
    try:
        os.chmod(root, 0o755)
        shutil.copy(HOSTILE, root / HOSTILE.name)
        if (EVERYTHING / "dist" / "index.js").exists():
            shutil.copytree(MCP_DIR / "node_modules", root / "node_modules", symlinks=True)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stdio_settings(tree, servers, **mcp):
    """Settings that bind tree's server-everything packages and hostile server into the
    sandbox at /opt/mcp/node_modules and /opt/hostile."""
    binds = [f"{tree / 'node_modules'}:/opt/mcp/node_modules", f"{tree}:/opt/hostile"]
    return {"sandbox": {"binds": binds}, "mcp": {"servers": servers, **mcp}}


EVERYTHING_STDIO = {"command": "node",
                    "args": ["/opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"]}


def session(d, body=None):
    r = d.post_json("/api/sessions", body or {})
    assert r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle", "failed"),
                su.HOST_WAIT), d.get(f"/api/sessions/{sid}").json()
    s = d.get(f"/api/sessions/{sid}").json()
    assert s["state"] != "failed", s
    return sid, s


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


def test_a_stdio_server_runs_in_the_sandbox(daemon_factory, mock, tree):
    everything_dir()
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(tree, {"everything": EVERYTHING_STDIO}))
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


def test_sessions_choose_among_the_servers(daemon_factory, mock, tree):
    everything_dir()
    servers = {"everything": EVERYTHING_STDIO,
               "other": {"command": "node", "args": ["/opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(tree, servers))
    sid, s = session(d, {"mcp_servers": ["other"]})
    assert list(s["mcp"]) == ["other"] and s["mcp"]["other"]["state"] == "ready", s
    for bad, words in ((["nope"], "not one of agentd's MCP servers"), ("other", "must be an array"),
                       (["other", "other"], "twice")):
        r = d.post_json("/api/sessions", {"mcp_servers": bad})
        assert_json_error(r, 400, "invalid_request_error", [words])
    r = d.post_json("/api/chat", {"message": "hi", "mcp_servers": ["nope"]})
    assert_json_error(r, 400, "invalid_request_error", ["nope"])
    finish(d, mock)


def test_a_server_that_fails_is_reported_and_the_session_goes_on(daemon_factory, mock, tree):
    everything_dir()
    servers = {"everything": EVERYTHING_STDIO,
               "crash": {"command": "node", "args": ["-e", "console.error('boom: no config'); process.exit(3)"]},
               "missing": {"command": "/no/such/program"},
               "garbage": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "garbage"]},
               "silent": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "silent"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(tree, servers, start_timeout_s=3))
    sid, s = session(d)
    m = s["mcp"]
    assert m["everything"]["state"] == "ready", m
    assert m["crash"]["state"] == "failed" and "boom: no config" in m["crash"]["error"], m
    assert m["missing"]["state"] == "failed" and "/no/such/program" in m["missing"]["error"], m
    assert m["garbage"]["state"] == "failed" and m["garbage"]["error"], m
    assert m["silent"]["state"] == "failed" and "no answer within 3 s" in m["silent"]["error"], m
    # each failure is a warning in the session's events, before its ready
    events = read_events(d, sid, 5)
    assert [e.event for e in events] == ["warning"] * 4 + ["ready"], events
    said = " ".join(e.data["message"] for e in events[:4])
    for name in ("crash", "missing", "garbage", "silent"):
        assert f"the MCP server {name} is not available" in said, said
    assert "MCP server crash is not available" in d.stderr
    res = call(d, mock, sid, "mcp__everything__echo", {"message": "still here"})
    assert "Echo: still here" in result_text(res)
    finish(d, mock)


def test_a_hostile_server_gets_a_capped_result_and_a_timeout(daemon_factory, mock, tree):
    servers = {"huge": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "huge"]},
               "hang": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "hang"]}}
    d = start_chat_daemon(daemon_factory, mock, settings=stdio_settings(tree, servers, call_timeout_s=2,
                                                                          max_output="4K"))
    sid, s = session(d)
    assert s["mcp"]["huge"]["state"] == "ready" and s["mcp"]["hang"]["state"] == "ready", s
    res = call(d, mock, sid, "mcp__huge__flood", {})
    text = result_text(res)
    assert len(text) < 6000 and "cut" in text.lower(), text[-500:]
    res = call(d, mock, sid, "mcp__hang__wait", {})
    assert res.get("is_error") and "no answer within 2 s" in result_text(res), res
    finish(d, mock)


@pytest.mark.parametrize("transport", ["stdio", "http", "http-2026-07-28"])
def test_a_server_whose_tools_change_is_listed_again(daemon_factory, mock, tree, transport):
    """A call whose server says (notifications/tools/list_changed) that its tools
    changed: the next model call offers them as they are now, and the new one works;
    a stdio server's list is the agent's, a remote one's the supervisor's, of either
    revision (2025-11-25 with initialize and a session, 2026-07-28 stateless)."""
    srv = None
    if transport == "stdio":
        servers = {"changing": {"command": "python3", "args": ["/opt/hostile/mcp_hostile.py", "changing"]}}
        settings = stdio_settings(tree, servers)
    else:
        srv = serve_http("modern" if transport.endswith("28") else "changing")
        settings = {"mcp": {"servers": {"changing": {"url": srv.url}}}}
    try:
        d = start_chat_daemon(daemon_factory, mock, settings=settings)
        sid, s = session(d)
        assert s["mcp"]["changing"] == {"state": "ready", "tools": 1}, s
        n = len(mock.requests)
        res = call(d, mock, sid, "mcp__changing__grow", {})
        assert result_text(res) == "grew", res
        before, after = tools_offered(mock, n), tools_offered(mock, n + 1)
        assert "mcp__changing__grown" not in before and "mcp__changing__grown" in after, after
        assert set(after) == set(before) | {"mcp__changing__grown"}, (before, after)
        res = call(d, mock, sid, "mcp__changing__grown", {})
        assert result_text(res) == "grew" and not res.get("is_error"), res
        if srv is not None:
            assert srv.methods.count("tools/list") == 3, srv.methods     # at the open, after each call
            opened = "server/discover" if transport.endswith("28") else "initialize"
            assert opened in srv.methods and srv.problems == [], (srv.methods, srv.problems)
        finish(d, mock)
    finally:
        if srv is not None:
            srv.stop()


# --------------------------------------------------------------------------- Streamable HTTP

@pytest.fixture
def http_everything(nethost):
    """server-everything in Streamable HTTP mode inside a test host's namespace (it
    listens on every interface of that namespace only): its URL."""
    import subprocess
    env = dict(os.environ, PORT="8080")
    proc = subprocess.Popen(nethost.exec_args(["node", str(everything_dir() / "dist" / "index.js"), "streamableHttp"]),
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    import socket

    def up():
        try:
            socket.create_connection((nethost.addr, 8080), timeout=1).close()
            return True
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            return False
    try:
        assert poll(up, su.HOST_WAIT), "server-everything did not listen"
        yield f"http://{nethost.addr}:8080/mcp"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()


@pytest.fixture
def garbage_http():
    """A loopback HTTP server that answers every POST with 200 and text that is no JSON."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html>not an MCP server</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/mcp"
    srv.shutdown()
    srv.server_close()


def test_a_streamable_http_server_is_called_by_the_supervisor(daemon_factory, mock, http_everything, garbage_http):
    from conftest import free_port
    servers = {"remote": {"url": http_everything, "headers": {"X-Test-Token": "${MCP_TEST_TOKEN}"}},
               "refused": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
               "garbage": {"url": garbage_http},
               "unset": {"url": http_everything, "headers": {"Authorization": "Bearer ${MCP_NOT_SET}"}}}
    d = start_chat_daemon(daemon_factory, mock, settings={"mcp": {"servers": servers}},
                          MCP_TEST_TOKEN="s3cret")
    sid, s = session(d)
    m = s["mcp"]
    assert m["remote"]["state"] == "ready" and m["remote"]["tools"] >= 5, m
    assert m["refused"]["state"] == "failed" and m["refused"]["error"], m
    assert m["garbage"]["state"] == "failed" and m["garbage"]["error"], m
    assert m["unset"]["state"] == "failed" and "MCP_NOT_SET" in m["unset"]["error"], m
    res = call(d, mock, sid, "mcp__remote__echo", {"message": "over http"})
    assert "Echo: over http" in result_text(res) and not res.get("is_error"), res
    res = call(d, mock, sid, "mcp__remote__get-sum", {"a": 2, "b": 40})
    assert "42" in result_text(res), res
    # the header's value stays outside: not in the sandbox's environment, nor the log
    mock.enqueue(calls(tool_use("bash", {"command": "env; cat /proc/*/environ 2>/dev/null | tr '\\\\0' '\\\\n'"})),
                 {"text": "looked"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "env"}, timeout=120)
    assert r.status == 200 and "s3cret" not in only_result(mock, len(mock.requests) - 1)[0]
    assert "s3cret" not in d.stderr
    finish(d, mock)
