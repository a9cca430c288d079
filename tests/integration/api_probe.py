"""Run inside a sandbox: requests to the Messages API its supervisor serves there, over
the Unix socket ($ANTHROPIC_UNIX_SOCKET) or the port in $ANTHROPIC_BASE_URL, each
described by a JSON object on the command line:
    {"via": "unix" | "tcp", "method", "path", "headers": {...}, "body": {...} | "raw text"}
    {"raw": "bytes as they go on the wire", "size": N}: the text (then N bytes of "x")
                as they are, the answer's status line and body read to the end
    {"hold": N}: N connections opened and kept, silent, until the probe ends
Prints one JSON list: per request {"status", "headers" (lower-case names), "body"
(parsed JSON, else text)}, or {"error": "..."} when the connection failed. Uses the
environment's key (a placeholder) as a client would."""

import http.client
import json
import os
import socket
import sys
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.unix_path)


HELD = []


def unix_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(os.environ["ANTHROPIC_UNIX_SOCKET"])
    return s


def raw_request(req):
    s = unix_socket()
    try:
        s.sendall(req["raw"].encode())
        left = req.get("size", 0)
        while left > 0:
            n = min(left, 1 << 20)
            s.sendall(b"x" * n)
            left -= n
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError as e:
        return {"error": str(e)}
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode()
    return {"status": int(line.split()[1]) if line.startswith("HTTP/") else 0, "line": line,
            "body": body.decode("utf-8", "replace")}


def one(req):
    if "hold" in req:
        HELD.extend(unix_socket() for _ in range(req["hold"]))
        return {"held": len(HELD)}
    if "raw" in req:
        return raw_request(req)
    if req.get("via", "unix") == "unix":
        conn = UnixConnection(os.environ["ANTHROPIC_UNIX_SOCKET"])
    else:
        u = urllib.parse.urlsplit(os.environ["ANTHROPIC_BASE_URL"])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"x-api-key": os.environ["ANTHROPIC_API_KEY"], "content-type": "application/json",
               "anthropic-version": "2023-06-01", **req.get("headers", {})}
    body = req.get("body")
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    try:
        conn.request(req.get("method", "POST"), req["path"], body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read().decode("utf-8", "replace")
    except OSError as e:
        return {"error": str(e)}
    finally:
        conn.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    return {"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()}, "body": parsed}


print(json.dumps([one(json.loads(a)) for a in sys.argv[1:]]))
