"""The HTTP server of a test host (tests/integration/nethost.py runs it inside the test
host's network namespace): plain HTTP on port 80 and on port 443 too, so that a CONNECT
to :443 carries plain HTTP through the tunnel and tests need no certificates.

    nethost_server.py --addr 203.0.113.6 --name agentd-t-123-1 --log /tmp/x/requests.log

Endpoints (any method not listed, or any other path: 404):
    GET  /              a small HTML page: <title>, headings, a paragraph, a link, a
                        <script> and a <style> (for readable-text tests)
    GET  /hello         "hello from <name>\\n", text/plain
    GET  /redirect?to=U 302 with Location: U
    GET  /big?bytes=N   N bytes: the digits 0123456789 over and over
    GET  /slow?s=N      the answer "slow N\\n" after N seconds (a float)
    POST /echo          the request body, with the request's Content-Type
HEAD works wherever GET does. Every response has X-Test-Host: <addr>.

Each request is logged, before it is answered, as one JSON line in the log file:
{"method", "path" (the request target as sent), "host" (the Host header or null),
"peer" and "peer_port" (who connected), "port" (80 or 443), "version"}.

The server exits when its standard input reaches end of file: the fixture holds the
other end of that pipe, so the server dies with its owner even when the owner is killed.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = (80, 443)
BIG_MAX = 1 << 30        # /big answers at most 1 GiB
SLOW_MAX = 600.0         # /slow waits at most 10 minutes
CHUNK = 64000            # a multiple of the pattern's length
PATTERN = b"0123456789" * (CHUNK // 10)

PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Test host page</title>
<style>body { font-family: sans-serif; } .hidden-style-text { color: red; }</style>
<script>var hiddenScriptText = "script text is not readable text";</script>
</head>
<body>
<h1>Welcome to the test host</h1>
<h2>A second heading</h2>
<p>This paragraph is readable text served from inside a network namespace.</p>
<p>Follow <a href="/hello">the hello link</a> for a plain answer.</p>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentd-test-host/1"
    sys_version = ""

    # -- plumbing

    def log_message(self, fmt, *args):     # the request log below replaces stderr's
        pass

    def _log_request(self):
        rec = {"method": self.command, "path": self.path, "host": self.headers.get("Host"),
               "peer": self.client_address[0], "peer_port": self.client_address[1],
               "port": self.server.server_address[1], "version": self.request_version}
        line = json.dumps(rec) + "\n"
        with self.server.log_lock:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(line)

    def _headers(self, status, length, ctype="text/plain; charset=utf-8", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Test-Host", self.server.test_addr)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status, body, ctype="text/plain; charset=utf-8", extra=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._headers(status, len(body), ctype, extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass                    # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()           # the CRLF after the chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # -- routing

    def _dispatch(self):
        self._log_request()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        route = (self.command if self.command != "HEAD" else "GET", url.path)
        try:
            handler = ROUTES.get(route)
            if handler is None:
                if self.command not in ("GET", "HEAD"):
                    self._read_body()
                self._send(404, f"not found: {self.command} {url.path}\n")
            else:
                handler(self, query)
        except ValueError as e:
            self._send(400, f"bad request: {e}\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_CONNECT = _dispatch

    # -- endpoints

    def page(self, _query):
        self._send(200, PAGE, "text/html; charset=utf-8")

    def hello(self, _query):
        self._send(200, f"hello from {self.server.test_name}\n")

    def redirect(self, query):
        if "to" not in query:
            raise ValueError("/redirect needs ?to=URL")
        self._send(302, "redirecting\n", extra=[("Location", query["to"][0])])

    def big(self, query):
        n = int(query.get("bytes", ["0"])[0])
        if not 0 <= n <= BIG_MAX:
            raise ValueError(f"bytes must be in 0..{BIG_MAX}")
        self._headers(200, n, "application/octet-stream")
        if self.command == "HEAD":
            return
        left = n
        while left > 0:
            piece = PATTERN[:min(left, CHUNK)]
            self.wfile.write(piece)
            left -= len(piece)

    def slow(self, query):
        s = float(query.get("s", ["1"])[0])
        if not 0 <= s <= SLOW_MAX:
            raise ValueError(f"s must be in 0..{SLOW_MAX}")
        time.sleep(s)
        self._send(200, f"slow {query.get('s', ['1'])[0]}\n")

    def echo(self, _query):
        body = self._read_body()
        self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))


ROUTES = {
    ("GET", "/"): Handler.page,
    ("GET", "/hello"): Handler.hello,
    ("GET", "/redirect"): Handler.redirect,
    ("GET", "/big"): Handler.big,
    ("GET", "/slow"): Handler.slow,
    ("POST", "/echo"): Handler.echo,
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True, help="the address to listen on")
    ap.add_argument("--name", required=True, help="the name /hello answers with")
    ap.add_argument("--log", required=True, help="the request log (JSON lines)")
    args = ap.parse_args()

    log_lock = threading.Lock()
    servers = []
    for port in PORTS:
        srv = Server((args.addr, port), Handler)
        srv.test_addr, srv.test_name = args.addr, args.name
        srv.log_path, srv.log_lock = args.log, log_lock
        servers.append(srv)
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()

    # the owner holds our stdin's other end: its end of file (the owner closed it or
    # died) ends the server
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
