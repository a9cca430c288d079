"""Several agentd nodes behind HAProxy (README, "More than one host"): three nodes on
loopback, each with its own state directory and node.name, one mock Messages API, and
Debian's haproxy in front running the shipped config/haproxy.cfg with only its addresses
and ports replaced (so that the file we ship is the file tested).

What it shows: new sessions spread over the nodes; a session's later requests (messages,
its event stream, GET, /api/chat with its session_id) reach its node through HAProxy; a
streamed chat arrives through HAProxy as a stream, and a WebSocket to a server in a
sandbox goes both ways; a request sent straight to the wrong
node gets 421 naming the right one; a drained node gets no new sessions through HAProxy
while its sessions still answer; a stopped node's session gets 421 naming it from
another node, never a hang. HAProxy's view of the nodes is read from its stats page
(CSV), polled with generous deadlines: its checks take a few intervals."""

import contextlib
import csv
import io
import os
import subprocess
import time
import urllib.request

import pytest

from chat_util import CHAT_TIMEOUT, chat_env, chat_settings, check_stream_done, mock, stream_chat  # noqa: F401
from conftest import REPO, Daemon, assert_json_error, free_port, poll
from port_client import start_server, websocket_echo

HAPROXY = "/usr/sbin/haproxy"
CONFIG = REPO / "config" / "haproxy.cfg"
NODES = ("node-a", "node-b", "node-c")
# the shipped file's example addresses, one per node, in NODES' order
EXAMPLE_ADDRS = ("192.0.2.11:8080", "192.0.2.12:8080", "192.0.2.13:8080")
# checks every 2 s, down after 2 failures: a few intervals, with room for a slow host
LB_WAIT = 60

pytestmark = pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                                reason="/usr/sbin/haproxy is missing: `make deps` installs Debian's haproxy package")


class Endpoint:
    """HAProxy's front end, spoken to like a Daemon (conftest.Daemon's HTTP methods)."""
    request = Daemon.request
    get = Daemon.get
    post_json = Daemon.post_json

    def __init__(self, port):
        self.host, self.port = "127.0.0.1", port


def render(node_ports, lb_port, stats_port):
    """config/haproxy.cfg with its addresses and ports, and nothing else, replaced."""
    text = CONFIG.read_text()
    for example, name in zip(EXAMPLE_ADDRS, NODES):
        assert example in text, f"{CONFIG} no longer has {example}: update this test"
        text = text.replace(example, f"127.0.0.1:{node_ports[name]}")
    for old, new in (("bind :8080", f"bind 127.0.0.1:{lb_port}"),
                     ("bind 127.0.0.1:8404", f"bind 127.0.0.1:{stats_port}")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


class Cluster:
    def __init__(self, nodes, lb, stats_port, haproxy, log_path):
        self.nodes, self.lb, self.stats_port = nodes, lb, stats_port
        self.haproxy, self.log_path = haproxy, log_path

    def servers(self):
        """{(backend, server): status} as HAProxy's stats say (UP, DOWN, ...)."""
        url = f"http://127.0.0.1:{self.stats_port}/haproxy;csv"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {(row["pxname"], row["svname"]): row["status"] for row in rows
                if row["svname"] not in ("FRONTEND", "BACKEND")}

    def wait_status(self, backend, server, want):
        seen = {}

        def check():
            try:
                seen["s"] = self.servers().get((backend, server), "")
            except OSError as e:        # not listening yet
                seen["s"] = repr(e)
            return seen["s"].startswith(want)
        assert poll(check, LB_WAIT, interval=0.2), f"{backend}/{server} is {seen.get('s')!r}, not {want}"

    def node_of(self, sid):
        return sid.rsplit(".", 1)[1]


@pytest.fixture
def cluster(tmp_path, mock, request):
    """Three nodes and HAProxy in front; everything stopped at the end, failed or not."""
    started = request.node.agentd_daemons = []
    with contextlib.ExitStack() as stack:
        nodes = {}
        for name in NODES:
            d = Daemon(tmp_path / name, settings=chat_settings({"node": {"name": name}}), env=chat_env(mock))
            started.append(d)
            stack.callback(d.kill)
            nodes[name] = d.start()
        lb_port, stats_port = free_port(), free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(render({n: d.port for n, d in nodes.items()}, lb_port, stats_port))
        check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        log_path = tmp_path / "haproxy.log"
        log = stack.enter_context(open(log_path, "wb"))
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)

        def stop_haproxy():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        stack.callback(stop_haproxy)
        c = Cluster(nodes, Endpoint(lb_port), stats_port, proc, log_path)
        for name in NODES:
            for backend in ("new_sessions", f"node_{name}"):
                c.wait_status(backend, name, "UP")
        yield c
        assert proc.poll() is None, "haproxy exited:\n" + log_path.read_text(errors="replace")
        for d in nodes.values():
            if d.alive():
                d.assert_clean_exit()


def create(ep, status=201, **body):
    r = ep.post_json("/api/sessions", body, timeout=CHAT_TIMEOUT)
    assert r.status == status, r
    return r.json() if status == 201 else r


def message(ep, mock, sid, text):
    mock.enqueue({"text": f"re: {text}"})
    r = ep.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    doc = r.json()
    assert doc["reply"] == f"re: {text}" and doc["session_id"] == sid, doc
    return doc


def assert_misdirected(r, node, this_node):
    err = assert_json_error(r, 421, "misdirected_request_error", (f'node "{node}"', f'node "{this_node}"'))
    assert err["node"] == node and err["this_node"] == this_node, err
    return err


def test_sessions_spread_and_their_requests_reach_their_node(cluster, mock):
    lb = cluster.lb
    health = {n: d.health()["node"] for n, d in cluster.nodes.items()}
    assert health == {n: {"name": n, "draining": False} for n in NODES}, health

    sids = [create(lb, pattern="long-running")["id"] for _ in range(6)]
    for sid in sids:
        assert sid.startswith("sess_") and cluster.node_of(sid) in NODES, sid
    # least connections over three idle nodes: each gets some
    assert {cluster.node_of(s) for s in sids} == set(NODES), sids

    for sid in sids[:3]:
        node = cluster.node_of(sid)
        message(lb, mock, sid, f"hello {sid}")
        doc = lb.get(f"/api/sessions/{sid}").json()
        assert doc["id"] == sid and doc["turns"] == 1, doc
        # its event log, streamed through HAProxy: the turn's events, up to its end
        s = stream_chat(lb, None, path=f"/api/sessions/{sid}/events", method="GET",
                        stop=lambda ev: ev.event == "done", timeout=CHAT_TIMEOUT)
        assert s.status == 200 and s.events and s.events[-1].event == "done", (s.status, s.raw)
        # /api/chat naming it (its body's session_id) goes to its node too
        mock.enqueue({"text": "by chat"})
        r = lb.post_json("/api/chat", {"message": "again", "session_id": sid}, timeout=CHAT_TIMEOUT)
        assert r.status == 200 and r.json()["session_id"] == sid and r.json()["reply"] == "by chat", r
        # straight to another node: 421 naming the right one, for every kind of route
        other = next(n for n in NODES if n != node)
        d = cluster.nodes[other]
        assert_misdirected(d.get(f"/api/sessions/{sid}"), node, other)
        assert_misdirected(d.post_json(f"/api/sessions/{sid}/messages", {"message": "x"}), node, other)
        assert_misdirected(d.post_json("/api/chat", {"message": "x", "session_id": sid}), node, other)
        assert_misdirected(d.get(f"/api/admin/sessions/{sid}"), node, other)
        # its own node has it; the owner's list there names it
        assert sid in [x["id"] for x in cluster.nodes[node].get("/api/sessions").json()["sessions"]]

    # an id without a node part (made before ids named their node) is any node's to answer
    assert_json_error(cluster.nodes["node-a"].get("/api/sessions/sess_0123456789abcdef01234567"), 404)

    # the operator's list, for one node: the node answers for itself, 421 for another
    a = cluster.nodes["node-a"]
    mine = a.get("/api/admin/sessions?node=node-a").json()
    assert mine["node"] == "node-a", mine
    assert {x["id"] for x in mine["sessions"]} == {s for s in sids if cluster.node_of(s) == "node-a"}, mine
    assert_misdirected(a.get("/api/admin/sessions?node=node-b"), "node-b", "node-a")
    assert_json_error(a.get("/api/admin/sessions?node=Not_A_Node"), 400)

    # /metrics labels the node
    text = a.get("/metrics").body.decode()
    assert 'agentd_node_info{node="node-a"} 1' in text and "\nagentd_node_draining 0" in text, text[:2000]


def test_a_streamed_chat_through_haproxy_arrives_as_a_stream(cluster, mock):
    # the model's reply waits behind a gate that the test opens only once the stream's
    # first event has come through HAProxy: a buffered response would never show it
    mock.enqueue({"text": "streamed through", "gate": "lb-stream"})
    opened_at = {}

    def first_event(ev):
        if not opened_at:
            opened_at["t"] = time.monotonic()
            mock.open_gate("lb-stream")
        return False
    s = stream_chat(cluster.lb, {"message": "stream me", "stream": True}, stop=first_event)
    assert s.status == 200 and s.headers.get("Content-Type", "").startswith("text/event-stream"), s.raw
    doc = check_stream_done(s)
    assert doc["reply"] == "streamed through", doc
    assert s.events[0].event == "session" and s.events[0].t <= opened_at["t"], s.events[0]
    assert s.events[-1].t >= opened_at["t"]


def test_a_websocket_to_a_sandbox_port_passes_through_haproxy(cluster, mock):
    # a server in a session's sandbox (port_server.py), reached through HAProxy by the
    # session's id: the upgrade (101) comes back, then frames both ways, one at a time
    sid = create(cluster.lb, pattern="long-running")["id"]
    start_server(cluster.lb, sid)
    websocket_echo(cluster.lb.host, cluster.lb.port, sid)


def test_a_drained_node_takes_no_new_sessions_and_keeps_its_own(cluster, mock):
    lb, a = cluster.lb, cluster.nodes["node-a"]
    kept = create(a, pattern="long-running")["id"]
    hybrid = create(a, pattern="hybrid")["id"]
    message(a, mock, hybrid, "before the drain")
    assert cluster.node_of(kept) == "node-a" and cluster.node_of(hybrid) == "node-a"

    r = a.request("POST", "/api/admin/drain")
    assert r.status == 200 and r.json() == {"name": "node-a", "draining": True}, r
    assert a.health()["node"] == {"name": "node-a", "draining": True}
    # straight to it: 503 that says so, with Retry-After
    r = create(a, status=503, pattern="long-running")
    assert_json_error(r, 503, "unavailable_error", ("node-a", "draining"))
    assert r.header("Retry-After"), r
    assert_json_error(a.post_json("/api/chat", {"message": "new"}), 503, None, "draining")
    # the hybrid session is suspended; the long-running one goes on
    assert poll(lambda: a.get(f"/api/sessions/{hybrid}").json()["state"] == "suspended", CHAT_TIMEOUT), \
        a.get(f"/api/sessions/{hybrid}").json()
    assert "\nagentd_node_draining 1" in a.get("/metrics").body.decode()

    # HAProxy takes it out of the new sessions' backend, and out of nothing else
    cluster.wait_status("new_sessions", "node-a", "DOWN")
    assert cluster.servers()[("node_node-a", "node-a")].startswith("UP")
    made = [create(lb, pattern="long-running")["id"] for _ in range(4)]
    assert all(cluster.node_of(s) in ("node-b", "node-c") for s in made), made
    # its sessions still answer through HAProxy: the long-running one, and the hybrid
    # one, which a message resumes there
    message(lb, mock, kept, "still here")
    message(lb, mock, hybrid, "after the drain")
    assert lb.get(f"/api/sessions/{kept}").json()["turns"] == 1

    # undrained: new sessions again, and HAProxy sends them there again
    r = a.request("DELETE", "/api/admin/drain")
    assert r.status == 200 and r.json() == {"name": "node-a", "draining": False}, r
    cluster.wait_status("new_sessions", "node-a", "UP")
    assert cluster.node_of(create(a, pattern="long-running")["id"]) == "node-a"


def test_a_stopped_nodes_session_gets_a_clear_error(cluster, mock):
    lb, c = cluster.lb, cluster.nodes["node-c"]
    sid = create(c, pattern="long-running")["id"]
    assert lb.get(f"/api/sessions/{sid}").status == 200
    c.assert_clean_exit()
    # until HAProxy's checks see it down, its backend may answer 503; then a backup node
    # answers 421 naming node-c. Every answer comes at once, never a hang.
    seen = []

    def misdirected():
        r = lb.get(f"/api/sessions/{sid}", timeout=10)
        seen.append(r.status)
        assert r.status in (421, 502, 503), r
        return r if r.status == 421 else None
    r = poll(misdirected, LB_WAIT, interval=0.2)
    assert r is not None, seen
    err = assert_json_error(r, 421, "misdirected_request_error", 'node "node-c"')
    assert err["node"] == "node-c" and err["this_node"] in ("node-a", "node-b"), err
    cluster.wait_status("new_sessions", "node-c", "DOWN")
    # and new sessions go on, on the other two
    assert cluster.node_of(create(lb, pattern="long-running")["id"]) in ("node-a", "node-b")


def test_ids_without_a_node_and_a_renamed_nodes_sessions_still_work(daemon_factory, mock, tmp_path):
    """A hybrid session saved under an id of the old form (no node part: made before ids
    named their node) or under the node's old name comes back after a restart and
    answers on the node that has it; an id of a node that does not have it gets 421."""
    def node(name):
        return daemon_factory(workdir=str(tmp_path / "d"), settings=chat_settings({"node": {"name": name}}),
                              env=chat_env(mock))
    d = node("old-name")
    sid = create(d, pattern="hybrid")["id"]
    assert sid.endswith(".old-name"), sid
    message(d, mock, sid, "first")
    d.assert_clean_exit()
    # the same session saved as one made before ids named their node
    state = tmp_path / "d" / "state" / "sessions"
    legacy = sid.rsplit(".", 1)[0]
    (state / sid).rename(state / legacy)
    meta = state / legacy / "session.json"
    meta.write_text(meta.read_text().replace(sid, legacy))

    d2 = node("new-name")
    info = d2.get(f"/api/sessions/{legacy}").json()
    assert info["id"] == legacy and info["state"] == "suspended" and info["turns"] == 1, info
    message(d2, mock, legacy, "second")
    fresh = create(d2, pattern="hybrid")["id"]
    assert fresh.endswith(".new-name"), fresh
    message(d2, mock, fresh, "third")
    d2.assert_clean_exit()

    d3 = node("newer")
    # its own sessions, made under an older name, are still its own
    assert d3.get(f"/api/sessions/{fresh}").json()["turns"] == 1
    message(d3, mock, fresh, "fourth")
    assert_misdirected(d3.get("/api/sessions/sess_0123456789abcdef01234567.elsewhere"), "elsewhere", "newer")
