#!/usr/bin/python3
"""Sandbox start-up benchmark: create -> run /bin/true -> exit, side by side.

agentd sandbox run, bwrap --unshare-all and unshare(1) are run interleaved (one of
each per round), so that whatever else the machine does weighs on all three alike.
Prints median and p99 per tool, the agentd/bwrap ratio (target < 0.8), the median of
each of agentd's start-up steps (AGENTD_SANDBOX_TIMING=1), the peak RSS of the agentd
launcher, and the PSS of an idle sandbox running sleep (what agentd adds per sandbox:
its launcher and its init, not the sleep itself).

Usage: sandbox_bench.py [--runs N] [--agentd PATH]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from procfs import children  # noqa: E402


def bwrap_cmd(bwrap):
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    for d in ("bin", "lib", "lib64", "sbin"):
        p = "/" + d
        if os.path.islink(p):
            cmd += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            cmd += ["--ro-bind", p, p]
    return cmd + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]


def run_once(argv, steps=None):
    """Wall time of one run in ms. With steps (a dict), agentd runs with
    AGENTD_SANDBOX_TIMING=1 and each of its steps is appended to steps[name] as (its
    time, its end since the spawn) in ms: from the spawn to its first mark ("launch":
    exec and dynamic linking of the launcher), between marks (the launcher's and the
    sandbox child's, in the order they happened), and from the last mark to its end
    ("exit")."""
    env = {"PATH": "/usr/bin:/bin"}
    actions = []
    if steps is not None:
        env["AGENTD_SANDBOX_TIMING"] = "1"
        log = tempfile.TemporaryFile()
        actions = [(os.POSIX_SPAWN_DUP2, log.fileno(), 2)]
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic_ns()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark: {argv[0]} failed with status {status}")
    if steps is not None:
        log.seek(0)
        marks = [line.split()[1:3] for line in log.read().decode().splitlines()
                 if line.startswith("agentd-steptime ")]
        log.close()
        prev_ns = t0
        for name, ns in marks + [("exit", t1)]:     # each step ends at its mark
            name = "launch" if name == "main" else name
            steps.setdefault(name, []).append(((int(ns) - prev_ns) / 1e6, (int(ns) - t0) / 1e6))
            prev_ns = int(ns)
    return (t1 - t0) / 1e6


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def proc_kib(pid, path, key):
    with open(f"/proc/{pid}/{path}") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    return proc_kib(pid, "smaps_rollup", "Pss")


def idle_many(argv, n):
    """PSS of agentd's own processes per sandbox with n idle sandboxes at once: what one
    more sandbox costs when the libraries' pages are shared, as they are in service."""
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        total = 0
        deadline = time.monotonic() + 10
        for p in procs:
            while time.monotonic() < deadline:
                kids = children(p.pid)
                if kids and children(kids[0]):
                    break
                time.sleep(0.02)
            else:
                sys.exit("benchmark: idle sandboxes did not start")
        time.sleep(0.2)
        for p in procs:
            init = children(p.pid)[0]
            total += pss_kib(p.pid) + pss_kib(init)
        return total / n
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def idle_pss(argv, label):
    """Start argv (ending in sleep), find launcher -> init -> sleep, read their PSS."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        chain = [proc.pid]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chain = [proc.pid]
            while len(chain) < 4:
                kids = children(chain[-1])
                if not kids:
                    break
                chain.append(kids[0])
            names = [open(f"/proc/{p}/comm").read().strip() for p in chain]
            if names and names[-1] == "sleep":
                break
            time.sleep(0.02)
        else:
            sys.exit(f"benchmark: {label}: no sleep process appeared")
        time.sleep(0.2)
        values = {p: pss_kib(p) for p in chain}
        hwm = proc_kib(chain[0], "status", "VmHWM")   # the launcher's peak RSS since exec
        return chain, names, values, hwm
    finally:
        proc.terminate()        # SIGTERM: the launcher kills its sandbox and cleans up
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    args = ap.parse_args()

    tools = {"agentd": [args.agentd, "sandbox", "run", "--", "/bin/true"]}
    bwrap = shutil.which("bwrap")
    if bwrap:
        tools["bwrap"] = bwrap_cmd(bwrap)
    unshare = shutil.which("unshare")
    if unshare:
        tools["unshare"] = [unshare, "--user", "--map-root-user", "--pid", "--fork", "--net",
                            "--mount", "--ipc", "--uts", "/bin/true"]

    for argv in tools.values():          # warm caches; not counted
        for _ in range(5):
            run_once(argv)
    times = {name: [] for name in tools}
    steps = {}
    for i in range(args.runs):
        order = list(tools)[i % len(tools):] + list(tools)[:i % len(tools)]
        for name in order:
            times[name].append(run_once(tools[name], steps if name == "agentd" else None))

    print(f"sandbox start-up: create, run /bin/true, exit; {args.runs} runs each, interleaved")
    print(f"{'tool':10} {'median ms':>10} {'p99 ms':>10} {'mean ms':>10}")
    for name, v in times.items():
        print(f"{name:10} {statistics.median(v):10.2f} {pct(v, 99):10.2f} {statistics.mean(v):10.2f}")
    if "bwrap" in times:
        ratio = statistics.median(times["agentd"]) / statistics.median(times["bwrap"])
        print(f"ratio agentd/bwrap (median): {ratio:.2f}  (target < 0.80)")
    print("agentd per step (median ms; each from the mark before; 'launch': spawn to main(), "
          "'ended': init's exec, the command, the sandbox's end):")
    # in the order they end, as a median run has them
    for name, v in sorted(steps.items(), key=lambda kv: statistics.median(e for _, e in kv[1])):
        print(f"  {name:22} {statistics.median(d for d, _ in v):7.3f}   "
              f"(ends at {statistics.median(e for _, e in v):6.2f})")
    chain, names, values, hwm = idle_pss([args.agentd, "sandbox", "run", "--", "sleep", "30"], "agentd")
    overhead = sum(v for p, v in values.items() if names[chain.index(p)] != "sleep")
    print("idle sandbox running sleep, PSS per process: " +
          ", ".join(f"{n}[{p}] {values[p]} KiB" for p, n in zip(chain, names)))
    print(f"agentd PSS overhead per idle sandbox (launcher + init): {overhead / 1024:.2f} MiB  (target <= 1 MiB)")
    print(f"agentd launcher peak RSS (VmHWM): {hwm / 1024:.2f} MiB")
    many = idle_many([args.agentd, "sandbox", "run", "--", "sleep", "30"], 10)
    print(f"agentd PSS overhead per idle sandbox with 10 at once: {many / 1024:.2f} MiB")
    if bwrap:
        chain, names, values, hwm = idle_pss(bwrap_cmd(bwrap)[:-1] + ["sleep", "30"], "bwrap")
        overhead = sum(v for p, v in values.items() if names[chain.index(p)] != "sleep")
        many = idle_many(bwrap_cmd(bwrap)[:-1] + ["sleep", "30"], 10)
        print(f"bwrap, for comparison: PSS overhead {overhead / 1024:.2f} MiB alone, {many / 1024:.2f} MiB "
              f"each with 10 at once; launcher peak RSS {hwm / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
