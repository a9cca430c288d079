#!/usr/bin/python3
"""Does the warm pool pay? Ephemeral POST /api/chat runs (one bash call, then a text
reply, as chat_bench.py) against two daemons side by side, one without a pool and one
with session.pool_size --pool, each with its own mock Messages API, in one invocation:

  - sequential: --runs runs on each, back to back over one keep-alive connection, the
    two daemons taking turns in blocks of --block runs (each block back to back, so
    that a pool's refills meet the runs that follow as they would in use; alternating,
    so that both see the same machine). Medians, the ratio pool / no pool (target
    <= 0.7), the pool's hits, and where the time goes (chat_bench.breakdown);
  - bursts: --burst clients at once, one run each, --bursts times on each daemon,
    alternating, each burst once the pool is full again (a burst after a quiet while).
    The median burst's wall time, and the ratio (target <= 1.0).

Figures are printed beside their targets; it fails only when a run does.

Usage: pool_bench.py [--runs 40] [--block 10] [--pool 2] [--bursts 6] [--burst 8]
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chat_bench as cb  # noqa: E402

BODY = json.dumps({"message": "list the files in your workspace"})
POOL_WAIT_S = 60


def pool_of(addr):
    return cb.get_json(addr, "/api/health")["sessions"]["pool"]


def wait_pool(addr, n):
    deadline = time.monotonic() + POOL_WAIT_S
    while pool_of(addr)["ready"] < n:
        if time.monotonic() > deadline:
            sys.exit(f"benchmark: the pool did not fill: {pool_of(addr)}")
        time.sleep(0.02)


def burst(addr, n):
    """n ephemeral chats at once, each on its connection: the wall time, ms."""
    errors = []

    def one():
        c = http.client.HTTPConnection(*addr, timeout=120)
        try:
            cb.one_run(c, BODY)
        except Exception as e:            # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            c.close()
    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"benchmark: a run of a burst failed: {errors[0]}")
    return (time.monotonic() - t0) * 1000


def sequential(conns, runs, block):
    """runs per side, in alternating blocks of back-to-back runs: {side: [one_run]}."""
    out = {0: [], 1: []}
    blk = 0
    while len(out[0]) < runs:
        for side in ((0, 1) if blk % 2 == 0 else (1, 0)):
            n = min(block, runs - len(out[side]))
            out[side] += [cb.one_run(conns[side], BODY) for _ in range(n)]
        blk += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--bursts", type=int, default=6)
    ap.add_argument("--burst", type=int, default=8)
    ap.add_argument("--agentd", default=os.path.join(cb.ROOT, "agentd"))
    ap.add_argument("--command", default="echo hi")
    args = ap.parse_args()
    mock_args = ["--auto", "bash", "--auto-command", args.command]
    with cb.mock_and_agentd(args.agentd, mock_args, {"AGENTD_POOL_SIZE": "0"}, "agentd-pool-bench-0-") as a, \
         cb.mock_and_agentd(args.agentd, mock_args, {"AGENTD_POOL_SIZE": str(args.pool)},
                            "agentd-pool-bench-p-") as b:
        mocks, addrs, daemons = (a[0], b[0]), (a[1], b[1]), (a[2], b[2])
        wait_pool(addrs[1], args.pool)
        conns = [http.client.HTTPConnection(*x, timeout=120) for x in addrs]
        try:
            for _ in range(cb.WARMUP):
                for side in (0, 1):
                    cb.one_run(conns[side], BODY)
            wait_pool(addrs[1], args.pool)
            before = pool_of(addrs[1])
            seq = sequential(conns, args.runs, args.block)
            after = pool_of(addrs[1])
        except (RuntimeError, OSError, http.client.HTTPException, ValueError) as e:
            sys.exit(f"benchmark: a run failed: {e}\nagentd's log:\n" +
                     "\n".join(daemons[0].lines[-10:] + daemons[1].lines[-10:]))
        for c in conns:
            c.close()
        parts = []
        for side in (0, 1):
            reqs = cb.mock_requests(mocks[side])[2 * cb.WARMUP:2 * (cb.WARMUP + args.runs)]
            parts.append(cb.breakdown(seq[side], reqs))
        walls = {0: [], 1: []}
        for i in range(args.bursts):
            for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                wait_pool(addrs[1], args.pool)
                walls[side].append(burst(addrs[side], args.burst))

    med = statistics.median
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    print(f"warm pool: ephemeral POST /api/chat, one bash call ({args.command!r}) then a text reply; "
          f"no pool vs session.pool_size {args.pool}, two daemons side by side")
    print(f"sequential: {args.runs} runs each, in alternating blocks of {args.block}; "
          f"the pool's hits {hits}, misses {misses}")
    print(f"{'medians, ms':44} {'no pool':>9} {'pool':>9} {'ratio':>7}")
    x, y = statistics.mean(parts[0]["total"]), statistics.mean(parts[1]["total"])
    print(f"{'whole request at the client (mean)':44} {x:9.2f} {y:9.2f} {y / x:7.2f}")

    def row(label, key, target=""):
        x, y = med(parts[0][key]), med(parts[1][key])
        print(f"{label:44} {x:9.2f} {y:9.2f} {y / x if x else 0:7.2f}  {target}")
    row("whole request at the client", "total", "(target <= 0.7)")
    row("  client send -> 1st API request", "start", "(sandbox + agent start + relay)")
    row("  the bash tool call (duration_ms)", "tool")
    row("  1st reply -> 2nd request, - tool", "between", "(relay both ways + agent loop)")
    row("  2nd reply -> reply at the client", "end")
    x, y = med(walls[0]), med(walls[1])
    print(f"bursts of {args.burst} at once, {args.bursts} each, the median burst's wall time, ms")
    print(f"{'':44} {x:9.2f} {y:9.2f} {y / x:7.2f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
