#!/usr/bin/python3
"""Workspaces on the host's disk (issue 15): the loop store beside the tmpfs one.

For each store (sandbox.workspace_store: tmpfs, the old way and the anchor; loop, an
ext4 image per workspace), each in a daemon of its own (warm pool off, the mock
Messages API answering every model call with a text reply at once, --auto echo):

  1. Suspend + resume of a hybrid session whose workspace holds nothing, 300 MiB, 1 GiB
     (--sizes) of random data, written by exec before the measurement and synced
     (not timed). Each of --runs rounds times POST .../suspend until its 200 (the sandbox
     is gone) and the next message's turn until its answer (a new sandbox on the
     workspace; on tmpfs the snapshot unpacked into it, and, as after every turn of a
     hybrid session there, a new snapshot saved before the answer). The data's sha256
     (exec sha256sum) is compared before and after. Prints the medians per store and
     size, each total's ratio to the empty workspace's (the target: loop, 300 MiB <= 3)
     and the ratio loop / tmpfs per size.
  2. Session start with and without the warm pool (session.pool_size 2 and 0):
     session_bench.session_start, POST /api/sessions until GET says "ready", sequential;
     median and p90, ratio loop / tmpfs.

It prints figures beside the target and does not judge them; it fails when a request
does, or when the data did not survive a round (after printing what it has).

Usage: workspace_bench.py [--runs 5] [--sizes 0,300,1024] [--start-runs 40]
                          [--stores tmpfs,loop]
"""
import argparse
import http.client
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_bench import KEY, MODEL, MOCK, Proc, pct  # noqa: E402
from session_bench import request, session_start, start_daemon, wait_ready  # noqa: E402

HTTP_TIMEOUT = 1800          # a 1 GiB snapshot through the tmpfs store's frames takes a while


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return f"machine: {model}, {os.cpu_count()} cores, {mem} MiB of memory, Linux {platform.release()}"


def size_name(mib):
    return "empty" if mib == 0 else f"{mib} MiB" if mib < 1024 or mib % 1024 else f"{mib // 1024} GiB"


def daemon(tmp, mock_addr, store, pool):
    """agentd on store with a warm pool of pool, in tmp: (Proc, address)."""
    d, addr = start_daemon(tmp, mock_addr, pool, {"AGENTD_SANDBOX_WORKSPACE_STORE": store})
    got = request_once(addr, "GET", "/api/health")["workspaces"]["store"]
    if got != store:
        d.stop()
        sys.exit(f"benchmark: asked for the {store} store, agentd uses {got}")
    return d, addr


def request_once(addr, method, path, body=None):
    c = http.client.HTTPConnection(*addr, timeout=60)
    try:
        return request(c, method, path, body)
    finally:
        c.close()


def exec_ok(conn, sid, command):
    r = request(conn, "POST", f"/api/sessions/{sid}/exec", {"command": command, "timeout_s": 300})
    if r.get("exit_status") != 0:
        raise RuntimeError(f"exec {command!r}: {r}")
    return r["output"]


def suspend_resume(addr, mib, runs):
    """One hybrid session holding mib MiB: ([suspend ms], [resume ms], data intact)."""
    conn = http.client.HTTPConnection(*addr, timeout=HTTP_TIMEOUT)
    sid = request(conn, "POST", "/api/sessions", {"pattern": "hybrid"})["id"]
    wait_ready(conn, sid)
    if mib:
        exec_ok(conn, sid, f"head -c {mib}M /dev/urandom > big && sync -f big")
    check = "ls -A; if [ -e big ]; then sha256sum big; fi"
    before = exec_ok(conn, sid, check)
    suspend, resume = [], []
    for i in range(runs):
        t0 = time.monotonic()
        request(conn, "POST", f"/api/sessions/{sid}/suspend")
        t1 = time.monotonic()
        state = request(conn, "GET", f"/api/sessions/{sid}")["state"]
        if state != "suspended":
            raise RuntimeError(f"session {sid} is {state} after its suspend's 200")
        r = request(conn, "POST", f"/api/sessions/{sid}/messages", {"message": f"round {i}"})
        t2 = time.monotonic()
        if not r.get("reply") or r.get("warning"):
            raise RuntimeError(f"the resumed turn: {r}")
        suspend.append((t1 - t0) * 1000)
        resume.append((t2 - t1) * 1000)
    after = exec_ok(conn, sid, check)
    request(conn, "DELETE", f"/api/sessions/{sid}")
    conn.close()
    return suspend, resume, before == after and (mib == 0 or "big" in before)


def mounts_under(path):
    """Mount points at or below path, deepest first (from our own mount namespace)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def cleanup(tmp):
    """After the daemons have stopped: what a crash may have left mounted, then the tree."""
    for mp in mounts_under(tmp):
        print(f"benchmark: {mp} was still mounted; unmounting it (lazily)", file=sys.stderr)
        subprocess.run(["umount", "-l", mp], check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def print_suspend_table(res, stores, sizes, runs):
    print(f"\nsuspend + resume of a hybrid session: medians of {runs} rounds, ms "
          f"(x empty: the total's ratio to the empty workspace's)")
    print(f"{'store':6} {'workspace':>9} {'suspend':>9} {'resume':>9} {'total':>9} {'x empty':>8}"
          f"   {'totals min..max':>21}  data")
    for store in stores:
        for mib in sizes:
            if (store, mib) not in res:
                continue
            s, r, ok = res[store, mib]
            tot = [a + b for a, b in zip(s, r)]
            base = res.get((store, 0))
            ratio = statistics.median(tot) / statistics.median([a + b for a, b in zip(*base[:2])]) \
                if base else float("nan")
            print(f"{store:6} {size_name(mib):>9} {statistics.median(s):9.1f} {statistics.median(r):9.1f} "
                  f"{statistics.median(tot):9.1f} {ratio:8.2f}   {min(tot):10.1f}..{max(tot):<9.1f}  "
                  f"{'same sha256' if ok else 'CHANGED'}")
    if "loop" in stores and "tmpfs" in stores:
        cells = []
        for mib in sizes:
            if ("loop", mib) in res and ("tmpfs", mib) in res:
                lo, tm = (statistics.median([a + b for a, b in zip(*res[st, mib][:2])]) for st in ("loop", "tmpfs"))
                cells.append(f"{size_name(mib)} {lo / tm:.3g}")
        print("ratio loop / tmpfs, total: " + ",  ".join(cells))
    if ("loop", 300) in res and ("loop", 0) in res:
        tot = statistics.median([a + b for a, b in zip(*res["loop", 300][:2])])
        empty = statistics.median([a + b for a, b in zip(*res["loop", 0][:2])])
        print(f"target (issue 15): loop, 300 MiB total / empty <= 3: {tot / empty:.2f}")


def print_start_table(res, stores, runs):
    print(f"\nsession start: POST /api/sessions until GET says \"ready\", {runs} sessions, sequential, ms")
    print(f"{'store':6} {'warm pool':>9} {'median':>9} {'p90':>9}")
    for store in stores:
        for pool in (0, 2):
            if (store, pool) in res:
                t = res[store, pool]
                print(f"{store:6} {pool:9d} {statistics.median(t):9.2f} {pct(t, 90):9.2f}")
    if "loop" in stores and "tmpfs" in stores:
        cells = []
        for pool in (0, 2):
            if ("loop", pool) in res and ("tmpfs", pool) in res:
                lo, tm = res["loop", pool], res["tmpfs", pool]
                cells.append(f"pool {pool}: median {statistics.median(lo) / statistics.median(tm):.2f}, "
                             f"p90 {pct(lo, 90) / pct(tm, 90):.2f}")
        print("ratio loop / tmpfs: " + ";  ".join(cells))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="suspend+resume rounds per workspace size")
    ap.add_argument("--sizes", default="0,300,1024", help="workspace sizes, MiB")
    ap.add_argument("--start-runs", type=int, default=40, help="sessions started per store and pool size")
    ap.add_argument("--stores", default="tmpfs,loop")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    stores = args.stores.split(",")
    # SIGTERM as Ctrl-C: the finally clauses stop the daemons and clean up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("benchmark: terminated"))

    print(machine())
    tmp = tempfile.mkdtemp(prefix="agentd-workspace-bench-")
    mock = d = None
    held, starts, failed = {}, {}, False
    try:
        mock = Proc([sys.executable, MOCK, "--port", "0", "--key", KEY, "--models", MODEL, "--auto", "echo"],
                    env={"PATH": "/usr/bin:/bin"}, stream="stdout")
        mock_addr = mock.wait_ready("the mock Messages API")
        try:
            for store in stores:
                d, addr = daemon(os.path.join(tmp, store + "-hybrid"), mock_addr, store, 0)
                for mib in sizes:
                    t0 = time.monotonic()
                    held[store, mib] = suspend_resume(addr, mib, args.runs)
                    print(f"  {store}, {size_name(mib)}: {args.runs} rounds in {time.monotonic() - t0:.0f} s",
                          flush=True)
                d.stop()
                d = None
            for store in stores:
                for pool in (0, 2):
                    d, addr = daemon(os.path.join(tmp, f"{store}-start"), mock_addr, store, pool)
                    starts[store, pool] = session_start(addr, pool, args.start_runs)
                    d.stop()
                    d = None
        except (RuntimeError, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            failed = True
            print(f"benchmark: a request failed: {e}", file=sys.stderr)
            if d is not None:
                print("agentd's log:\n" + "\n".join(d.lines[-30:]), file=sys.stderr)
    finally:
        if d is not None:
            d.stop()
        if mock is not None:
            mock.stop()
        cleanup(tmp)
    print_suspend_table(held, stores, sizes, args.runs)
    print_start_table(starts, stores, args.start_runs)
    if failed or not all(ok for _, _, ok in held.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
