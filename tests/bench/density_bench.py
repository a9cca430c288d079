#!/usr/bin/env python3
"""Density benchmark (issue 17): idle long-running sessions, up to --sessions.

It creates sessions (no warm pool) until --sessions are idle and alive, or until agentd
refuses one for a limit of the host (its 503 names it), then reports: how many were made
and alive, the time it took, tasks per session, PSS per session (and per process kind),
the gateway's PSS, RSS and open files, and /api/health latency while they live. Then it
deletes them and checks that nothing is left: processes, mounts, loop devices, cgroups.

What the host is made to give, and why (each said in the output):
- The state directory is a file system with project quotas (an ext4 or XFS image, loop-
  mounted for this run and removed after), so that workspaces are directories under a
  quota: the `loop` store auto picks here as root costs an ext4 image, a loop device and
  a jbd2 thread per session, which is not what a dense host should run.
- agentd runs with RLIMIT_NOFILE 65536 (its systemd unit's LimitNOFILE) where the bench
  may raise it, else under the hard limit it was given.
- kernel.pid_max: 10 000 sessions of 3 tasks (4 with a shell started ahead) come close
  to Debian's 32768, or pass it. With --pid-max, when the first sessions show that it
  would stop the run short, the bench says at about how many sessions, raises it for its
  run and puts the old value back after. Without it, the run shows the limit agentd
  meets, named in the 503 that stops it."""

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_bench import KEY, MODEL, MOCK, ROOT, Proc, pct  # noqa: E402

TARGET_PSS_MIB = 0.5
NOFILE = 65536                  # config/agentd.service: LimitNOFILE
UID_COUNT = 65536               # sandbox.uid_count's default
BATCH = 32                      # sessions asked for before waiting for them to be ready
QUEUE_FULL = "spawner's queue is full"
GUARD_MIB = 192                 # under agentd's own floor (256 MiB): the bench stops first only
                                # when agentd failed to refuse, before the host pages its code out


def children(pid):
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(p))
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def call(conn, method, path, body=None):
    """One request; a keep-alive connection the server closed meanwhile is made again."""
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"} if body is not None else {})
            r = conn.getresponse()
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if attempt == 2:
                raise
    data = r.read()
    return r.status, (json.loads(data) if data and "json" in (r.getheader("Content-Type") or "") else data)


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True)


def quota_fs(state, tmp):
    """A file system with project quotas mounted at state, from a sparse image: ext4
    with the project feature, else XFS. (kind, image) or (None, why)."""
    why = []
    for kind, mkfs in (("ext4", ["mkfs.ext4", "-q", "-O", "quota,project", "-E", "quotatype=prjquota"]),
                       ("xfs", ["mkfs.xfs", "-q"])):
        image = os.path.join(tmp, f"state-{kind}.img")
        with open(image, "wb") as f:
            f.truncate(64 << 30)         # sparse: it takes what the sessions write
        made = sh(*mkfs, image)
        os.makedirs(state, exist_ok=True)
        if made.returncode == 0 and sh("mount", "-o", "loop,prjquota", image, state).returncode == 0:
            return kind, image
        kernel = sh("dmesg").stdout.strip().splitlines()[-1:]
        why.append(f"{kind}: {made.stderr.strip() or 'mount -o prjquota failed: ' + ' '.join(kernel)}")
        os.unlink(image)
    return None, "; ".join(why)


def pid_max_for(n, notes, restore):
    """A hook for create(): from what the first sessions took, the tasks n sessions need;
    when kernel.pid_max is short of them, it is raised for this run (restore says how
    to put it back), and said so."""
    base = host_tasks()

    def check(made):
        per = (host_tasks() - base) / made
        need = base + int(per * n * 1.05) + 1024
        with open("/proc/sys/kernel/pid_max") as f:
            have = int(f.read())
        if need <= have:
            return
        # at most sandbox.uid_count (65536): a sandbox's host uid is uid_base + its init's
        # pid % uid_count, unique among live sandboxes while pids stay below it
        want = min(1 << (need - 1).bit_length(), UID_COUNT)
        if want <= have:
            return
        restore.append(set_sysctl("kernel.pid_max", want))
        notes.append(f"kernel.pid_max ({have}) would have stopped it at about {int((have - base - 1024) / per)} "
                     f"sessions ({per:.1f} tasks each): raised to {want} for this run, put back after")
        print(f"  {notes[-1]}", flush=True)
    return check


def set_sysctl(name, value):
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))
    return old


def start(tmp, state, mock_addr, store, agentd, shell_ahead=True, shell_rest=None):
    cfg = os.path.join(tmp, "agentd.json")
    os.makedirs(os.path.join(tmp, "static"), exist_ok=True)
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "state_dir": state, "static_dir": os.path.join(tmp, "static"),
                   "http": {"max_connections_per_ip": 0, "threads": 2}}, f)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ANTHROPIC_API_KEY": KEY,
           "ANTHROPIC_BASE_URL": f"http://{mock_addr[0]}:{mock_addr[1]}", "AGENTD_MODEL": MODEL,
           "AGENTD_POOL_SIZE": "0", "AGENTD_ACCESS_LOG": "false",
           "AGENTD_MAX_SESSIONS": "100000", "AGENTD_MAX_SESSIONS_PER_TOKEN": "100000",
           "AGENTD_SESSION_IDLE_TIMEOUT_S": "86400", "AGENTD_SANDBOX_WORKSPACE_STORE": store,
           "AGENTD_SHELL_AHEAD": "true" if shell_ahead else "false"}
    if shell_rest is not None:
        env["AGENTD_SHELL_REST_S"] = str(shell_rest)
    d = Proc([agentd, "--config", cfg], env=env, cwd=tmp)
    return d, d.wait_ready("agentd", timeout=30)


def wait_ready(conn, sid, timeout=300):
    """None when ready, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, j = call(conn, "GET", f"/api/sessions/{sid}")
        if st == 200 and j["state"] == "ready":
            return None
        if st != 200 or j["state"] in ("failed", "destroyed"):
            return f"session {sid}: {st} {json.dumps(j)[:400]}"
        time.sleep(0.002)
    return f"session {sid} not ready after {timeout} s"


def host_tasks():
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[1])


def create(conn, n, after_first_batch):
    """Sessions made until n are ready or agentd refuses one: (ids, why it stopped)."""
    ids = []
    while len(ids) < n:
        if len(ids) == BATCH:
            after_first_batch(len(ids))
        batch = []
        while len(batch) < min(BATCH, n - len(ids)):
            st, j = call(conn, "POST", "/api/sessions", {"pattern": "long-running"})
            if st == 201:
                batch.append(j["id"])
            elif st == 503 and QUEUE_FULL in j["error"]["message"]:
                time.sleep(0.05)         # faster than it forks: not a limit
            else:
                ids += batch
                return ids, f"{st}: {j['error']['message'] if j and 'error' in j else j}"
        ids += batch
        for sid in batch:
            why = wait_ready(conn, sid)
            if why is not None:
                return ids, why
        avail = meminfo()["MemAvailable"] // 1024
        if avail < GUARD_MIB:
            return ids, (f"THE BENCH stopped it: MemAvailable {avail} MiB, and agentd (which keeps at least "
                         f"256 MiB free) still took sessions")
        if len(ids) % 1000 < BATCH:
            mem = meminfo()
            print(f"  ... {len(ids)} sessions; MemAvailable {avail} MiB, slab {mem['Slab'] // 1024} MiB",
                  flush=True)
    return ids, None


def ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def kinds_of(pids):
    """pid -> supervisor, spawner, init (the supervisor's child), agent (init's child:
    the same command line) or other (its name)."""
    kinds = {}
    for p in pids:
        try:
            comm = open(f"/proc/{p}/comm").read().strip()
        except OSError:
            continue
        kinds[p] = {"agentd-session": "supervisor", "agentd-spawner": "spawner"}.get(comm, comm)
    for p, k in kinds.items():
        parent = kinds.get(ppid_of(p))
        if k not in ("supervisor", "spawner"):
            kinds[p] = "init" if parent == "supervisor" else "agent" if parent == "init" else f"other ({k})"
    return kinds


def proc_tasks(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


KERNEL_FIELDS = ("Slab", "SUnreclaim", "PageTables", "KernelStack", "Percpu")


def meminfo():
    """/proc/meminfo's fields, in KiB."""
    with open("/proc/meminfo") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f}


def kernel_mem():
    """The kernel's memory that sessions cost and PSS does not show: /proc/meminfo's
    fields (KiB) and /proc/slabinfo's caches (active objects, object size)."""
    mem = meminfo()
    slabs = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                x = line.split()
                slabs[x[0]] = (int(x[1]), int(x[3]))
    except OSError:
        pass
    return {k: mem.get(k, 0) for k in KERNEL_FIELDS}, slabs


def kernel_growth(before, after, n):
    """Per session: the meminfo fields' growth (KiB) and the slab caches that grew most
    (objects, KiB). Other processes on the host move these too: a figure, not a test."""
    fields = {k: (after[0][k] - before[0][k]) / n for k in KERNEL_FIELDS}
    caches = sorted(((after[1][k][0] - before[1].get(k, (0, 0))[0]) / n, after[1][k][1], k) for k in after[1])
    top = [(k, objs, objs * size / 1024) for objs, size, k in caches]
    return fields, sorted(top, key=lambda t: -t[2])[:8]


def tree_pss(gw):
    return sum(pss_kib(p) for p in [gw] + children(gw))


def measure(conn, gw, ids, idle_fds, idle_pss, idle_tree, idle_kernel):
    """Memory, tasks, files and latency with the sessions alive. PSS per session is what
    the whole tree (gateway and spawner too: supervisors share pages with them) grew by."""
    time.sleep(2)                        # idle: what was touched to start is settled
    kinds = {}
    for p, k in kinds_of(children(gw)).items():
        if k != "spawner":
            kinds.setdefault(k, []).append((pss_kib(p), proc_tasks(p)))
    n = max(1, len(ids))
    lat = []
    for _ in range(1000):
        t = time.monotonic()
        call(conn, "GET", "/api/health")
        lat.append((time.monotonic() - t) * 1000)
    scrape = []
    for _ in range(3):
        t = time.monotonic()
        call(conn, "GET", "/metrics")
        scrape.append((time.monotonic() - t) * 1000)
    fds = os.stat(f"/proc/{gw}/fd").st_size
    kernel = kernel_growth(idle_kernel, kernel_mem(), n)
    return {"kernel": kernel, "kinds": kinds, "n": n, "alive": call(conn, "GET", "/api/health")[1]["sessions"]["alive"],
            "pss": (tree_pss(gw) - idle_tree) / n,
            "tasks": sum(x[1] for v in kinds.values() for x in v) / n,
            "gw_pss": pss_kib(gw), "gw_rss": status_kib(gw, "VmRSS"), "gw_threads": proc_tasks(gw),
            "gw_fds": fds, "gw_fds_per": (fds - idle_fds) / n, "gw_growth": pss_kib(gw) - idle_pss,
            "h_med": statistics.median(lat), "h_p99": pct(lat, 99), "scrape": statistics.median(scrape)}


def agentd_cgroups():
    """Session cgroups ("agentd-*") below this process' cgroups, which agentd inherits."""
    found = set()
    for line in open("/proc/self/cgroup"):
        _, ctls, path = line.rstrip("\n").split(":", 2)
        for c in ctls.split(",") if ctls else ["unified"]:
            base = f"/sys/fs/cgroup/{c.replace('name=', '')}{path}"
            for root, dirs, _ in os.walk(base) if os.path.isdir(base) else ():
                found.update(os.path.join(root, x) for x in dirs if x.startswith("agentd-"))
    return found


def leftovers(tmp, gw_kids, cgroups_before):
    mounts = [m for m in open("/proc/self/mountinfo") if tmp in m]
    loops = sh("losetup", "-l", "-n", "-O", "BACK-FILE").stdout
    loops = [x for x in loops.splitlines() if tmp in x]
    procs = [p for p in gw_kids if os.path.exists(f"/proc/{p}")]
    # another agentd on the host (tests running beside) makes cgroups too: ours are named
    # after our supervisors, "agentd-<pid>-<n>"
    ours = {str(p) for p in gw_kids}
    return mounts, loops, procs, sorted(c for c in agentd_cgroups() - cgroups_before
                                        if os.path.basename(c).split("-")[1] in ours)


def report(args, made, why, built_s, r, setup):
    print(f"density: idle long-running sessions, no warm pool, "
          f"{'no shell until the first command (agent.shell_ahead false)' if args.no_shell_ahead else 'a shell started ahead in each (agent.shell_ahead, the default)'}{f', unused shells ended after {args.shell_rest} s idle (agent.shell_rest_s)' if args.shell_rest is not None else ''}; {setup}")
    per_kind = ", ".join(f"{k} {sum(x[0] for x in v) / len(v):.0f} KiB and {sum(x[1] for x in v) / len(v):.1f} "
                         f"tasks x{len(v)}"
                         for k, v in sorted(r["kinds"].items()))
    print(f"  made {made} of {args.sessions} in {built_s:.0f} s ({made / max(built_s, 1e-9):.0f}/s); "
          f"{r['alive']} alive; {r['tasks']:.1f} tasks per session")
    print(f"  stopped by: {why}" if why else "  no limit met")
    print(f"  per process kind (mean PSS, tasks): {per_kind}")
    print(f"  PSS per session: {r['pss']:.0f} KiB (the whole tree's growth, gateway and spawner included)")
    fields, top = r["kernel"]
    print("  kernel memory per session (KiB; the host's growth, other processes' too): " +
          ", ".join(f"{k} {v:.0f}" for k, v in fields.items()))
    print("  slab caches that grew most, per session: " +
          ", ".join(f"{k} {objs:.0f} ({kib:.0f} KiB)" for k, objs, kib in top))
    print(f"  the gateway: {r['gw_pss'] / 1024:.1f} MiB PSS ({r['gw_growth'] / 1024:+.1f} MiB with the sessions,"
          f" {r['gw_growth'] / r['n']:.2f} KiB each), {r['gw_rss'] / 1024:.1f} MiB RSS, {r['gw_threads']} threads, "
          f"{r['gw_fds']} open files ({r['gw_fds_per']:.2f} per session)")
    print(f"  GET /api/health while they live: median {r['h_med']:.2f} ms, p99 {r['h_p99']:.2f} ms; "
          f"GET /metrics {r['scrape']:.0f} ms")
    mib = r["pss"] / 1024
    kernel_mib = (fields["Slab"] + fields["PageTables"] + fields["KernelStack"] + fields["Percpu"]) / 1024
    print(f"density: {r['alive']} idle sessions, {mib:.2f} MiB PSS per session (target <= {TARGET_PSS_MIB} MiB: "
          f"{mib / TARGET_PSS_MIB:.2f}x), {kernel_mib:.2f} MiB kernel memory (slab, page tables, stacks, "
          f"per-cpu) per session, gateway {r['gw_pss'] / 1024:.1f} MiB and {r['gw_fds']} fds, "
          f"/api/health p99 {r['h_p99']:.2f} ms, first limit: {why or 'none met'}")


def run(args, tmp, notes, restore):
    state = os.path.join(tmp, "state")
    kind, image = quota_fs(state, tmp) if args.store == "quota" else (None, "not asked for")
    store = "quota" if kind else ("tmpfs" if args.store == "quota" else args.store)
    notes.append(f"state directory on a loop-mounted {kind} image with project quotas (store quota)"
                 if kind else f"workspace store {store} ({image})")
    mock = Proc([sys.executable, MOCK, "--port", "0", "--key", KEY, "--models", MODEL, "--auto", "echo"],
                env={"PATH": "/usr/bin:/bin"}, stream="stdout")
    cgroups_before = agentd_cgroups()
    d, kids = None, []
    try:
        d, addr = start(tmp, state, mock.wait_ready("the mock Messages API"), store, args.agentd,
                        shell_ahead=not args.no_shell_ahead, shell_rest=args.shell_rest)
        gw = d.p.pid
        conn = http.client.HTTPConnection(*addr, timeout=300)
        idle_fds, idle_pss, idle_tree = os.stat(f"/proc/{gw}/fd").st_size, pss_kib(gw), tree_pss(gw)
        idle_kernel = kernel_mem()
        t0 = time.monotonic()
        ids, why = create(conn, args.sessions, pid_max_for(args.sessions, notes, restore) if args.pid_max
                          else lambda made: None)
        built = time.monotonic() - t0
        if args.shell_rest is not None:      # idle sessions as they are once their unused shells rested
            deadline = time.monotonic() + args.shell_rest + 120
            while time.monotonic() < deadline and any(k == "other (bash)" for k in kinds_of(children(gw)).values()):
                time.sleep(0.5)
        r = measure(conn, gw, ids, idle_fds, idle_pss, idle_tree, idle_kernel)
        kids = children(gw)
        t0 = time.monotonic()
        for sid in ids:
            call(conn, "DELETE", f"/api/sessions/{sid}")
        deadline = time.monotonic() + 600
        while len(children(gw)) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        notes.append(f"deleted in {time.monotonic() - t0:.0f} s")
        conn.close()
        if d.p.poll() is not None:
            print(f"density: agentd ended on its own (status {d.p.returncode}):\n  " + "\n  ".join(d.lines[-15:]))
        d.stop()
        d = None
        report(args, len(ids), why, built, r, "; ".join(notes))
    finally:
        if d is not None:
            d.stop()
        mock.stop()
        if kind:
            sh("umount", state)
    left = leftovers(tmp, kids, cgroups_before)
    if any(left):
        print(f"density: LEFT BEHIND: mounts {left[0]}, loop devices {left[1]}, processes {left[2]}, "
              f"cgroups {left[3][:5]}")
    else:
        print("density: nothing left behind (processes, mounts, loop devices, cgroups)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"), help="the binary (another build, to compare)")
    ap.add_argument("--store", default="quota", help="quota (an image made for the run), or a store agentd picks")
    ap.add_argument("--pid-max", action="store_true",
                    help="raise kernel.pid_max for the run (and put it back) if it would stop it short")
    ap.add_argument("--shell-rest", type=int, metavar="S",
                    help="agent.shell_rest_s S, and measure once the unused shells have ended")
    ap.add_argument("--no-shell-ahead", action="store_true",
                    help="agent.shell_ahead false: no bash in an idle session until its first command")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="agentd-density-bench-")
    notes, restore = [], []
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:               # agentd inherits it, and raises its soft limit to the hard one
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, NOFILE), max(hard, NOFILE)))
            notes.append(f"agentd under RLIMIT_NOFILE {max(hard, NOFILE)} (the unit's LimitNOFILE)")
        except (OSError, ValueError):
            notes.append(f"agentd under RLIMIT_NOFILE {hard}, this host's hard limit (not raised: no CAP_SYS_RESOURCE)")
        run(args, tmp, notes, restore)
    finally:
        for old in restore:
            set_sysctl("kernel.pid_max", old)
            print(f"density: kernel.pid_max put back to {old}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
