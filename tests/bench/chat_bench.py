#!/usr/bin/python3
"""End-to-end benchmark of an ephemeral POST /api/chat against the local Messages API.

The mock (tests/mock/anthropic_server.py, script mode, its own process) answers at once:
the first model call asks for one bash call, the second gets a text reply. Each run is a
whole ephemeral session: sandbox, agent, two model calls through the supervisor's relay,
the tool, teardown. Runs go one after the other over one keep-alive connection.

Prints, over --runs runs (after a few uncounted warm-up runs):
  - the whole request at the client: median, p99;
  - the gateway+relay overhead per model call:
        (client time of the run - the mock's time on each of the run's requests
         (t_done - t_received; t_received is when its request line was read, so that the
         mock's own header parsing is the mock's) - the bash tool's own time
         (tool_calls[].duration_ms, to the microsecond))
        / the run's model calls
    which, as defined, also carries the sandbox's start and the agent loop;
  - where that time goes (the mock's and the client's clocks are both CLOCK_MONOTONIC):
    client send -> first API request, between the two API requests minus the tool,
    last API byte -> reply at the client.
It prints figures beside their targets and does not fail on them; it fails when a run
does (non-200, wrong shape) or the mock saw an invalid request.

Usage: chat_bench.py [--runs N] [--agentd PATH]
"""
import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCK = os.path.join(ROOT, "tests", "mock", "anthropic_server.py")
KEY = "sk-ant-bench-0123456789abcdef"
MODEL = "claude-test"
WARMUP = 10
LISTENING_RE = re.compile(r"listening on http://([^/\s]+):(\d+)")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Proc:
    """A child process whose stderr (or stdout) is drained by a thread; waits for a
    "listening on" line."""

    def __init__(self, argv, env, stream="stderr", cwd=None):
        kw = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if stream == "stdout" else \
             {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, **kw)
        self.out = self.p.stdout if stream == "stdout" else self.p.stderr
        self.lines = []
        self.addr = None
        self.ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in self.out:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if len(self.lines) > 2000:
                del self.lines[:1000]
            m = LISTENING_RE.search(line)
            if m and not self.ready.is_set():
                self.addr = (m.group(1).strip("[]"), int(m.group(2)))
                self.ready.set()
        self.ready.set()

    def wait_ready(self, what, timeout=10):
        if not self.ready.wait(timeout) or self.addr is None:
            self.stop()
            sys.exit(f"benchmark: {what} did not start:\n" + "\n".join(self.lines[-20:]))
        return self.addr

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def get_json(addr, path, method="GET"):
    c = http.client.HTTPConnection(*addr, timeout=30)
    try:
        c.request(method, path)
        r = c.getresponse()
        return json.loads(r.read())
    finally:
        c.close()


@contextlib.contextmanager
def mock_and_agentd(agentd, mock_args, env, prefix, settings=None):
    """The mock Messages API (its own process, started with mock_args) and agentd (env
    added to its environment, settings to its config file) in a fresh directory: yields (mock's address, agentd's
    address, agentd's Proc); stops both and removes the directory after."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    mock = daemon = None
    try:
        mock = Proc([sys.executable, MOCK, "--port", "0", "--key", KEY, "--models", MODEL] + mock_args,
                    env={"PATH": "/usr/bin:/bin"}, stream="stdout")
        mock_addr = mock.wait_ready("the mock Messages API")
        os.makedirs(os.path.join(tmp, "static"))
        cfg = os.path.join(tmp, "agentd.json")
        with open(cfg, "w") as f:
            json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(tmp, "state"),
                       "static_dir": os.path.join(tmp, "static"), **(settings or {})}, f)
        env = dict({"PATH": "/usr/local/bin:/usr/bin:/bin", "ANTHROPIC_API_KEY": KEY,
                    "ANTHROPIC_BASE_URL": f"http://{mock_addr[0]}:{mock_addr[1]}", "AGENTD_MODEL": MODEL,
                    "AGENTD_ACCESS_LOG": "false"}, **env)
        daemon = Proc([agentd, "--config", cfg], env=env, cwd=tmp)
        addr = daemon.wait_ready("agentd")
        yield mock_addr, addr, daemon
    finally:
        if daemon is not None:
            rc = daemon.stop()
            if rc != 0:
                print(f"benchmark: agentd exited with {rc}:\n" + "\n".join(daemon.lines[-20:]), file=sys.stderr)
        if mock is not None:
            mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def one_run(conn, body):
    """(client seconds, t_sent, t_end (monotonic), reply document)."""
    t0 = time.monotonic()
    conn.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    t1 = time.monotonic()
    if r.status != 200:
        raise RuntimeError(f"POST /api/chat: {r.status} {data[:500]!r}")
    doc = json.loads(data)
    if doc.get("model_calls") != 2 or len(doc.get("tool_calls") or []) != 1:
        raise RuntimeError(f"not one bash call and a reply: {json.dumps(doc)[:500]}")
    return t1 - t0, t0, t1, doc


def mock_requests(mock_addr):
    """Every request the mock saw, once it has noted the end of each (the reply can reach
    us before the mock has noted the end of its last answer); exits on a violation."""
    for _ in range(100):
        reqs = get_json(mock_addr, "/_mock/requests")
        if all(r.get("t_done") is not None for r in reqs):
            break
        time.sleep(0.02)
    state = get_json(mock_addr, "/_mock/state")
    if state["violations"]:
        sys.exit("benchmark: the mock saw invalid requests:\n  " + "\n  ".join(state["violations"][:20]))
    return reqs


def breakdown(runs, reqs):
    """Per run (one_run's results; reqs: the mock's two requests of each, in order), in ms:
    total, overhead per model call, start (send -> 1st request), between (the two
    requests, less the tool), end (last byte -> reply), tool (the bash call itself)."""
    out = {k: [] for k in ("total", "overhead", "start", "between", "end", "tool")}
    for i, (secs, t_sent, t_end, doc) in enumerate(runs):
        a, b = reqs[2 * i], reqs[2 * i + 1]
        mock_s = (a["t_done"] - a["t_received"]) + (b["t_done"] - b["t_received"])
        tool_s = sum(c["duration_ms"] for c in doc["tool_calls"]) / 1000
        out["total"].append(secs * 1000)
        out["tool"].append(tool_s * 1000)
        out["overhead"].append((secs - mock_s - tool_s) / doc["model_calls"] * 1000)
        out["start"].append((a["t_received"] - t_sent) * 1000)
        out["between"].append((b["t_received"] - a["t_done"] - tool_s) * 1000)
        out["end"].append((t_end - b["t_done"]) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    ap.add_argument("--command", default="echo hi", help="the bash call the model asks for")
    ap.add_argument("--pool", type=int, default=0, help="session.pool_size (sandboxes built ahead)")
    args = ap.parse_args()

    with mock_and_agentd(args.agentd, ["--auto", "bash", "--auto-command", args.command],
                         {"AGENTD_POOL_SIZE": str(args.pool)}, "agentd-chat-bench-") as (mock_addr, addr, daemon):
        conn = http.client.HTTPConnection(*addr, timeout=120)
        body = json.dumps({"message": "list the files in your workspace"})
        try:
            for _ in range(WARMUP):
                one_run(conn, body)
            runs = [one_run(conn, body) for _ in range(args.runs)]
        except (RuntimeError, OSError, http.client.HTTPException, ValueError) as e:
            sys.exit(f"benchmark: a run failed: {e}\nagentd's log:\n" + "\n".join(daemon.lines[-20:]))
        conn.close()

        reqs = mock_requests(mock_addr)[2 * WARMUP:]
        if len(reqs) != 2 * len(runs):
            sys.exit(f"benchmark: the mock saw {len(reqs)} requests for {len(runs)} runs of 2 model calls")
        b = breakdown(runs, reqs)
        total_ms, overhead_ms, start_ms = b["total"], b["overhead"], b["start"]
        between_ms, end_ms, tool_ms = b["between"], b["end"], b["tool"]

        print(f"ephemeral POST /api/chat, one bash call ({args.command!r}) then a text reply; "
              f"{len(runs)} runs, sequential, keep-alive; warm pool of {args.pool}")
        print(f"{'':44} {'median':>9} {'p99':>9} {'mean':>9}")

        def row(label, v, target=""):
            print(f"{label:44} {statistics.median(v):9.2f} {pct(v, 99):9.2f} {statistics.mean(v):9.2f}"
                  f"  {target}")
        row("whole request at the client, ms", total_ms, "(target <= 15 ms median)")
        row("gateway+relay overhead per model call, ms", overhead_ms, "(target <= 1 ms)")
        print("where the time goes, ms:")
        row("  client send -> 1st API request at the mock", start_ms, "(sandbox + agent start + relay)")
        row("  1st API reply done -> 2nd request, - tool", between_ms, "(relay both ways + agent loop)")
        row("  2nd API reply done -> reply at the client", end_ms, "(relay + reply)")
        row("  the bash tool itself (duration_ms)", tool_ms)
        print(f"  the mock's own time per request: median "
              f"{statistics.median([(r['t_done'] - r['t_received']) * 1000 for r in reqs]):.2f} ms")


if __name__ == "__main__":
    main()
