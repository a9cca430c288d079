"""The client side of port_server.py (a server in a sandbox, reached through
/api/sessions/{id}/ports/{port}/...): starting it in a session, and a WebSocket that
goes both ways. For anything spoken to like conftest.Daemon: a daemon, or a balancer in
front of several (test_multinode.py)."""

import base64
import os
import pathlib
import socket

from chat_util import CHAT_TIMEOUT
from conftest import poll
import sandbox_util as su

SERVER = pathlib.Path(__file__).resolve().with_name("port_server.py").read_bytes()


def start_server(ep, sid, port=8000, headers=None):
    """port_server.py running on port in session sid's sandbox (a background exec), up."""
    r = ep.request("PUT", f"/api/sessions/{sid}/files/port_server.py", body=SERVER, headers=headers)
    assert r.status in (200, 201), r
    r = ep.post_json(f"/api/sessions/{sid}/exec", {"command": f"python3 port_server.py {port}", "background": True},
                     headers=headers, timeout=CHAT_TIMEOUT)
    assert r.status == 201 and r.json()["state"] == "running", r
    assert poll(lambda: ep.get(f"/api/sessions/{sid}/files/port-server.ready", headers=headers).status == 200,
                su.HOST_WAIT)


def _frame(text):
    data = text.encode()
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def websocket_echo(host, port, sid, texts=("hello", "again")):
    """A WebSocket to the server's /ws through host:port: upgraded (101), and each text
    sent comes back as "echo: <text>", one after the other."""
    s = socket.create_connection((host, port), timeout=CHAT_TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/sessions/{sid}/ports/8000/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"sec-websocket-accept" in head.lower(), head
    for text in texts:
        s.sendall(_frame(text))
        want = b"echo: " + text.encode()
        got = b""
        while len(got) < 2 + len(want):
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got == bytes([0x81, len(want)]) + want, got
    s.close()
