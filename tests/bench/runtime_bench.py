#!/usr/bin/python3
"""The built-in agent beside the Claude Code CLI (tests/runtime, pinned) as a session's
runtime: how long a turn takes to its first API request, the whole turn, and the
memory a session's sandbox holds (its cgroup: the peak during the turn, and what stays
while it idles), each for --runs sessions of each runtime, one turn each (the mock
answers with a line of text). Figures are medians, with the ratio Claude Code / built-in.

Usage: runtime_bench.py [--runs N] [--agentd PATH]
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cache_bench import post  # noqa: E402
from chat_bench import ROOT, get_json, mock_and_agentd  # noqa: E402

MODEL = "claude-sonnet-4-5"          # one the CLI knows
CLI_DIR = os.path.join(ROOT, "tests", "runtime", "node_modules", "@anthropic-ai", "claude-code-linux-x64")


def one(mock_addr, addr, runtime):
    """(seconds to the first API request, seconds of the turn, peak bytes, idle bytes)."""
    sid = post(addr, "/api/sessions", {"pattern": "long-running", "runtime": runtime})["id"]
    while get_json(addr, f"/api/sessions/{sid}")["state"] != "ready":
        time.sleep(0.01)
    post(mock_addr, "/_mock/reset", {})
    post(mock_addr, "/_mock/enqueue", [{"text": "hello from the model"}])
    t0 = time.monotonic()
    doc = post(addr, f"/api/sessions/{sid}/messages", {"message": "say hello"})
    t1 = time.monotonic()
    if doc.get("reply") != "hello from the model":
        sys.exit(f"benchmark: {runtime}: unexpected reply {json.dumps(doc)[:300]}")
    first = min(r["t_received"] for r in get_json(mock_addr, "/_mock/requests"))
    res = get_json(addr, f"/api/sessions/{sid}")["resources"]
    c = http.client.HTTPConnection(*addr, timeout=60)
    c.request("DELETE", f"/api/sessions/{sid}")
    c.getresponse().read()
    c.close()
    return first - t0, t1 - t0, res["memory_peak_bytes"], res["memory_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    args = ap.parse_args()
    if not os.path.exists(os.path.join(CLI_DIR, "claude")):
        sys.exit(f"benchmark: {CLI_DIR}/claude is missing: `make deps` installs it")
    tree = tempfile.mkdtemp(prefix="agentd-bench-cli-")
    try:
        os.chmod(tree, 0o755)        # the sandbox's ids must reach the bind's source
        os.link(os.path.join(CLI_DIR, "claude"), os.path.join(tree, "claude"))
        settings = {"sandbox": {"binds": [f"{tree}:/opt/claude-code"]},
                    "runtime": {"claude_code": "/opt/claude-code/claude"}}
        env = {"AGENTD_MODEL": MODEL, "AGENTD_POOL_SIZE": "0"}
        with mock_and_agentd(args.agentd, ["--models", MODEL], env, "agentd-bench-rt-", settings) as (m, a, _):
            got = {rt: [one(m, a, rt) for _ in range(args.runs)] for rt in ("agentd", "claude-code")}
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    print(f"runtimes: {args.runs} sessions each, one turn each (medians; ratio claude-code / agentd)")
    rows = [("first API request", 0, 1e3, "ms"), ("whole turn", 1, 1e3, "ms"),
            ("memory, peak in the turn", 2, 1 / 2**20, "MiB"), ("memory, idle after it", 3, 1 / 2**20, "MiB")]
    for name, i, scale, unit in rows:
        a = statistics.median(r[i] for r in got["agentd"]) * scale
        c = statistics.median(r[i] for r in got["claude-code"]) * scale
        print(f"  {name:26s} agentd {a:9.1f} {unit:3s}  claude-code {c:9.1f} {unit:3s}  ratio {c / a:7.1f}")


if __name__ == "__main__":
    main()
