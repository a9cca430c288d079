"""Connection caps and timeouts from the settings."""

import threading
import time

from conftest import poll, read_response

REQUEST = b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n"
# How long a test waits for the daemon to close a connection it must close: far past
# the 1 s timeouts under test, so a loaded machine cannot fail it; a connection left
# open is still caught.
CLOSE_WAIT_S = 30
# Closed by the 1 s idle timeout the test sets, not by the 60 s default: well between.
SET_NOT_DEFAULT_S = 20


def closed_within(sock, timeout):
    """Seconds until the peer closed the connection, or None if it did not."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - t0
    except ConnectionResetError:
        return time.monotonic() - t0
    except OSError:
        return None


def test_idle_connection_is_closed(daemon_factory):
    d = daemon_factory(settings={"http.idle_timeout_s": 1})
    with d.connect() as s:
        took = closed_within(s, CLOSE_WAIT_S)
    assert took is not None and 0.5 <= took < SET_NOT_DEFAULT_S, took
    d.assert_serving()


def test_slow_headers_are_cut_off(daemon_factory):
    """A client trickling its headers (slowloris) does not hold the connection."""
    d = daemon_factory(settings={"http.idle_timeout_s": 1})
    with d.connect() as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: test\r\n")
        took = closed_within(s, CLOSE_WAIT_S)
    assert took is not None and took < SET_NOT_DEFAULT_S, f"a client trickling its headers kept its connection: {took}"
    d.assert_serving()


def test_per_ip_connection_limit(daemon_factory):
    d = daemon_factory(settings={"http.max_connections_per_ip": 2})
    first = [d.connect(), d.connect()]
    try:
        for s in first:  # both admitted
            s.sendall(REQUEST)
            assert read_response(s).status == 200
        with d.connect() as third:
            third.sendall(REQUEST)
            took = closed_within(third, CLOSE_WAIT_S)
            assert took is not None, "a third connection from one address was served"
    finally:
        for s in first:
            s.close()
    # a slot frees when a connection closes
    def served():
        try:
            return d.get("/api/health").status == 200
        except OSError:
            return False
    assert poll(served, timeout=CLOSE_WAIT_S), "the per-IP slots never freed"


def test_max_header_bytes_is_honoured(daemon_factory):
    """Headers well within http.max_header_bytes pass; half as much again gets 431."""
    d = daemon_factory(settings={"http.max_header_bytes": 4096})

    def with_header(n):
        return d.raw(b"GET /api/health HTTP/1.1\r\nHost: test\r\nX-Filler: " + b"a" * n + b"\r\n\r\n")
    assert with_header(2000).status == 200
    r = with_header(6000)
    assert r.status == 431, f"{r.status} for 6000 bytes of headers with max_header_bytes 4096"
    d.assert_serving()


def test_concurrent_clients(daemon_factory):
    """Many clients at once, a mix of successes and errors: every answer right."""
    d = daemon_factory(settings={"http.threads": 4, "http.max_body_bytes": 2048})
    cases = [("GET", "/api/health", None, 200), ("GET", "/", None, 200),
             ("GET", "/api/nope", None, 404), ("GET", "/../secret", None, 404),
             ("POST", "/api/health", b"", 405), ("POST", "/api/chat", b'{"message": "hi"}', 503),
             ("POST", "/api/chat", b'{"message": ', 400), ("POST", "/api/chat", b"x" * 4096, 413)]
    failures = []

    def client(n):
        for i in range(12):
            method, path, body, want = cases[(n + i) % len(cases)]
            try:
                r = d.request(method, path, body=body,
                              headers={"Content-Type": "application/json"} if body is not None else None)
                if r.status != want:
                    failures.append((method, path, want, r.status))
            except OSError as e:
                failures.append((method, path, want, repr(e)))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still waiting for answers"
    assert not failures, failures[:10]
    d.assert_serving()
