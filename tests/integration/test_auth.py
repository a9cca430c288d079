"""Bearer tokens and rate limits: `agentd token add/list/remove`, the store on disk,
401 and 429 from the real daemon, the public routes, AGENTD_TOKENS, and the refusal to
serve beyond loopback without a token.

(That tokens are compared in constant time is a property of the code, not something a
test over the network can show: see token_set_match() in src/auth/tokens.c.)"""

import hashlib
import json
import os
import re
import stat
import time

import pytest

from conftest import assert_json_error, base_settings, deep_merge, make_static, run_agentd, write_config

TOKEN_RE = re.compile(r"^agt_[0-9a-f]{64}$")
REALM = 'Bearer realm="agentd"'


# --------------------------------------------------------------------------- helpers

def setup_dir(workdir, settings=None):
    """A work directory with static files and a config; returns the config path."""
    make_static(workdir / "static")
    return write_config(workdir, deep_merge(base_settings(workdir, workdir / "static"), settings or {}))


def token_cmd(cfg, *args, env=None):
    return run_agentd(["token", *args, "--config", str(cfg)], env=env)


def add_token(cfg, name):
    p = token_cmd(cfg, "add", name)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def store(tmp_path):
    """A work directory with alice's and bob's tokens in its store."""
    cfg = setup_dir(tmp_path)
    return {"dir": tmp_path, "cfg": cfg, "alice": add_token(cfg, "alice"), "bob": add_token(cfg, "bob")}


@pytest.fixture
def authd(store, daemon_factory):
    return daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static")


def chat_invalid(d, headers=None):
    """A chat request that fails validation: 400 shows it got past authentication
    without needing a model server."""
    return d.post_json("/api/chat", {"message": ""}, headers=headers)


# --------------------------------------------------------------------------- the CLI and the store

def test_token_add_prints_once_and_stores_only_the_hash(tmp_path):
    cfg = setup_dir(tmp_path)
    p = token_cmd(cfg, "add", "alice")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    assert TOKEN_RE.match(token), p.stdout
    assert p.stdout == token + "\n", "stdout must hold the token alone"
    assert token not in p.stderr and "alice" in p.stderr and "not shown again" in p.stderr, p.stderr

    path = tmp_path / "state" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert token not in text and token[4:] not in text
    doc = json.loads(text)
    [entry] = doc["tokens"]
    assert entry["name"] == "alice"
    assert entry["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", entry["created"]), entry
    assert set(entry) == {"name", "sha256", "created"}

    # list: names and dates, never a hash or a token
    p = token_cmd(cfg, "list")
    assert p.returncode == 0, p.stderr
    assert "alice" in p.stdout and entry["created"] in p.stdout
    assert entry["sha256"] not in p.stdout + p.stderr and token not in p.stdout + p.stderr


def test_store_is_replaced_atomically(tmp_path):
    cfg = setup_dir(tmp_path)
    add_token(cfg, "one")
    state = tmp_path / "state"
    before = (state / "tokens.json").stat().st_ino
    add_token(cfg, "two")
    after = (state / "tokens.json").stat()
    assert after.st_ino != before, "the store must be replaced by a rename, not rewritten in place"
    assert stat.S_IMODE(after.st_mode) == 0o600
    assert sorted(os.listdir(state)) == ["tokens.json"], "a temporary file was left behind"
    assert [e["name"] for e in json.loads((state / "tokens.json").read_text())["tokens"]] == ["one", "two"]


def test_duplicate_and_bad_names_refused(tmp_path):
    cfg = setup_dir(tmp_path)
    add_token(cfg, "alice")
    store = (tmp_path / "state" / "tokens.json").read_text()
    p = token_cmd(cfg, "add", "alice")
    assert p.returncode == 1 and "already exists" in p.stderr, p.stderr
    assert p.stdout == "", "no token may be printed when none was stored"
    for bad in ["a b", "x" * 65, "café", "anonymous", "env-1", "a/b"]:
        p = token_cmd(cfg, "add", bad)
        assert p.returncode == 1 and "token" in p.stderr and p.stdout == "", (bad, p.stderr)
    assert (tmp_path / "state" / "tokens.json").read_text() == store
    assert add_token(cfg, "A-z_0.9" + "x" * 57)  # 64 characters of every kind allowed


def test_token_remove(tmp_path):
    cfg = setup_dir(tmp_path)
    add_token(cfg, "alice")
    add_token(cfg, "bob")
    p = token_cmd(cfg, "remove", "alice")
    assert p.returncode == 0, p.stderr
    p = token_cmd(cfg, "list")
    assert "bob" in p.stdout and "alice" not in p.stdout
    p = token_cmd(cfg, "remove", "alice")
    assert p.returncode == 1 and 'no token named "alice"' in p.stderr, p.stderr


def test_token_usage_errors(tmp_path):
    cfg = setup_dir(tmp_path)
    for args in [[], ["add"], ["list", "x"], ["frob", "x"], ["remove"]]:
        p = token_cmd(cfg, *args)
        assert p.returncode == 2 and "Usage: agentd token" in p.stderr, (args, p.stderr)


@pytest.mark.parametrize("content, problem", [
    ("{\"tokens\": [", "invalid JSON at line 1"),
    ("[]", "not a JSON object"),
    ("{\"tokens\": [{\"name\": \"alice\", \"sha256\": \"00\", \"created\": \"2025-01-01T00:00:00Z\"}]}",
     "64 lowercase hex"),
    ("{\"tokens\": [{\"name\": \"alice\"}]}", "required"),
    ("{\"tokens\": {}}", "must be an array"),
])
def test_corrupt_store_refused_at_start(tmp_path, content, problem):
    cfg = setup_dir(tmp_path)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "tokens.json"
    path.write_text(content)
    p = run_agentd(["--config", str(cfg)], cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    assert str(path) in p.stderr and problem in p.stderr, p.stderr
    assert "listening on" not in p.stderr
    p = token_cmd(cfg, "add", "carol")    # nor does the CLI write over it
    assert p.returncode == 1 and str(path) in p.stderr and p.stdout == ""
    assert path.read_text() == content


# --------------------------------------------------------------------------- 401

def test_requests_without_a_valid_token_get_401(authd, store, daemon_factory):
    other = setup_dir(store["dir"] / "other")     # a token made for another agentd
    foreign = add_token(other, "alice")
    cases = [
        ({}, "no Authorization header"),
        ({"Authorization": f"Basic {store['alice']}"}, "Bearer scheme"),
        ({"Authorization": "Bearer"}, "no token"),
        ({"Authorization": "Bearer agt_" + "0" * 64}, "not valid"),
        ({"Authorization": f"Bearer {store['alice']}x"}, "not valid"),
        ({"Authorization": f"Bearer {store['alice'][:-1]}"}, "not valid"),
        (bearer(foreign), "not valid"),
    ]
    for headers, says in cases:
        for r in (chat_invalid(authd, headers), authd.get("/api/x", headers=headers)):
            assert_json_error(r, 401, "authentication_error", says)
            assert r.header("WWW-Authenticate") == REALM, r.headers
    # refused before the body is read: even one over the size limit gets 401, not 413
    r = authd.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2097152\r\n\r\n", method="POST")
    assert_json_error(r, 401, "authentication_error")


def test_valid_token_gets_through(authd, store):
    for name in ("alice", "bob"):
        r = chat_invalid(authd, bearer(store[name]))
        assert_json_error(r, 400, "invalid_request_error")
        assert_json_error(authd.get("/api/x", headers=bearer(store[name])), 404, "not_found_error")
    # the scheme is case-insensitive (RFC 7235); blanks around the token are ignored
    r = authd.get("/api/x", headers={"Authorization": f"bearer   {store['alice']}"})
    assert r.status == 404, r


def test_health_and_static_stay_public(authd):
    r = authd.get("/api/health")
    assert r.status == 200 and r.json()["auth"] == {"token_required": True}, r
    r = authd.get("/")
    assert r.status == 200 and b"INDEX-PAGE" in r.body
    assert authd.request("HEAD", "/").status == 200


def test_tokens_from_the_environment(tmp_path, daemon_factory):
    secrets = ["tok-one-1234567890", "tok-two-abcdefghij"]
    d = daemon_factory(env={"AGENTD_TOKENS": " , ".join(secrets)})
    for s in secrets:
        assert d.get("/api/x", headers=bearer(s)).status == 404
    assert_json_error(d.get("/api/x", headers=bearer("tok-three")), 401, "authentication_error")
    assert_json_error(d.get("/api/x"), 401, "authentication_error")
    assert "2 API tokens" in d.stderr
    assert not any(s in d.stderr for s in secrets), "a token reached the log"
    # --check-config never shows them either
    p = run_agentd(["--check-config", "--config", str(d.config_path)], env={"AGENTD_TOKENS": secrets[0]})
    assert p.returncode == 0, p.stderr
    assert secrets[0] not in p.stdout + p.stderr


def test_store_and_environment_together(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                       env={"AGENTD_TOKENS": "from-env-0123456789"})
    assert d.get("/api/x", headers=bearer(store["alice"])).status == 404
    assert d.get("/api/x", headers=bearer("from-env-0123456789")).status == 404
    assert "3 API tokens (2 from the token store, 1 from AGENTD_TOKENS)" in d.stderr


@pytest.mark.parametrize("value, problem", [("a,,b", "item 2 is empty"), ("same,same", "the same as")])
def test_bad_environment_tokens_refused(tmp_path, value, problem):
    cfg = setup_dir(tmp_path)
    p = run_agentd(["--config", str(cfg)], env={"AGENTD_TOKENS": value})
    assert p.returncode == 1 and "AGENTD_TOKENS" in p.stderr and problem in p.stderr, p.stderr
    assert "same" not in p.stderr.replace("the same as", ""), "a token reached the log"


# --------------------------------------------------------------------------- 429

def limited(store, daemon_factory, per_minute=60, burst=3):
    return daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                          settings={"auth": {"rate_per_minute": per_minute, "burst": burst}})


def test_rate_limit_429_with_retry_after_then_recovery(store, daemon_factory):
    d = limited(store, daemon_factory)
    alice = bearer(store["alice"])
    for _ in range(3):
        assert d.get("/api/x", headers=alice).status == 404
    r = d.get("/api/x", headers=alice)
    err = assert_json_error(r, 429, "rate_limit_error", ("alice", "60 requests a minute"))
    retry = r.header("Retry-After")
    assert retry is not None and retry.isdigit() and int(retry) >= 1, r.headers
    assert int(retry) == 1, err          # one request a second comes back
    r = chat_invalid(d, alice)           # every protected route counts, before the body
    assert r.status == 429, r
    # public routes are not limited
    for _ in range(10):
        assert d.get("/api/health").status == 200
        assert d.get("/").status == 200
    time.sleep(int(retry) + 0.2)
    assert d.get("/api/x", headers=alice).status == 404
    assert d.get("/api/x", headers=alice).status == 429


def test_rate_limits_are_per_token(store, daemon_factory):
    d = limited(store, daemon_factory, per_minute=1, burst=2)
    alice, bob = bearer(store["alice"]), bearer(store["bob"])
    for _ in range(2):
        assert d.get("/api/x", headers=alice).status == 404
    r = d.get("/api/x", headers=alice)
    assert r.status == 429 and int(r.header("Retry-After")) > 30, r   # one a minute
    for _ in range(2):
        assert d.get("/api/x", headers=bob).status == 404
    assert d.get("/api/x", headers=bob).status == 429
    # a refused token does not spend anyone's budget: bad tokens get 401, not 429
    assert d.get("/api/x", headers=bearer("agt_nope")).status == 401


# --------------------------------------------------------------------------- beyond loopback

def test_refuses_to_start_beyond_loopback_without_a_token(tmp_path):
    cfg = setup_dir(tmp_path, {"listen": "0.0.0.0:0"})
    p = run_agentd(["--config", str(cfg)], cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    for says in ("listen", "0.0.0.0:0", "agentd token add NAME", "auth.allow_anonymous"):
        assert says in p.stderr, p.stderr
    assert "listening on" not in p.stderr


def test_starts_beyond_loopback_with_allow_anonymous(daemon_factory):
    d = daemon_factory(settings={"listen": "0.0.0.0:0", "auth": {"allow_anonymous": True}})
    assert "auth.allow_anonymous is set" in d.stderr
    assert d.get("/api/x").status == 404
    assert chat_invalid(d).status == 400


def test_starts_beyond_loopback_with_allow_anonymous_from_the_environment(daemon_factory):
    d = daemon_factory(settings={"listen": "0.0.0.0:0"}, env={"AGENTD_ALLOW_ANONYMOUS": "true"})
    assert d.get("/api/x").status == 404


def test_starts_beyond_loopback_with_a_token(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                       settings={"listen": "0.0.0.0:0"})
    assert d.get("/api/x").status == 401
    assert d.get("/api/x", headers=bearer(store["bob"])).status == 404
    e = daemon_factory(settings={"listen": "0.0.0.0:0"}, env={"AGENTD_TOKENS": "env-secret-12345678"})
    assert e.get("/api/x", headers=bearer("env-secret-12345678")).status == 404


def test_anonymous_on_loopback_is_not_limited(daemon_factory):
    d = daemon_factory(settings={"auth": {"rate_per_minute": 1, "burst": 1}})
    for _ in range(5):
        assert d.get("/api/x").status == 404
