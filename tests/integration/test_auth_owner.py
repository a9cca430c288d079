"""Who owns a session across restarts: a token's identity is the token (its hash for
AGENTD_TOKENS, its name in the store), never its place in a list. A token taken out of
AGENTD_TOKENS leaves its hybrid sessions to nobody: the token that now stands first in
the list does not get them; the token itself, back in any place, does."""

import json

from chat_util import CHAT_TIMEOUT, bash, calls, chat_env, chat_settings, finish, mock  # noqa: F401
from conftest import assert_json_error, run_agentd, write_config

TOKEN_A = "token-a-0123456789abcdef"
TOKEN_B = "token-b-fedcba9876543210"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def start(daemon_factory, mock, workdir, tokens):
    return daemon_factory(workdir=workdir, settings=chat_settings(),
                          env=chat_env(mock, AGENTD_TOKENS=",".join(tokens)))


def session_ids(d, token):
    r = d.get("/api/sessions", headers=bearer(token))
    assert r.status == 200, r
    return [s["id"] for s in r.json()["sessions"]]


def hybrid_with_a_turn(d, mock, headers, reply, command=None):
    r = d.post_json("/api/sessions", {"pattern": "hybrid"}, headers=headers)
    assert r.status in (200, 201), r
    sid = r.json()["id"]
    mock.enqueue(*([calls(bash(command))] if command else []), {"text": reply})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "remember " + reply}, headers=headers,
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == reply, f"{r}\n{d.stderr[-3000:]}"
    return sid


def assert_not_found_for(d, token, sid):
    for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/messages",
                 f"/api/sessions/{sid}/files/kept.txt"):
        assert_json_error(d.get(path, headers=bearer(token)), 404)
    assert_json_error(d.request("DELETE", f"/api/sessions/{sid}", headers=bearer(token)), 404)
    assert sid not in session_ids(d, token)


def test_a_removed_environment_token_leaves_its_sessions_to_nobody(daemon_factory, mock, tmp_path):
    workdir = tmp_path / "d"
    # a store token beside them: named in the store, stable whatever the list holds
    cfg = write_config(tmp_path, {"state_dir": str(workdir / "state")}, name="cli.json")
    add = run_agentd(["token", "add", "carol", "--config", str(cfg)])
    assert add.returncode == 0, add.stderr
    carol = add.stdout.strip()

    d = start(daemon_factory, mock, workdir, [TOKEN_A, TOKEN_B])
    sid = hybrid_with_a_turn(d, mock, bearer(TOKEN_A), "noted", "echo secret-of-a > kept.txt")
    carols = hybrid_with_a_turn(d, mock, bearer(carol), "carol's")
    assert sid in session_ids(d, TOKEN_A) and sid not in session_ids(d, TOKEN_B)
    d.stop()

    # A is gone: B stands first in the list now, and must not become A
    d = start(daemon_factory, mock, workdir, [TOKEN_B])
    assert_not_found_for(d, TOKEN_B, sid)
    assert_not_found_for(d, TOKEN_B, carols)
    assert_json_error(d.get(f"/api/sessions/{sid}", headers=bearer(TOKEN_A)), 401)
    assert carols in session_ids(d, carol)
    assert sid not in session_ids(d, carol)
    d.stop()

    # A back, in another place in the list: its session is its own again, B still sees nothing
    d = start(daemon_factory, mock, workdir, [TOKEN_B, TOKEN_A])
    info = d.get(f"/api/sessions/{sid}", headers=bearer(TOKEN_A))
    assert info.status == 200 and info.json()["state"] == "suspended", info
    msgs = d.get(f"/api/sessions/{sid}/messages", headers=bearer(TOKEN_A))
    assert msgs.status == 200 and "remember noted" in json.dumps(msgs.json()), msgs
    assert session_ids(d, TOKEN_A) == [sid]
    assert_not_found_for(d, TOKEN_B, sid)
    assert carols in session_ids(d, carol)
    # and the workspace is A's: the next turn reads the file of the first
    mock.reset()
    mock.enqueue(calls(bash("cat kept.txt")), {"text": "back"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "read it"}, headers=bearer(TOKEN_A),
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "back", f"{r}\n{d.stderr[-3000:]}"
    assert "secret-of-a" in json.dumps(mock.requests[1]["body"]["messages"])
    finish(d, mock)
