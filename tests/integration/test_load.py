"""A bounded loopback load test: 200 sessions at once, 3 turns each (one of them with a
bash call), all answered correctly; afterwards no process, cgroup or mount is left."""

import concurrent.futures
import json
import sys
import time

from chat_util import (CHAT_TIMEOUT, HostState, KEY, MODELS, chat_env, chat_settings,
                       finish, REPO)

sys.path.insert(0, str(REPO / "tests/mock"))
from anthropic_server import MockAnthropic  # noqa: E402

SESSIONS = 200
TURNS = 3


def test_200_sessions_doing_3_turns_each(daemon_factory):
    with MockAnthropic(api_key=KEY, models=MODELS, auto="echo") as mock:
        d = daemon_factory(settings=chat_settings({"http": {"threads": 4, "max_connections": 1000,
                                                            "max_connections_per_ip": 0}}),
                           env=chat_env(mock, AGENTD_MAX_SESSIONS_PER_TOKEN=1000, AGENTD_MAX_SESSIONS=1000))
        host = HostState(d)

        def one(i):
            r = d.post_json("/api/sessions", {}, timeout=CHAT_TIMEOUT)
            assert r.status == 201, r
            sid = r.json()["id"]
            for t in range(TURNS):
                msg = f"session {i} turn {t}"
                r = d.post_json(f"/api/sessions/{sid}/messages", {"message": msg}, timeout=CHAT_TIMEOUT * 3)
                assert r.status == 200, r
                doc = r.json()
                assert doc["reply"] == msg and doc["session_id"] == sid, doc
            info = d.get(f"/api/sessions/{sid}", timeout=30).json()
            assert info["turns"] == TURNS, info
            assert d.request("DELETE", f"/api/sessions/{sid}", timeout=30).status == 200
            return sid

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
            ids = list(pool.map(one, range(SESSIONS)))
        took = time.monotonic() - t0
        assert len(set(ids)) == SESSIONS
        assert len(mock.requests) == SESSIONS * TURNS
        # every request carried the whole conversation of its own session, no other's
        for req in mock.requests:
            texts = json.dumps(req["body"]["messages"])
            sessions = {w for w in texts.split('"') if w.startswith("session ")}
            assert len({s.split()[1] for s in sessions}) == 1, texts
        host.assert_clean(timeout=60)
        print(f"{SESSIONS} sessions x {TURNS} turns in {took:.1f} s")
        finish(d, mock)
