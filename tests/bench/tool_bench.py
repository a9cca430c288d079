#!/usr/bin/python3
"""The bash tool's first call beside its later ones: is the shell ready before it is asked
for?

The mock Messages API (script mode, its own process) answers each chat's first --calls
model calls with one `echo hi` tool_use each, then with a text reply: one turn, as a
model that works step by step. Each call's time is its tool_calls[].duration_ms (the
agent's clock around the tool, to the microsecond). The first call is the one the
shell's start-up could slow; the later ones run in a shell that has been up, each after
a model call (as in real use: a shell that waited, not one that just ran).

Three kinds of run, interleaved (one of each per round), so that a busy moment of the
machine weighs on all of them alike:
  - ephemeral POST /api/chat: the sandbox is built for the request, the turn follows at once;
  - a long-running session (POST /api/sessions, wait until ready, then POST .../messages),
    deleted after;
  - the same with a warm pool of --pool sandboxes (when --pool > 0), whose shells have
    had all the time of the pool.

Prints medians and p90 of the first and the later calls, and first/later (target <= 2x).
It does not fail on the figures; it fails when a run does.

Usage: tool_bench.py [--runs N] [--calls K] [--pool P] [--agentd PATH]
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cache_bench import post  # noqa: E402
from chat_bench import ROOT, mock_and_agentd, pct  # noqa: E402

COMMAND = "echo hi"
WARMUP = 3
TARGET = 2.0


def script(calls):
    return [{"content": [{"type": "tool_use", "name": "bash", "input": {"command": COMMAND}}]}
            for _ in range(calls)] + [{"text": "done"}]


def request(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        raise RuntimeError(f"{method} {path}: {r.status} {data[:500]!r}")
    return json.loads(data) if data else None


def durations(doc, calls):
    got = doc.get("tool_calls") or []
    if len(got) != calls or any(c["output"] != "hi" or c["is_error"] for c in got):
        raise RuntimeError(f"not {calls} good bash calls: {json.dumps(doc)[:500]}")
    return [c["duration_ms"] for c in got]


def ephemeral(conn, mock_addr, calls):
    post(mock_addr, "/_mock/enqueue", script(calls))
    return durations(request(conn, "POST", "/api/chat", {"message": "say hi"}), calls)


def long_running(conn, mock_addr, calls):
    sid = request(conn, "POST", "/api/sessions", {"pattern": "long-running"})["id"]
    try:
        deadline = time.monotonic() + 60
        while request(conn, "GET", f"/api/sessions/{sid}")["state"] != "ready":
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {sid} never became ready")
            time.sleep(0.002)
        post(mock_addr, "/_mock/enqueue", script(calls))
        return durations(request(conn, "POST", f"/api/sessions/{sid}/messages", {"message": "say hi"}), calls)
    finally:
        request(conn, "DELETE", f"/api/sessions/{sid}")


def report(label, runs):
    first = [r[0] for r in runs]
    later = [d for r in runs for d in r[1:]]
    ratio = statistics.median(first) / statistics.median(later)
    print(f"{label:44} {statistics.median(first):8.2f} {pct(first, 90):8.2f} {statistics.median(later):8.2f} "
          f"{pct(later, 90):8.2f} {ratio:7.2f}x  {'ok' if ratio <= TARGET else 'OVER'} (target <= {TARGET:g}x)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--calls", type=int, default=5, help="`echo hi` calls in the one turn")
    ap.add_argument("--pool", type=int, default=2, help="session.pool_size of the third kind (0: none)")
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    args = ap.parse_args()
    kinds = [("ephemeral POST /api/chat", 0, ephemeral), ("long-running, created ahead", 0, long_running)]
    if args.pool > 0:
        kinds.append((f"long-running, warm pool of {args.pool}", args.pool, long_running))
    results = {label: [] for label, _, _ in kinds}
    # one daemon per pool size, all up at once, so that the kinds' runs interleave
    daemons = {}
    try:
        for pool in sorted({p for _, p, _ in kinds}):
            cm = mock_and_agentd(args.agentd, [], {"AGENTD_POOL_SIZE": str(pool)}, "agentd-tool-bench-")
            mock_addr, addr, _ = cm.__enter__()
            daemons[pool] = (cm, mock_addr, http.client.HTTPConnection(*addr, timeout=120))
        for i in range(WARMUP + args.runs):
            for label, pool, run in kinds:
                _, mock_addr, conn = daemons[pool]
                got = run(conn, mock_addr, args.calls)
                if i >= WARMUP:
                    results[label].append(got)
    except (RuntimeError, OSError, http.client.HTTPException, ValueError) as e:
        sys.exit(f"benchmark: a run failed: {e}")
    finally:
        for cm, _, conn in daemons.values():
            conn.close()
            cm.__exit__(None, None, None)
    print(f"bash tool, {args.calls} x {COMMAND!r} in one turn, a model call before each; {args.runs} runs of each kind, interleaved; "
          "ms (the agent's duration_ms)")
    print(f"{'':44} {'first':>8} {'p90':>8} {'later':>8} {'p90':>8} {'first/later':>11}")
    for label, _, _ in kinds:
        report(label, results[label])


if __name__ == "__main__":
    main()
