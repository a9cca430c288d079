"""The warm pool does not compete with the turns it serves: a sandbox taken is rebuilt
once the turn that took it has answered (or session.pool_refill_delay_ms after it was
taken, when turns go on), by the pool's own thread; pooled supervisors and sandboxes
wait at the lowest CPU priority (SCHED_IDLE, the least cgroup CPU weight) and go back
to the normal one when a session takes them; agentd stops without waiting for builds."""

import http.server
import os
import pathlib
import signal
import threading

from chat_util import (CHAT_TIMEOUT, UID_BASE, UID_COUNT, bash, calls, chat_env, chat_ok,  # noqa: F401
                       chat_settings, finish, mock, wait_pool_ready)
from conftest import poll
import sandbox_util as su

SCHED_OTHER, SCHED_IDLE = 0, 5


def start(daemon_factory, mock, size, delay_ms=600000, **env):
    return daemon_factory(settings=chat_settings(), env=chat_env(
        mock, AGENTD_POOL_SIZE=size, AGENTD_POOL_REFILL_DELAY_MS=delay_ms, **env))


def pool(d):
    return d.get("/api/health").json()["sessions"]["pool"]


def stat(pid):
    """/proc/PID/stat's fields after the command (field 3 is [0])."""
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def policies(pid):
    """The scheduling policy of each of pid's threads (stat field 41)."""
    out = {}
    for t in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(t.name)] = int(stat(f"{pid}/task/{t.name}")[38])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def children_of(ppid):
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int(stat(p.name)[1]) == ppid:
                    out.append(int(p.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def supervisors(d):
    """The daemon's supervisors (children of its spawner, itself a child of agentd)."""
    out = []
    for spawner in children_of(d.proc.pid):
        out += [p for p in children_of(spawner)
                if pathlib.Path(f"/proc/{p}/comm").read_text().strip() == "agentd-session"]
    return out


def cpu_cgroup(pid):
    """The directory of pid's cgroup that holds its CPU weight, and that weight's file."""
    for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctls, path = line.split(":", 2)
        if "cpu" in ctls.split(","):
            return pathlib.Path("/sys/fs/cgroup/cpu") / path.lstrip("/"), "cpu.shares"
    unified = [l for l in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines() if l.startswith("0::")]
    return pathlib.Path("/sys/fs/cgroup") / unified[0][3:].lstrip("/"), "cpu.weight"


def sandbox_threads(cgdir, weight_file):
    listing = "tasks" if weight_file == "cpu.shares" else "cgroup.threads"
    return [int(x) for x in (cgdir / listing).read_text().split()]


def comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def sandbox_of(sup):
    """The CPU cgroup (cpu_cgroup) of sup's sandbox, once a child of sup is in one of
    its own (None before)."""
    for c in children_of(sup):
        try:
            mine, theirs = cpu_cgroup(sup), cpu_cgroup(c)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if theirs != mine:
            return theirs
    return None


def thread_policy(tid):
    try:
        return int(stat(tid)[38])
    except (FileNotFoundError, ProcessLookupError):
        return None


def held_chat(d, mock):
    """An ephemeral chat on a thread of its own whose model reply the mock holds until
    the gate "turn" opens, once the turn is at the model; (thread, results)."""
    mock.enqueue({"text": "held", "gate": "turn"})
    results = []
    t = threading.Thread(target=lambda: results.append(chat_ok(d, "hold on")), daemon=True)
    t.start()
    mock.wait_for_requests(1)
    return t, results


def release(mock, t, results):
    mock.open_gate("turn")
    t.join(CHAT_TIMEOUT)
    assert results and results[0]["reply"] == "held"


def test_pooled_sandboxes_wait_at_the_lowest_priority_and_a_taken_one_gets_the_normal(daemon_factory, mock):
    d = start(daemon_factory, mock, 2)
    assert wait_pool_ready(d, 2)["ready"] == 2
    sups = supervisors(d)
    assert len(sups) == 2, sups
    for sup in sups:
        assert set(policies(sup).values()) == {SCHED_IDLE}, (sup, policies(sup))
        [init] = children_of(sup)
        cgdir, weight = cpu_cgroup(init)
        assert (cgdir / weight).read_text().strip() == ("2" if weight == "cpu.shares" else "1")
        threads = sandbox_threads(cgdir, weight)
        assert threads and {thread_policy(t) for t in threads} == {SCHED_IDLE}, threads
    # a session takes one: once its turn has run (its owner frame came before the turn),
    # its supervisor and everything in its sandbox run at the normal priority again
    r = d.post_json("/api/sessions", {})
    assert r.status == 201, r
    sid = r.json()["id"]
    mock.enqueue(calls(bash("sleep 60 > /dev/null 2>&1 & echo started")), {"text": "ok"})
    assert d.post_json(f"/api/sessions/{sid}/messages", {"message": "go"},
                       timeout=CHAT_TIMEOUT).json()["reply"] == "ok"
    taken = [s for s in supervisors(d) if s in sups and set(policies(s).values()) == {SCHED_OTHER}]
    assert len(taken) == 1, {s: policies(s) for s in supervisors(d)}
    [init] = children_of(taken[0])
    cgdir, weight = cpu_cgroup(init)
    assert (cgdir / weight).read_text().strip() == ("1024" if weight == "cpu.shares" else "100")
    threads = sandbox_threads(cgdir, weight)
    assert len(threads) >= 3, threads        # init, the agent, its shell and the sleep
    assert {thread_policy(t) for t in threads} - {None} == {SCHED_OTHER}, threads
    # the one still pooled has not changed
    [still] = [s for s in sups if s != taken[0]]
    assert set(policies(still).values()) == {SCHED_IDLE}
    finish(d, mock)


def test_the_gateway_raises_a_taken_sandbox_at_once_whatever_its_supervisor_does(daemon_factory, mock):
    d = start(daemon_factory, mock, 1)
    assert wait_pool_ready(d, 1)["ready"] == 1
    [sup] = supervisors(d)
    [init] = children_of(sup)
    cgdir, weight = cpu_cgroup(init)
    # a supervisor that gets no CPU (as one at SCHED_IDLE on a busy host) cannot read
    # that it was taken: the gateway has raised it by the time the session is made
    os.kill(sup, signal.SIGSTOP)
    try:
        r = d.post_json("/api/sessions", {})
        assert r.status == 201 and r.json()["state"] == "ready", r
        assert set(policies(sup).values()) == {SCHED_OTHER}, policies(sup)
        assert (cgdir / weight).read_text().strip() == ("1024" if weight == "cpu.shares" else "100")
        threads = sandbox_threads(cgdir, weight)
        assert threads and {thread_policy(t) for t in threads} - {None} == {SCHED_OTHER}, threads
    finally:
        os.kill(sup, signal.SIGCONT)
    finish(d, mock)


class HeldMCP:
    """A Streamable HTTP MCP server that answers nothing until released (then 404): a
    supervisor that opens it at its session's start waits there, its sandbox unbuilt."""

    def __init__(self):
        self.seen, self.go, self.answered = threading.Event(), threading.Event(), threading.Event()
        held = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                held.seen.set()
                held.go.wait(CHAT_TIMEOUT)
                held.answered.set()
                self.send_error(404)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/mcp"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        """(Closed: a supervisor that would open it meanwhile, the pool's next, meets a
        refusal, not a server that no longer answers.)"""
        self.go.set()
        self.srv.shutdown()
        self.srv.server_close()


def test_a_sandbox_taken_while_still_built_has_its_supervisor_raised_at_once(daemon_factory, mock):
    held = HeldMCP()
    try:
        d = daemon_factory(settings=chat_settings({"mcp": {"servers": {"held": {"url": held.url}}}}),
                           env=chat_env(mock, AGENTD_POOL_SIZE=1, AGENTD_LOG_LEVEL="debug",
                                        AGENTD_POOL_REFILL_DELAY_MS=600000))   # no starvation raise
        assert held.seen.wait(CHAT_TIMEOUT)     # the pooled supervisor waits on it, at SCHED_IDLE
        assert d.wait_for_log(r"pool: its sandbox is built by pid", timeout=CHAT_TIMEOUT)
        [sup] = supervisors(d)
        assert set(policies(sup).values()) == {SCHED_IDLE}, policies(sup)
        r = d.post_json("/api/sessions", {})
        assert r.status == 201 and r.json()["state"] == "creating", r
        assert pool(d)["hits"] == 1
        # raised by the gateway: the supervisor itself still waits on the server
        assert set(policies(sup).values()) == {SCHED_OTHER}, policies(sup)
        # none was ready: requests come faster than the pool is built, and its rebuild
        # starts at once, not once the turn has answered (no quiet moment comes)
        p = pool(d)
        assert (p["deferred"], p["building"]) == (0, 1), p
        assert poll(lambda: len(supervisors(d)) == 2, CHAT_TIMEOUT), supervisors(d)
        held.go.set()
        sid = r.json()["id"]
        assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "ready", CHAT_TIMEOUT)
        # and its sandbox, by the supervisor once it read that it was taken
        [init] = children_of(sup)
        cgdir, weight = cpu_cgroup(init)
        assert poll(lambda: (cgdir / weight).read_text().strip() in ("1024", "100"), CHAT_TIMEOUT)
        assert poll(lambda: {thread_policy(t) for t in sandbox_threads(cgdir, weight)} - {None} == {SCHED_OTHER},
                    CHAT_TIMEOUT)
        finish(d, mock)
    finally:
        held.stop()


def test_a_pooled_build_starved_past_the_delay_goes_on_at_the_normal_priority(daemon_factory, mock):
    """A host too busy to finish a pooled build at SCHED_IDLE (here: an MCP server that
    does not answer yet) would never have its pool: once session.pool_refill_delay_ms
    has passed, the build goes on at the normal priority, taken or not."""
    held = HeldMCP()
    try:
        d = daemon_factory(settings=chat_settings({"mcp": {"servers": {"held": {"url": held.url}}}}),
                           env=chat_env(mock, AGENTD_POOL_SIZE=1, AGENTD_LOG_LEVEL="debug",
                                        AGENTD_POOL_REFILL_DELAY_MS=300))
        assert held.seen.wait(CHAT_TIMEOUT)
        assert d.wait_for_log(r"pool: its build starved at SCHED_IDLE", timeout=CHAT_TIMEOUT)
        [sup] = supervisors(d)
        assert poll(lambda: set(policies(sup).values()) == {SCHED_OTHER}, CHAT_TIMEOUT), policies(sup)
        [init] = children_of(sup)
        cgdir, weight = cpu_cgroup(init)
        assert poll(lambda: (cgdir / weight).read_text().strip() in ("1024", "100"), CHAT_TIMEOUT)
        assert pool(d)["hits"] == 0
        held.go.set()
        p = wait_pool_ready(d, 1)
        assert (p["ready"], p["hits"]) == (1, 0), p
        finish(d, mock)
    finally:
        held.stop()


def test_a_sandbox_taken_before_it_said_its_cgroup_is_raised_by_the_gateway_when_it_does(daemon_factory, mock):
    """Its supervisor says its cgroup, then waits on an MCP server before it reads that
    it was taken: the gateway raises the cgroup as soon as it is said."""
    held = HeldMCP()
    try:
        for _ in range(5):      # stopped before it made its sandbox: tried until it is
            d = daemon_factory(settings=chat_settings({"mcp": {"servers": {"held": {"url": held.url}}}}),
                               env=chat_env(mock, AGENTD_POOL_SIZE=1, AGENTD_LOG_LEVEL="debug",
                                            AGENTD_POOL_REFILL_DELAY_MS=600000))
            line = d.wait_for_log(r"pool: its sandbox is built by pid", timeout=CHAT_TIMEOUT)
            sup = int(line.rsplit(" ", 1)[1])
            os.kill(sup, signal.SIGSTOP)
            if not [c for c in children_of(sup) if comm(c) != "mkfs.ext4"]:
                break    # (a child not yet mkfs.ext4 is seen as made: tried again)
            os.kill(sup, signal.SIGCONT)
            held.go.set()
            finish(d, mock)
            d.stop()
            held.go.clear()
            held.seen.clear()
            held.answered.clear()
        try:
            r = d.post_json("/api/sessions", {})
            assert r.status == 201 and r.json()["state"] == "creating", r
            assert d.wait_for_log(r"pool: taken while its sandbox is built, before its cgroup was said")
        finally:
            os.kill(sup, signal.SIGCONT)
        # its sandbox made (the pool's next supervisor, started at the take, may reach
        # the server first): it says its cgroup, then waits on the server
        assert poll(lambda: sandbox_of(sup), CHAT_TIMEOUT)
        cgdir, weight = sandbox_of(sup)
        # (well within mcp.start_timeout_s, 30 s, past which its supervisor would go on
        # without the server, read FRAME_OWNER and raise it itself)
        assert poll(lambda: (cgdir / weight).read_text().strip() in ("1024", "100"), 10)
        assert poll(lambda: {thread_policy(t) for t in sandbox_threads(cgdir, weight)} - {None} == {SCHED_OTHER}, 10)
        # while its supervisor still waits on the server
        assert not held.answered.is_set()
        assert d.get(f"/api/sessions/{r.json()['id']}").json()["state"] == "creating"
        held.go.set()
        finish(d, mock)
    finally:
        held.stop()


def test_no_refill_while_the_turn_that_took_the_sandbox_is_in_flight(daemon_factory, mock):
    d = start(daemon_factory, mock, 1)
    assert wait_pool_ready(d, 1)["ready"] == 1
    t, results = held_chat(d, mock)          # the turn is past its handler, at the model
    p = pool(d)
    assert (p["ready"], p["building"], p["deferred"], p["hits"]) == (0, 0, 1, 1), p
    assert len(supervisors(d)) == 1          # the taken one only: no build was asked for
    release(mock, t, results)
    p = wait_pool_ready(d, 1)
    assert (p["ready"], p["deferred"]) == (1, 0), p
    finish(d, mock)


def test_under_continuous_load_the_pool_refills_after_the_bounded_delay(daemon_factory, mock):
    d = start(daemon_factory, mock, 1, delay_ms=200)
    assert wait_pool_ready(d, 1)["ready"] == 1
    t, results = held_chat(d, mock)
    # the turn never answers meanwhile: the delay alone brings the refill
    p = wait_pool_ready(d, 1)
    assert (p["ready"], p["deferred"]) == (1, 0), p
    assert t.is_alive() and not results
    release(mock, t, results)
    finish(d, mock)


def test_a_session_made_without_a_turn_is_made_up_for_at_once(daemon_factory, mock):
    d = start(daemon_factory, mock, 1)
    assert wait_pool_ready(d, 1)["ready"] == 1
    r = d.post_json("/api/sessions", {})
    assert r.status == 201 and r.json()["state"] == "ready", r
    p = wait_pool_ready(d, 1)
    assert (p["ready"], p["deferred"], p["hits"]) == (1, 0, 1), p
    finish(d, mock)


def test_agentd_stops_promptly_with_refills_pending(daemon_factory, mock):
    d = start(daemon_factory, mock, 2)
    assert wait_pool_ready(d, 2)["ready"] == 2
    t, results = held_chat(d, mock)
    assert pool(d)["deferred"] == 1
    d.send_signal(15)
    release(mock, t, results)                # the request in flight may finish
    d.assert_clean_exit()                    # within conftest's STOP_TIMEOUT
    assert "pool: cannot build" not in d.stderr
    assert not su.wait_gone(lambda: su.processes_with_uid(UID_BASE, UID_BASE + UID_COUNT))
