"""The admin role and the operator's API (/api/admin/...): an admin token sees every
session on the host whoever owns it, reads one's history, ends one (gone for its owner,
its sandbox too) and suspends a hybrid one; every other principal gets 403 on every
admin route and method, and reaches no other token's session by any path. The role comes
only from the store (`agentd token add NAME --admin`): AGENTD_TOKENS tokens never have
it, anonymous requests only on a loopback-only agentd."""

import json
import threading

import pytest

from chat_util import (CHAT_TIMEOUT, UID_BASE, bash, calls, chat_env, chat_settings, finish, mock,  # noqa: F401
                       stream_chat)
from conftest import assert_json_error, poll, run_agentd, write_config

ENV_TOKEN = "env-token-0123456789abcdef-admin-test"
HOST_WAIT = 60

# Every admin route and method, with a session id to fill in.
ADMIN_ROUTES = [
    ("GET", "/api/admin/sessions"),
    ("GET", "/api/admin/sessions/{sid}"),
    ("DELETE", "/api/admin/sessions/{sid}"),
    ("GET", "/api/admin/sessions/{sid}/history"),
    ("POST", "/api/admin/sessions/{sid}/suspend"),
    ("GET", "/api/admin/anything-else"),
]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def token_add(cfg, name, *flags):
    p = run_agentd(["token", "add", name, *flags, "--config", str(cfg)])
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture
def admind(daemon_factory, mock, tmp_path):
    """A daemon with store tokens root (admin), alice and bob, and one AGENTD_TOKENS token."""
    workdir = tmp_path / "d"
    cfg = write_config(tmp_path, {"state_dir": str(workdir / "state")}, name="cli.json")
    tokens = {"root": token_add(cfg, "root", "--admin"), "alice": token_add(cfg, "alice"),
              "bob": token_add(cfg, "bob"), "env": ENV_TOKEN}
    d = daemon_factory(workdir=workdir, settings=chat_settings(),
                       env=chat_env(mock, AGENTD_TOKENS=ENV_TOKEN))
    d.tokens = tokens
    d.cli_config = cfg
    return d


def create(d, token, **body):
    r = d.post_json("/api/sessions", body, headers=bearer(token))
    assert r.status == 201, r
    return r.json()["id"]


def turn(d, mock, token, sid, command, reply):
    mock.enqueue(calls(bash(command)), {"text": reply})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "go"}, headers=bearer(token),
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == reply, f"{r}\n{d.stderr[-3000:]}"


def init_pid(d, token, sid):
    """The host pid of the session's sandbox init, from its `ready` event."""
    s = stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET", headers=bearer(token),
                    stop=lambda e: e.event == "ready")
    ready = s.of("ready")
    assert ready, s
    return ready[0].data["init_pid"]


def assert_alive(d, token, sid):
    """The owner's session is there and comes up (ready or idle), untouched."""
    def state():
        r = d.get(f"/api/sessions/{sid}", headers=bearer(token))
        assert r.status == 200, r
        return r.json()["state"] in ("ready", "idle")
    assert poll(state, HOST_WAIT, interval=0.05), d.get(f"/api/sessions/{sid}", headers=bearer(token))


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def admin_list(d, token):
    r = d.get("/api/admin/sessions", headers=bearer(token))
    assert r.status == 200, r
    return r.json()


def test_an_admin_sees_kills_and_suspends_the_sessions_of_others(admind, mock):
    d, t = admind, admind.tokens
    a = create(d, t["alice"], pattern="long-running", title="alice's work")
    b = create(d, t["bob"], pattern="hybrid")
    turn(d, mock, t["alice"], a, "echo hello > a.txt", "done a")
    turn(d, mock, t["bob"], b, "echo hi", "done b")

    doc = admin_list(d, t["root"])
    by_id = {s["id"]: s for s in doc["sessions"]}
    assert by_id[a]["owner"] == "alice" and by_id[b]["owner"] == "bob", doc
    assert by_id[a]["title"] == "alice's work" and by_id[a]["pattern"] == "long-running"
    assert by_id[b]["pattern"] == "hybrid" and by_id[b]["turns"] == 1
    for s in (by_id[a], by_id[b]):
        for field in ("state", "created", "last_active", "age_s", "turns", "usage", "cost_usd", "runtime",
                      "resources"):
            assert field in s, (field, s)
        assert s["cost_usd"] > 0 and s["age_s"] >= 0
        assert s["resources"]["memory_bytes"] > 0 and "disk_bytes" in s["resources"], s
    totals = doc["totals"]
    assert totals["sessions"] == 2 and sum(totals["by_state"].values()) == 2, totals
    assert totals["cost_usd"] == pytest.approx(by_id[a]["cost_usd"] + by_id[b]["cost_usd"])
    # the admin's own list (the owner's route) holds only its own sessions: none
    r = d.get("/api/sessions", headers=bearer(t["root"]))
    assert r.status == 200 and r.json()["sessions"] == [], r
    # and the owner's routes keep their owner check for an admin too
    assert_json_error(d.get(f"/api/sessions/{a}", headers=bearer(t["root"])), 404)

    one = d.get(f"/api/admin/sessions/{a}", headers=bearer(t["root"]))
    assert one.status == 200 and one.json()["owner"] == "alice" and one.json()["id"] == a, one
    hist = d.get(f"/api/admin/sessions/{a}/history", headers=bearer(t["root"]))
    assert hist.status == 200, hist
    assert hist.json() == d.get(f"/api/sessions/{a}/history", headers=bearer(t["alice"])).json()
    assert "echo hello > a.txt" in json.dumps(hist.json()["history"]), hist.json()

    # suspend: bob's hybrid session goes to disk; alice's long-running one cannot
    r = d.request("POST", f"/api/admin/sessions/{b}/suspend", headers=bearer(t["root"]), timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r
    assert d.get(f"/api/sessions/{b}", headers=bearer(t["bob"])).json()["state"] == "suspended"
    assert_json_error(d.request("POST", f"/api/admin/sessions/{a}/suspend", headers=bearer(t["root"])), 400)

    # kill: alice's session is gone for her, and its sandbox with it
    pid = init_pid(d, t["alice"], a)
    assert pid_alive(pid)
    mark = d.mark()
    r = d.request("DELETE", f"/api/admin/sessions/{a}", headers=bearer(t["root"]))
    assert r.status == 200 and r.json()["id"] == a and r.json()["owner"] == "alice", r
    d.wait_for_log(rf"admin: root ends session {a} of alice", start=mark)
    assert_json_error(d.get(f"/api/sessions/{a}", headers=bearer(t["alice"])), 404,
                      message_contains="ended by an operator")
    assert a not in [s["id"] for s in d.get("/api/sessions", headers=bearer(t["alice"])).json()["sessions"]]
    assert poll(lambda: not pid_alive(pid), HOST_WAIT), f"sandbox init {pid} still runs"
    assert_json_error(d.get(f"/api/admin/sessions/{a}", headers=bearer(t["root"])), 404)
    assert [s["id"] for s in admin_list(d, t["root"])["sessions"]] == [b]
    assert_json_error(d.request("DELETE", f"/api/admin/sessions/sess_nothere", headers=bearer(t["root"])), 404)
    finish(d, mock)


def test_others_get_403_on_every_admin_route(admind, mock):
    d, t = admind, admind.tokens
    sid = create(d, t["alice"], pattern="hybrid")
    for who in ("alice", "bob", "env"):
        for method, path in ADMIN_ROUTES:
            r = d.request(method, path.format(sid=sid), headers=bearer(t[who]))
            assert_json_error(r, 403, "permission_error", message_contains="needs an admin token")
            assert set(r.json()) == {"error"}, r
    # each learns its role without a 403: GET /api/whoami
    for who, admin in (("root", True), ("alice", False), ("env", False)):
        r = d.get("/api/whoami", headers=bearer(t[who]))
        assert r.status == 200 and r.json()["admin"] is admin, (who, r)
        if who != "env":
            assert r.json()["name"] == who, r
    assert d.get("/api/whoami", headers=bearer(t["env"])).json()["name"].startswith("env-")
    # no token at all: 401, as on the other routes
    for method, path in ADMIN_ROUTES:
        r = d.request(method, path.format(sid=sid))
        assert_json_error(r, 401, "authentication_error")
        assert r.header("WWW-Authenticate") == 'Bearer realm="agentd"'
    assert_alive(d, t["alice"], sid)
    # an admin is let through the same routes
    for method, path in ADMIN_ROUTES[:2]:
        assert d.request(method, path.format(sid=sid), headers=bearer(t["root"])).status == 200
    finish(d, mock)


def test_the_list_holds_ephemeral_turns_in_flight_and_shared_members(admind, mock):
    d, t = admind, admind.tokens
    shared = create(d, t["bob"], pattern="shared", sandbox="team")
    # an ephemeral /api/chat whose model reply waits for the test: its session is listed
    mock.enqueue({"text": "late", "gate": "hold"})
    done = []
    th = threading.Thread(target=lambda: done.append(
        d.post_json("/api/chat", {"message": "slow"}, headers=bearer(t["alice"]), timeout=CHAT_TIMEOUT)))
    th.start()
    try:
        def listed():
            doc = admin_list(d, t["root"])
            eph = [s for s in doc["sessions"] if s["pattern"] == "ephemeral"]
            return (doc, eph[0]) if eph else None
        got = poll(listed, HOST_WAIT, interval=0.05)
        assert got, admin_list(d, t["root"])
        doc, eph = got
        assert eph["owner"] == "alice", eph
        by_id = {s["id"]: s for s in doc["sessions"]}
        assert by_id[shared]["owner"] == "bob" and by_id[shared]["pattern"] == "shared", doc
        assert doc["totals"]["sessions"] == 2, doc["totals"]
        # the owner's list never shows an ephemeral session; the operator's does
        assert eph["id"] not in [s["id"] for s in d.get("/api/sessions", headers=bearer(t["alice"])).json()["sessions"]]
    finally:
        mock.open_gate("hold")
        th.join(CHAT_TIMEOUT)
    assert done and done[0].status == 200 and done[0].json()["reply"] == "late", done
    assert poll(lambda: all(s["pattern"] != "ephemeral" for s in admin_list(d, t["root"])["sessions"]), HOST_WAIT)
    finish(d, mock)


def test_no_path_leads_a_non_admin_to_another_tokens_session(admind, mock):
    d, t = admind, admind.tokens
    sid = create(d, t["alice"], pattern="long-running")
    paths = [f"/api/admin/sessions/{sid}", f"/api/admin/sessions/{sid}/", f"/api/admin/sessions/{sid}/history/",
             f"/api/admin//sessions/{sid}", f"/api//admin/sessions/{sid}", f"/api/admin/./sessions/{sid}",
             f"/api/sessions/../admin/sessions/{sid}", f"/api/sessions/%2e%2e/admin/sessions/{sid}",
             f"/api/admin%2Fsessions/{sid}", f"/api/admin/sessions%2F{sid}", f"/API/admin/sessions/{sid}",
             f"/api/Admin/sessions/{sid}", f"/api/sessions/{sid}", f"/api/sessions/{sid}/history",
             f"/api/sessions/{sid}/messages", f"/api/sessions/{sid}/files/", f"/api/sessions/{sid}/processes",
             f"/api/admin/sessions?owner=alice", f"/api/sessions?owner=alice&all=1", "/api/sessions"]
    for who in ("bob", "env"):
        for path in paths:
            for method in ("GET", "DELETE", "POST"):
                r = d.request(method, path, headers=bearer(t[who]))
                assert r.status >= 400 or sid not in r.body.decode(), (who, method, path, r)
                assert r.status in (403, 404, 405) or "/admin" not in path.lower(), (who, method, path, r)
    assert_alive(d, t["alice"], sid)
    finish(d, mock)


def test_token_add_admin_and_list(tmp_path):
    cfg = write_config(tmp_path, {"state_dir": str(tmp_path / "state")})
    p = run_agentd(["token", "add", "ops", "--admin", "--config", str(cfg)])
    assert p.returncode == 0 and p.stdout.startswith("agt_"), p.stderr
    assert 'admin token "ops"' in p.stderr, p.stderr
    token_add(cfg, "dev")
    store = json.loads((tmp_path / "state" / "tokens.json").read_text())
    entries = {e["name"]: e for e in store["tokens"]}
    assert entries["ops"]["admin"] is True and "admin" not in entries["dev"], store
    p = run_agentd(["token", "list", "--config", str(cfg)])
    lines = {line.split()[0]: line for line in p.stdout.splitlines()}
    assert lines["ops"].split()[-1] == "admin" and "admin" not in lines["dev"], p.stdout
    # --admin goes with add alone
    for args in (["list", "--admin"], ["remove", "ops", "--admin"]):
        p = run_agentd(["token", *args, "--config", str(cfg)])
        assert p.returncode == 2 and "Usage" in p.stderr, (args, p.stderr)


@pytest.mark.parametrize("value", ['"yes"', "1", "null", '"true"'])
def test_a_store_with_a_bad_admin_value_is_refused(tmp_path, value):
    state = tmp_path / "state"
    state.mkdir()
    store = state / "tokens.json"
    store.write_text('{"tokens": [{"name": "ok", "sha256": "' + "a" * 64 + '", "created": "2025-01-31T12:00:00Z"},'
                     ' {"name": "ops", "sha256": "' + "b" * 64 + '", "created": "2025-01-31T12:00:00Z",'
                     ' "admin": ' + value + '}]}')
    store.chmod(0o600)
    cfg = write_config(tmp_path, {"state_dir": str(state), "static_dir": str(tmp_path), "listen": "127.0.0.1:0"})
    for args in (["token", "list", "--config", str(cfg)], ["--config", str(cfg)]):
        p = run_agentd(args)
        assert p.returncode != 0, (args, p.stderr)
        for says in (str(store), "entry 2", 'token "ops"', '"admin" must be true or false'):
            assert says in p.stderr, (args, says, p.stderr)


def test_anonymous_requests_are_admin_on_loopback_only(daemon_factory):
    d = daemon_factory()
    assert d.get("/api/whoami").json() == {"name": "anonymous", "admin": True}
    r = d.get("/api/admin/sessions")
    assert r.status == 200 and r.json()["sessions"] == [] and r.json()["totals"]["sessions"] == 0, r
    # served beyond loopback with auth.allow_anonymous: no one is an admin, even from loopback
    d2 = daemon_factory(settings={"listen": "0.0.0.0:0", "auth": {"allow_anonymous": True}})
    assert d2.get("/api/whoami").json() == {"name": "anonymous", "admin": False}
    for method, path in ADMIN_ROUTES:
        assert_json_error(d2.request(method, path.format(sid="sess_x")), 403, "permission_error",
                          message_contains="anonymous")
    assert d2.get("/api/sessions").status == 200
