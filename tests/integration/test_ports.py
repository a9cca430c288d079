"""ANY /api/sessions/{id}/ports/{port}/...: a reverse proxy to a server in the session's
sandbox (port_server.py, started with a background exec): any method with its body, the path and
query below the prefix, answers streamed as they come (Server-Sent Events), large ones
whole, WebSocket both ways; agentd's Authorization and cookies never reach the server,
its cookies and policies never reach agentd's origin; a port not allowed, a closed one,
a server that hangs and a session that has no sandbox get clear errors."""

import json
import os
import socket

from chat_util import CHAT_TIMEOUT, finish, mock, start_chat_daemon  # noqa: F401
from conftest import assert_json_error
from port_client import start_server, websocket_echo


def serve(daemon_factory, mock, port=8000, headers=None, **env):
    """A daemon and a session of it whose sandbox runs port_server.py on port."""
    d = start_chat_daemon(daemon_factory, mock, **env)
    r = d.post_json("/api/sessions", {"pattern": "long-running"}, headers=headers)
    assert r.status == 201, r
    sid = r.json()["id"]
    start_server(d, sid, port, headers)
    return d, sid


def test_requests_reach_the_server_in_the_sandbox_as_its_own(daemon_factory, mock):
    d, sid = serve(daemon_factory, mock)
    base = f"/api/sessions/{sid}/ports/8000"
    r = d.request("GET", f"{base}/echo/a%20b?x=1&y=%2F", headers={"Authorization": "Bearer not-for-you",
                                                                   "Cookie": "agentd=mine", "X-Mine": "kept"})
    assert r.status == 200, r
    got = r.json()
    assert got["path"] == "/echo/a%20b?x=1&y=%2F" and got["method"] == "GET", got
    h = got["headers"]
    assert h["host"] == "127.0.0.1:8000" and h["x-mine"] == "kept", h
    assert "authorization" not in h and "cookie" not in h, h
    assert h["x-forwarded-prefix"] == base and h["x-forwarded-for"] == "127.0.0.1", h
    body = json.dumps({"big": "x" * 100000})
    r = d.request("PUT", f"{base}/echo", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 200 and r.json()["method"] == "PUT" and r.json()["body"] == body, r
    r = d.request("GET", base)                      # no trailing slash: the server's root
    assert r.status == 404 and r.headers["Content-Type"] == "application/json", r
    # what the server says of itself stays its own
    r = d.get(f"{base}/cookie")
    assert r.status == 200 and r.body == b"<p>hi</p>", r
    assert r.headers.get("Set-Cookie") is None, r.headers
    csp = r.headers.get_all("Content-Security-Policy")
    assert any(c.startswith("sandbox") for c in csp) and "default-src *" not in csp, csp
    # a large answer comes whole
    n = 5 << 20
    r = d.get(f"{base}/big?n={n}", timeout=60)
    assert r.status == 200 and len(r.body) == n and r.body == (bytes(range(256)) * (n // 256)), len(r.body)
    finish(d, mock)


def test_an_event_stream_comes_as_it_is_sent(daemon_factory, mock):
    d, sid = serve(daemon_factory, mock)
    s = socket.create_connection((d.host, d.port), timeout=CHAT_TIMEOUT)
    s.sendall(f"GET /api/sessions/{sid}/ports/8000/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    while b"event: one" not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    assert b"event: two" not in got
    # the second event only exists once the test lets the server send it
    assert d.request("PUT", f"/api/sessions/{sid}/files/go", body=b"").status in (200, 201)
    while b"event: two" not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    s.close()
    assert b"200 OK" in got.split(b"\r\n", 1)[0] and b"text/event-stream" in got, got[:300]
    finish(d, mock)


def test_a_websocket_goes_both_ways(daemon_factory, mock):
    d, sid = serve(daemon_factory, mock)
    websocket_echo(d.host, d.port, sid)
    finish(d, mock)


def test_what_cannot_be_reached_says_why(daemon_factory, mock):
    d, sid = serve(daemon_factory, mock, AGENTD_RUNTIME_PORT_TIMEOUT_S=2)
    procs = d.get(f"/api/sessions/{sid}/processes").json()["processes"]
    assert [p["state"] for p in procs] == ["running"], procs
    assert_json_error(d.get(f"/api/sessions/{sid}/ports/22/"), 403, message_contains=("runtime.ports",))
    assert_json_error(d.get(f"/api/sessions/{sid}/ports/5000/"), 502,
                      message_contains=("nothing listens on port 5000",))
    assert_json_error(d.get(f"/api/sessions/{sid}/ports/8000/hang", timeout=30), 504,
                      message_contains=("did not answer within 2 s",))
    assert_json_error(d.get(f"/api/sessions/{sid}/ports/http/"), 400, message_contains=("is not a port",))
    assert_json_error(d.get("/api/sessions/sess_nope/ports/8000/"), 404)
    # the server is still fine, and so is agentd
    assert d.get(f"/api/sessions/{sid}/ports/8000/echo").status == 200
    r = d.request("DELETE", f"/api/sessions/{sid}")
    assert r.status == 200, r
    assert_json_error(d.get(f"/api/sessions/{sid}/ports/8000/echo"), 404)
    finish(d, mock)


def test_the_ports_listing_says_which_servers_listen(daemon_factory, mock):
    d, sid = serve(daemon_factory, mock)
    got = d.get(f"/api/sessions/{sid}/ports").json()
    assert got["sandbox"] is True
    by_port = {p["port"]: p for p in got["ports"]}
    assert sorted(by_port) == [3000, 5000, 8000, 8080, 8888], got
    assert by_port[8000]["listening"] and by_port[8000]["path"] == f"/api/sessions/{sid}/ports/8000/"
    assert not any(p["listening"] for port, p in by_port.items() if port != 8000), got
    finish(d, mock)


def test_a_browser_tab_may_bring_the_token_as_a_cookie_for_ports_only(daemon_factory, mock):
    token = "tok-" + os.urandom(16).hex()
    d, sid = serve(daemon_factory, mock, headers={"Authorization": f"Bearer {token}"}, AGENTD_TOKENS=token)
    assert d.get(f"/api/sessions/{sid}/ports/8000/echo").status == 401
    cookie = {"Cookie": f"agentd_token={token}"}
    r = d.get(f"/api/sessions/{sid}/ports/8000/echo", headers=cookie)
    assert r.status == 200 and "cookie" not in r.json()["headers"], r
    # the cookie opens nothing else
    assert d.get(f"/api/sessions/{sid}", headers=cookie).status == 401
    assert d.get(f"/api/sessions/{sid}/ports", headers=cookie).status == 401
    assert d.get(f"/api/sessions/{sid}/ports/8000/echo", headers={"Cookie": "agentd_token=wrong"}).status == 401
    finish(d, mock)
