"""Every log line about a session carries its id and its token's name: as the fields
"session" and "token" of a JSON line (log.format json), as "session ID (TOKEN): " in a
text line; the gateway's lines, the supervisor's (also a pooled sandbox's, once taken),
and the access log's."""

import json
import os
import re
import secrets

import pytest

from chat_util import bash, calls, chat_ok, finish, mock, start_chat_daemon, wait_pool_ready  # noqa: F401
from conftest import poll

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes need root here")

TOKEN = "agt_" + secrets.token_hex(32)


def token_name(d):
    return d.get("/api/whoami", headers=auth()).json()["name"]


def auth():
    return {"Authorization": f"Bearer {TOKEN}"}


def json_lines(d):
    out = []
    for line in d.lines:
        rec = json.loads(line)            # every line is JSON
        assert isinstance(rec, dict), line
        out.append(rec)
    return out


def a_session_with_a_turn(d, mock):
    r = d.post_json("/api/sessions", {"pattern": "long-running"}, headers=auth())
    assert r.status == 201, r
    sid = r.json()["id"]
    mock.enqueue(calls(bash("echo logged")), {"text": "ok"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "go"}, headers=auth(), timeout=90)
    assert r.status == 200, r
    assert d.request("DELETE", f"/api/sessions/{sid}", headers=auth()).status == 200
    return sid


def lines_about(recs, sid):
    return [r for r in recs if sid in json.dumps(r)]


@pytest.mark.parametrize("pool", [0, 1])
def test_json_lines_name_the_session_and_token(daemon_factory, mock, pool):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_LOG_FORMAT="json", AGENTD_TOKENS=TOKEN,
                          AGENTD_POOL_SIZE=pool)
    if pool:
        assert wait_pool_ready(d, 1)["ready"] == 1
    name = token_name(d)
    sid = a_session_with_a_turn(d, mock)
    # the supervisor's last line comes as it ends
    assert poll(lambda: any(r.get("session") == sid and "model calls" in r.get("msg", "")
                            for r in json_lines(d)), 30), d.log_tail()
    about = lines_about(json_lines(d), sid)
    assert len(about) >= 6, about
    created = next(i for i, r in enumerate(about) if "created (long-running)" in r.get("msg", ""))
    for i, r in enumerate(about):
        assert r.get("session") == sid, r
        # a pooled sandbox was nobody's until it was taken
        assert r.get("token") == name or (pool and i < created and "token" not in r), r
    assert created == 0 or pool, about
    # the gateway's, the supervisor's and the access log's are among them
    msgs = [r.get("msg", "") for r in about]
    assert any("created (long-running)" in m for m in msgs), msgs
    assert any("ended after" in m for m in msgs), msgs
    assert any(re.match(r"claude: POST /v1/messages", m) for m in msgs), msgs
    access = [r for r in about if r.get("type") == "access"]
    assert {r["route"] for r in access} >= {"/api/sessions", "/api/sessions/{id}/messages", "/api/sessions/{id}"}, \
        access
    # a request about no session says none, and names its token
    d.get("/api/health", headers=auth())
    rec = d.wait_access("/api/health")
    assert "session" not in rec and rec["route"] == "/api/health", rec
    finish(d, mock)


def test_text_lines_name_the_session_and_token(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS=TOKEN)
    name = token_name(d)
    sid = a_session_with_a_turn(d, mock)
    assert poll(lambda: any(f"session {sid} ({name}): ended after" in line for line in d.lines), 30), d.log_tail()
    text = [line for line in d.lines if sid in line]
    for line in text:
        if " access " in line:
            assert line.endswith(f" token={name} session={sid}"), line
        else:
            assert f" session {sid} ({name}): " in line, line
    finish(d, mock)
