"""Hostile and awkward MCP servers for test_mcp.py.

Over stdio (`python3 mcp_hostile.py MODE`, run inside the sandbox; standard library
only): `garbage` answers everything with bytes that are not JSON; `silent` never
answers; `huge` opens properly and offers a tool `flood` whose result is 5 MB of text;
`hang` opens properly and offers a tool `wait` that is never answered; `changing` offers
`grow`, which adds a tool `grown` and says so (notifications/tools/list_changed).

Over Streamable HTTP (serve_http(MODE), in the test's process, on loopback): the same
answers, as a 2025-11-25 server with a session would give them: one JSON message, or an
event stream when a notification goes before the answer (`changing`'s call). `modern`
is `changing` as a 2026-07-28 server: server/discover instead of initialize, no session,
each request's version and method in its headers as in its body (what a request gets
wrong is kept in the server's `problems`)."""

import json
import sys

MODERN = "2026-07-28"
META_VERSION = "io.modelcontextprotocol/protocolVersion"


class Server:
    """One server's state: what it answers to each message."""

    def __init__(self, mode):
        self.mode = mode
        self.tools = {"huge": ["flood"], "hang": ["wait"], "changing": ["grow"], "modern": ["grow"]}.get(mode, [])
        self.changing = mode in ("changing", "modern")

    def answer(self, msg):
        """The messages sent for msg, in order (the last one its answer); None: never
        answered."""
        method, mid = msg.get("method"), msg.get("id")
        if mid is None:
            return []
        if method == "server/discover" and self.mode == "modern":
            return [result(mid, {"supportedVersions": [MODERN], "capabilities": {"tools": {"listChanged": True}},
                                 "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "modern", "version": "0"}}})]
        if method == "initialize" and self.mode != "modern":
            return [result(mid, {"protocolVersion": "2025-11-25", "capabilities": {"tools": {"listChanged": True}},
                                 "serverInfo": {"name": self.mode, "version": "0"}})]
        if method == "tools/list":
            return [result(mid, {"tools": [{"name": t, "description": "a tool", "inputSchema": {"type": "object"}}
                                           for t in self.tools]})]
        if method == "tools/call" and self.changing:
            # said before the answer: the client has read it by the time the call is over
            self.tools = ["grow", "grown"]
            return [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
                    result(mid, {"content": [{"type": "text", "text": "grew"}]})]
        if method == "tools/call" and self.mode == "huge":
            return [result(mid, {"content": [{"type": "text", "text": "x" * 5_000_000}]})]
        if method == "tools/call":
            return None                   # hang: never answered
        return [{"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}}]


def result(mid, res):
    return {"jsonrpc": "2.0", "id": mid, "result": res}


def serve_stdio(mode):
    srv = Server(mode)
    for line in sys.stdin:
        if mode == "silent":
            continue
        if mode == "garbage":
            sys.stdout.write("this is not JSON {{{\n")
            sys.stdout.flush()
            continue
        for m in srv.answer(json.loads(line)) or []:
            sys.stdout.write(json.dumps(m) + "\n")
            sys.stdout.flush()


def modern_problems(headers, msg):
    """What a 2026-07-28 request gets wrong: its headers must say what its body says."""
    params = msg.get("params") or {}
    want = {"MCP-Protocol-Version": MODERN, "Mcp-Method": msg.get("method")}
    if msg.get("method") == "tools/call":
        want["Mcp-Name"] = params.get("name")
    out = [f"{k}: {headers.get(k)!r}, not {v!r}" for k, v in want.items() if headers.get(k) != v]
    if "id" in msg and (params.get("_meta") or {}).get(META_VERSION) != MODERN:
        out.append(f"params._meta lacks {META_VERSION}: {params.get('_meta')!r}")
    if headers.get("Mcp-Session-Id") is not None:
        out.append("a session id, which 2026-07-28 has none of")
    return out


class HttpServer:
    """serve_http's: .url, .stop(), .methods (the JSON-RPC methods it was sent, in
    order), .problems (a modern server's complaints)."""

    def __init__(self, url, stop, methods, problems):
        self.url, self.stop, self.methods, self.problems = url, stop, methods, problems


def serve_http(mode):
    """A started loopback server for mode (an HttpServer)."""
    import http.server
    import threading
    srv = Server(mode)
    seen, problems = [], []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            seen.append(msg.get("method"))
            if mode == "modern":
                problems.extend(modern_problems(self.headers, msg))
            out = srv.answer(msg)
            if not out:
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            stream = len(out) > 1
            body = "".join(f"event: message\ndata: {json.dumps(m)}\n\n" for m in out) if stream \
                else json.dumps(out[0])
            body = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
            self.send_header("Content-Length", str(len(body)))
            if msg.get("method") == "initialize" and mode != "modern":
                self.send_header("Mcp-Session-Id", "s-1")
            self.end_headers()
            self.wfile.write(body)

        def do_DELETE(self):
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def stop():
        httpd.shutdown()
        httpd.server_close()
    return HttpServer(f"http://127.0.0.1:{httpd.server_address[1]}/mcp", stop, seen, problems)


if __name__ == "__main__":
    serve_stdio(sys.argv[1])
