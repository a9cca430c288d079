"""Run inside a sandbox: a small server on 127.0.0.1:PORT for the /ports/ tests.
    GET  /echo...      JSON: the method, path (with query), headers and body it got
    POST /echo...      the same
    GET  /events       Server-Sent Events: "one" now, "two" once /workspace/go exists
    GET  /big?n=N      N bytes of a known pattern
    GET  /hang         never answers
    GET  /ws           WebSocket: echoes each text frame back, "echo: " before it
    GET  /cookie       sets a cookie and a policy of its own
It writes /workspace/port-server.ready when it listens."""

import base64
import hashlib
import http.server
import json
import os
import socketserver
import struct
import sys
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def pattern(n):
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def echo(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        doc = {"method": self.command, "path": self.path, "version": self.request_version,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        self.send(200, json.dumps(doc).encode())

    def do_POST(self):
        self.echo()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_GET(self):
        if self.path.startswith("/echo"):
            return self.echo()
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"event: one\ndata: 1\n\n")
            self.wfile.flush()
            while not os.path.exists("/workspace/go"):
                time.sleep(0.05)
            self.wfile.write(b"event: two\ndata: 2\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/big"):
            return self.send(200, pattern(int(self.path.split("=")[1])), "application/octet-stream")
        if self.path == "/hang":
            time.sleep(3600)
        if self.path == "/cookie":
            return self.send(200, b"<p>hi</p>", "text/html",
                             [("Set-Cookie", "session=stolen; Path=/"), ("Content-Security-Policy", "default-src *")])
        if self.path == "/ws":
            return self.websocket()
        self.send(404, b"{}")

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if opcode == 8:
                return
            out = b"echo: " + data
            self.wfile.write(bytes([0x81, len(out)]) + out)
            self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
open("/workspace/port-server.ready", "w").close()
srv.serve_forever()
