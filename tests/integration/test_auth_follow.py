"""A running daemon follows its token store: `agentd token add` works and `agentd token
remove` revokes within a second, without a restart; a store that cannot be read keeps
the tokens read before; the last token gone beyond loopback closes the door rather than
opening it."""

import os
import time

from conftest import assert_json_error, poll
from test_auth import add_token, bearer, store, token_cmd  # noqa: F401 (store: a fixture)

# The daemon looks at the store once a second (on a request); a poll for the change to
# show gives up after FOLLOW_S only on a broken daemon, never on a slow host.
FOLLOW_S = 60
RECHECK_S = 1.0


def status_soon(d, headers, want, logged=None):
    """The status of GET /api/x with headers, once it is want and (if given) the daemon's
    log holds logged (or the last one seen)."""
    deadline = time.monotonic() + FOLLOW_S
    while True:
        r = d.get("/api/x", headers=headers)
        if (r.status == want and (logged is None or logged in d.stderr)) or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_added_token_works_and_removed_token_is_refused_without_restart(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                       env={"AGENTD_TOKENS": "env-token-0123456789"})
    pid = d.proc.pid
    carol = add_token(store["cfg"], "carol")
    assert status_soon(d, bearer(carol), 404).status == 404

    p = token_cmd(store["cfg"], "remove", "alice")
    assert p.returncode == 0 and "within a second" in p.stderr, p.stderr
    assert_json_error(status_soon(d, bearer(store["alice"]), 401), 401, "authentication_error", "not valid")
    # the others are untouched, the environment's token too, and it is the same daemon
    for tok in (store["bob"], carol, "env-token-0123456789"):
        assert d.get("/api/x", headers=bearer(tok)).status == 404
    assert d.proc.pid == pid and d.proc.poll() is None
    assert "the token store changed" in d.stderr


def test_unreadable_store_keeps_the_tokens_read_before(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static")
    path = store["dir"] / "state" / "tokens.json"
    good = path.read_text()
    tmp = path.with_suffix(".edit")
    tmp.write_text('{"tokens": [ {"name": "alice", ')          # half an edit, put in place
    os.replace(tmp, path)
    broken = "tokens read before stay valid"
    # requests bring the recheck; the broken store is seen, alice keeps working
    assert status_soon(d, bearer(store["alice"]), 404, logged=broken).status == 404, d.stderr[-2000:]
    # ... and it is reported once, not at every recheck: requests through three more
    # of them (a recheck is due a second after the last, and the next request makes it)
    end = time.monotonic() + 3 * RECHECK_S + 0.5
    while time.monotonic() < end:
        assert d.get("/api/x", headers=bearer(store["alice"])).status == 404
        time.sleep(0.1)
    assert d.stderr.count(broken) == 1, d.stderr[-2000:]
    assert_json_error(d.get("/api/x"), 401, "authentication_error")

    # mended: read again, with the change it carries
    path.write_text(good)
    dave = add_token(store["cfg"], "dave")
    assert status_soon(d, bearer(dave), 404).status == 404
    assert d.get("/api/x", headers=bearer(store["bob"])).status == 404


def test_loopback_daemon_turns_to_tokens_and_back(tmp_path, daemon_factory):
    d = daemon_factory()                                         # no token: anonymous on loopback
    assert d.get("/api/x").status == 404
    cfg = d.config_path
    tok = add_token(cfg, "erin")
    assert_json_error(status_soon(d, {}, 401), 401, "authentication_error", "no Authorization header")
    assert d.get("/api/x", headers=bearer(tok)).status == 404
    assert token_cmd(cfg, "remove", "erin").returncode == 0
    assert status_soon(d, {}, 404).status == 404                 # anonymous again, on loopback


def test_last_token_removed_beyond_loopback_refuses_everyone(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                       settings={"listen": "0.0.0.0:0"})
    assert d.get("/api/x", headers=bearer(store["bob"])).status == 404
    for name in ("alice", "bob"):
        assert token_cmd(store["cfg"], "remove", name).returncode == 0
    r = status_soon(d, bearer(store["bob"]), 401)                # bob's removal read: none left
    assert_json_error(r, 401, "authentication_error", "no API token is configured")
    assert_json_error(d.get("/api/x"), 401, "authentication_error", "no API token is configured")
    assert d.get("/api/health").status == 200                    # public routes stay public
    # a new token opens it again
    frank = add_token(store["cfg"], "frank")
    assert status_soon(d, bearer(frank), 404).status == 404
    assert_json_error(d.get("/api/x"), 401, "authentication_error")


def test_a_fifo_in_place_of_the_store_blocks_no_request(store, daemon_factory):
    d = daemon_factory(workdir=store["dir"], static_dir=store["dir"] / "static",
                       settings={"auth": {"rate_per_minute": 0}})      # requests in a loop
    path = store["dir"] / "state" / "tokens.json"
    good = path.read_text()
    path.unlink()
    os.mkfifo(path, 0o600)
    try:
        # every request is answered, with the tokens read before, while the daemon looks
        # at the store again and finds the FIFO (a read of it would wait for a writer)
        def answered_and_reported():
            r = d.get("/api/x", headers=bearer(store["alice"]), timeout=5)
            assert r.status == 404, r
            return "is not a regular file (a FIFO)" in d.stderr
        assert poll(answered_and_reported, FOLLOW_S), d.stderr[-2000:]
        # looked at again (at most once a second) while these come: still answered, one report
        until = time.monotonic() + 2.5
        while time.monotonic() < until:
            assert d.get("/api/x", headers=bearer(store["bob"]), timeout=5).status == 404
            assert_json_error(d.get("/api/x", timeout=5), 401, "authentication_error")
        assert d.stderr.count("is not a regular file") == 1, d.stderr[-2000:]
        # the CLI refuses it too, at once, instead of hanging on it
        p = token_cmd(store["cfg"], "add", "eve")
        assert p.returncode == 1 and "not a regular file" in p.stderr, p.stderr
    finally:
        release_readers(path)
    path.unlink()
    path.write_text(good)
    dave = add_token(store["cfg"], "dave")
    assert status_soon(d, bearer(dave), 404).status == 404


def release_readers(fifo):
    """Let a reader stuck on the FIFO go (it gets end-of-file), should one be there."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass           # ENXIO: nobody is reading it
