"""The supervisor opens its connection to the API while its sandbox waits (for the warm
pool, say), so that the first model call starts with its request; a connection the
server has closed meanwhile is not used, and with a proxy in the environment none is
opened ahead."""

import socket
import time

from chat_util import KEY, MODELS, MockAnthropic, chat_env, chat_ok, chat_settings, finish, wait_pool_ready


def start(daemon_factory, mock, **env):
    return daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_POOL_SIZE=1, **env))


def caught_up(mock):
    """The connections the mock accepted (but those made here), once it has accepted every
    one opened so far: a connection of our own, opened now, has come out of the FIFO
    listen queue."""
    probes = vars(mock).setdefault("probes_of_the_test", set())
    with socket.create_connection(("127.0.0.1", mock.port), timeout=30) as s:
        mine = s.getsockname()[:2]
        mock.wait_for_connections(lambda cs: any(c["peer"] == mine and c["t_closed"] is None for c in cs),
                                  timeout=60)
        probes.update(c["id"] for c in mock.connections() if c["peer"] == mine and c["t_closed"] is None)
    return [c for c in mock.connections() if c["id"] not in probes]


def test_a_pooled_sandbox_calls_over_a_connection_opened_ahead(daemon_factory):
    with MockAnthropic(api_key=KEY, models=MODELS) as mock:
        d = start(daemon_factory, mock)
        assert wait_pool_ready(d, 1)["ready"] >= 1
        assert len(caught_up(mock)) == 1        # the pooled sandbox's, opened ahead
        sent = time.monotonic()
        mock.enqueue({"text": "first"}, {"text": "second"})
        assert chat_ok(d, "one")["reply"] == "first"
        first = mock.requests[0]
        assert first["t_connected"] < sent, "the first call opened its connection only then"
        # the next session's pooled sandbox has one of its own, opened ahead as well
        assert wait_pool_ready(d, 1)["ready"] >= 1
        ahead = [c for c in caught_up(mock) if c["id"] != first["connection"]]
        assert len(ahead) == 1, ahead           # the next pooled sandbox's, opened ahead
        sent = time.monotonic()
        assert chat_ok(d, "two")["reply"] == "second"
        second = mock.requests[1]
        assert second["connection"] != first["connection"] and second["t_connected"] < sent
        finish(d, mock)


def test_a_connection_the_server_closed_is_not_used(daemon_factory):
    with MockAnthropic(api_key=KEY, models=MODELS, idle_timeout=0.2) as mock:
        d = start(daemon_factory, mock)
        assert wait_pool_ready(d, 1)["ready"] >= 1
        # the mock has hung up on the idle connection opened ahead
        mock.wait_for_connections(lambda cs: cs and cs[0]["t_closed"] is not None, timeout=60)
        sent = time.monotonic()
        mock.enqueue({"text": "fresh"})
        assert chat_ok(d, "hello")["reply"] == "fresh"
        [req] = mock.requests
        assert req["t_connected"] >= sent, "the call went over a new connection"
        assert "retrying" not in d.stderr, "the dead connection cost an attempt"
        finish(d, mock)


def test_no_connection_ahead_when_a_proxy_is_configured(daemon_factory):
    with MockAnthropic(api_key=KEY, models=MODELS) as mock:
        # the proxy would be used but for no_proxy, which lets curl reach the mock directly
        d = start(daemon_factory, mock, https_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1")
        assert wait_pool_ready(d, 1)["ready"] >= 1
        assert caught_up(mock) == []            # none opened ahead (had one been, it would be in)
        sent = time.monotonic()
        mock.enqueue({"text": "direct"})
        assert chat_ok(d, "hello")["reply"] == "direct"
        assert mock.requests[0]["t_connected"] >= sent
        finish(d, mock)


def test_a_pooled_sandbox_keeps_its_connection_fresh_while_it_waits(daemon_factory):
    """A connection opened ahead is used only while young (20 s): a sandbox that waits in
    the pool replaces its own before then (at 10 s), so one pooled for minutes has one."""
    with MockAnthropic(api_key=KEY, models=MODELS) as mock:
        d = start(daemon_factory, mock)
        assert wait_pool_ready(d, 1)["ready"] >= 1
        [first] = caught_up(mock)
        # the replacement comes, and the first one is closed
        mock.wait_for_connections(
            lambda cs: any(c["id"] == first["id"] and c["t_closed"] is not None for c in cs) and
            any(c["id"] != first["id"] and c["t_closed"] is None and c["t_connected"] > first["t_connected"]
                for c in cs), timeout=60)
        fresh = [c for c in caught_up(mock) if c["id"] != first["id"] and c["t_closed"] is None]
        assert len(fresh) == 1, fresh
        sent = time.monotonic()
        mock.enqueue({"text": "fresh"})
        assert chat_ok(d, "hello")["reply"] == "fresh"
        [req] = mock.requests
        assert req["connection"] == fresh[0]["id"] and req["t_connected"] < sent, req
        finish(d, mock)
