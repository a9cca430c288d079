#!/usr/bin/python3
"""What prompt caching and the context window's clearing save: token counts and cost,
with the mock Messages API's model of the API's cache (tests/mock/prompt_cache.py:
breakpoints, 20-block look-back, 1024-token minimum, 5-minute lifetime; tokens are a
quarter of the prompt's JSON bytes).

Three tasks, each with prompt caching on (anthropic.cache_ttl 5m, the default) and off
(what agentd sent before it cached anything):
  - a 20-tool-call task: one /api/chat whose model calls bash 20 times (each printing
    about 1.2 KB), then answers;
  - a 3-turn session: three messages to one session, each taking 3 bash calls;
  - a 40-call task whose tool output is twice the context window (40 results of about
    1000 tokens in a window of 20000): it must complete (old results are cleared).
Prints per task and mode: model calls, input tokens by kind (uncached input, cache
writes, cache reads), the cache share (reads / all input), the cost at the default
prices, and the ratio of the cost with caching to the cost without. The targets (issue
13): cache share >= 0.85 on the 20-call task; the 40-call task completes. It prints
figures beside their targets and fails only when a run fails.

Usage: cache_bench.py [--agentd PATH]
"""
import argparse
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_bench import ROOT, mock_and_agentd  # noqa: E402

WINDOW = 20000


def post(addr, path, obj=None, timeout=600):
    c = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        body = json.dumps(obj).encode() if obj is not None else b""
        c.request("POST", path, body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status not in (200, 201):
            sys.exit(f"benchmark: POST {path}: {r.status} {data[:500]!r}")
        return json.loads(data) if data else None
    finally:
        c.close()


def bash_calls(commands, answer):
    return [{"content": [{"type": "tool_use", "name": "bash", "input": {"command": c}}]} for c in commands] + \
        [{"text": answer}]


def add(total, usage, cost):
    for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"):
        total[k] = total.get(k, 0) + usage[k]
    total["cost_usd"] = total.get("cost_usd", 0) + cost


def twenty_calls(mock_addr, addr):
    post(mock_addr, "/_mock/enqueue", bash_calls([f"seq {i * 100} {i * 100 + 240}" for i in range(20)], "done"))
    doc = post(addr, "/api/chat", {"message": "run the twenty steps"})
    total = {"model_calls": doc["model_calls"]}
    add(total, doc["usage"], doc["cost_usd"])
    return total


def three_turns(mock_addr, addr):
    sid = post(addr, "/api/sessions", {})["id"]
    total = {"model_calls": 0}
    for turn in range(3):
        post(mock_addr, "/_mock/enqueue",
             bash_calls([f"seq {turn * 1000 + i * 100} {turn * 1000 + i * 100 + 240}" for i in range(3)], "ok"))
        doc = post(addr, f"/api/sessions/{sid}/messages", {"message": f"turn {turn}"})
        total["model_calls"] += doc["model_calls"]
        add(total, doc["usage"], doc["cost_usd"])
    return total


def past_the_window(mock_addr, addr):
    post(mock_addr, "/_mock/enqueue", bash_calls(["head -c 4000 /dev/zero | tr '\\0' a"] * 40, "finished"))
    doc = post(addr, "/api/chat", {"message": "make a lot of output"})
    total = {"model_calls": doc["model_calls"], "completed": doc["reply"] == "finished"}
    add(total, doc["usage"], doc["cost_usd"])
    return total


TASKS = [("20-tool-call task", twenty_calls, {}), ("3-turn session", three_turns, {}),
         ("40 calls, output 2x the window", past_the_window,
          {"AGENTD_CONTEXT_WINDOW": str(WINDOW), "AGENTD_MAX_MODEL_CALLS": "60"})]


def share(t):
    inp = t["input_tokens"] + t["cache_creation_input_tokens"] + t["cache_read_input_tokens"]
    return t["cache_read_input_tokens"] / inp if inp else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    args = ap.parse_args()
    print(f"{'task':32} {'cache':5} {'calls':>5} {'input':>8} {'write':>8} {'read':>8} {'share':>6} "
          f"{'cost $':>9} {'ratio':>6}")
    for name, task, env in TASKS:
        results = {}
        for ttl in ("off", "5m"):
            mock_args = ["--context-window", str(WINDOW)] if "AGENTD_CONTEXT_WINDOW" in env else []
            with mock_and_agentd(args.agentd, mock_args, dict(env, AGENTD_CACHE_TTL=ttl),
                                 "agentd-cache-bench-") as (mock_addr, addr, _):
                results[ttl] = task(mock_addr, addr)
        for ttl, t in results.items():
            ratio = t["cost_usd"] / results["off"]["cost_usd"] if results["off"]["cost_usd"] else 0
            print(f"{name:32} {ttl:5} {t['model_calls']:5} {t['input_tokens']:8} "
                  f"{t['cache_creation_input_tokens']:8} {t['cache_read_input_tokens']:8} {share(t):6.2f} "
                  f"{t['cost_usd']:9.4f} {ratio:6.2f}" + ("" if t.get("completed", True) else "  NOT COMPLETED"))
    print("targets: cache share >= 0.85 on the 20-tool-call task (5m); the 40-call task completes")


if __name__ == "__main__":
    main()
