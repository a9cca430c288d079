"""A hostile MCP server over stdio, for test_mcp.py: `garbage` answers everything with
bytes that are not JSON; `silent` never answers; `huge` opens properly and offers a tool
`flood` whose result is 5 MB of text; `hang` opens properly and offers a tool `wait`
that is never answered; `changing` offers `grow`, which adds a tool `grown` and says so
(notifications/tools/list_changed). Standard library only: it runs inside the sandbox."""

import json
import sys

MODE = sys.argv[1]


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


TOOLS = {"huge": ["flood"], "hang": ["wait"], "changing": ["grow"]}

for line in sys.stdin:
    if MODE == "silent":
        continue
    if MODE == "garbage":
        sys.stdout.write("this is not JSON {{{\n")
        sys.stdout.flush()
        continue
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": MODE, "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [
            {"name": t, "description": "a tool", "inputSchema": {"type": "object"}} for t in TOOLS[MODE]]}})
    elif method == "tools/call" and MODE == "changing":
        # said before the answer: the agent has read it by the time the call is over
        TOOLS[MODE] = ["grow", "grown"]
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "grew"}]}})
    elif method == "tools/call" and MODE == "huge":
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "x" * 5_000_000}]}})
    elif method == "tools/call":
        continue                      # hang: never answered
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}})
