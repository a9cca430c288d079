#!/usr/bin/env python3
"""Session start benchmark (issue 5): POST /api/sessions until the session is ready,
with and without the warm pool. It prints figures; it does not judge them. (Density,
idle sessions by the thousand, is density_bench.py's.)"""

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
from chat_bench import KEY, MODEL, MOCK, ROOT, Proc, pct  # noqa: E402


def request(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def start_daemon(tmp, mock_addr, pool, extra_env=None):
    cfg = os.path.join(tmp, f"agentd-{pool}.json")
    os.makedirs(os.path.join(tmp, "static"), exist_ok=True)
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(tmp, f"state-{pool}"),
                   "static_dir": os.path.join(tmp, "static"),
                   "http": {"max_connections_per_ip": 0, "threads": 2}}, f)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ANTHROPIC_API_KEY": KEY,
           "ANTHROPIC_BASE_URL": f"http://{mock_addr[0]}:{mock_addr[1]}", "AGENTD_MODEL": MODEL,
           "AGENTD_POOL_SIZE": str(pool), "AGENTD_ACCESS_LOG": "false",
           "AGENTD_MAX_SESSIONS": "100000", "AGENTD_MAX_SESSIONS_PER_TOKEN": "100000"}
    env.update(extra_env or {})
    d = Proc([os.path.join(ROOT, "agentd"), "--config", cfg], env=env, cwd=tmp)
    return d, d.wait_ready("agentd")


def wait_ready(conn, sid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request(conn, "GET", f"/api/sessions/{sid}")["state"] == "ready":
            return
        time.sleep(0.0002)
    raise RuntimeError(f"session {sid} never became ready")


def session_start(addr, pool, runs):
    conn = http.client.HTTPConnection(*addr, timeout=60)
    if pool:     # let the pool fill first
        deadline = time.monotonic() + 30
        while request(conn, "GET", "/api/health")["sessions"]["pool"]["ready"] < pool and time.monotonic() < deadline:
            time.sleep(0.01)
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        sid = request(conn, "POST", "/api/sessions", {})["id"]
        wait_ready(conn, sid)
        times.append((time.monotonic() - t0) * 1000)
        request(conn, "DELETE", f"/api/sessions/{sid}")
        if pool:  # a session a second, as people come: the pool refills in between
            deadline = time.monotonic() + 5
            while request(conn, "GET", "/api/health")["sessions"]["pool"]["ready"] < pool and \
                    time.monotonic() < deadline:
                time.sleep(0.001)
    conn.close()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="agentd-session-bench-")
    mock = None
    try:
        mock = Proc([sys.executable, MOCK, "--port", "0", "--key", KEY, "--models", MODEL, "--auto", "echo"],
                    env={"PATH": "/usr/bin:/bin"}, stream="stdout")
        mock_addr = mock.wait_ready("the mock Messages API")
        print(f"session start: POST /api/sessions until ready, {args.runs} runs")
        print(f"{'':36} {'median':>9} {'p99':>9}")
        for pool in (0, 2):
            d, addr = start_daemon(tmp, mock_addr, pool)
            try:
                t = session_start(addr, pool, args.runs)
            finally:
                d.stop()
            target = "  (target with the pool: <= 1 ms median)" if pool else ""
            print(f"{'warm pool of ' + str(pool) + ', ms':36} {statistics.median(t):9.2f} {pct(t, 99):9.2f}{target}")
    finally:
        if mock is not None:
            mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
