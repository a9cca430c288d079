"""Sessions asked for faster than the host forks supervisors: the spawner's queue fills,
and agentd says so (503 with Retry-After) instead of holding its HTTP threads; sessions
deleted while their request waited cost no supervisor. The spawner is stopped
(SIGSTOP) to make the queue fill, and let go again."""

import os
import signal

import pytest

import sandbox_util as su
from chat_util import finish, mock, start_chat_daemon  # noqa: F401
from conftest import poll

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes need root here")


def spawner_of(d):
    kids = [int(p) for p in open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children").read().split()]
    spawners = [p for p in kids if open(f"/proc/{p}/comm").read().strip() == "agentd-spawner"]
    assert len(spawners) == 1, kids
    return spawners[0]


def test_a_full_spawner_queue_is_a_503_and_http_goes_on(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_MAX_SESSIONS=5000, AGENTD_MAX_SESSIONS_PER_TOKEN=5000)
    spawner = spawner_of(d)
    os.kill(spawner, signal.SIGSTOP)
    made, refused = [], None
    try:
        for _ in range(5000):
            r = d.post_json("/api/sessions", {"pattern": "long-running"}, timeout=10)
            if r.status == 503:
                refused = r
                break
            assert r.status == 201, r
            made.append(r.json()["id"])
        assert refused is not None, f"{len(made)} sessions queued and no 503"
        assert refused.header("Retry-After"), refused
        assert "spawner's queue is full" in refused.json()["error"]["message"], refused
        assert d.get("/api/health", timeout=5).status == 200     # HTTP threads are free
        # the queued sessions are deleted before any supervisor was made for them
        for sid in made:
            assert d.request("DELETE", f"/api/sessions/{sid}", timeout=10).status == 200
    finally:
        os.kill(spawner, signal.SIGCONT)
    # the spawner skips what was deleted: the queue drains, and a new session starts
    r = poll(lambda: (lambda r: r if r.status != 503 else None)(
        d.post_json("/api/sessions", {"pattern": "long-running"}, timeout=10)), su.HOST_WAIT)
    assert r is not None and r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "ready", su.HOST_WAIT)
    kids = open(f"/proc/{spawner}/task/{spawner}/children").read().split()
    assert len(kids) == 1, f"supervisors for deleted sessions: {kids}"
    assert d.request("DELETE", f"/api/sessions/{sid}").status == 200
    finish(d, mock)
