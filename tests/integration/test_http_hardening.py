"""The HTTP front end under hostile or careless clients: request heads that trickle in
(slowloris), a body that runs past its limit, ambiguous body framing, event readers that
never read, requests that arrive during shutdown, secrets in query strings, and
libmicrohttpd's own refusals in the access log."""

import http.client
import json
import signal
import socket
import threading
import time

import pytest

from chat_util import (CHAT_TIMEOUT, bash, calls, finish, mock, start_chat_daemon,  # noqa: F401
                       stream_chat)
import sandbox_util as su
from conftest import Response, assert_json_error, parse_access_line, poll, read_response

MAX_BODY = 4096
HEAD_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def srv(module_daemon_factory):
    return module_daemon_factory(settings={"http.max_body_bytes": MAX_BODY})


def read_until_closed(sock, timeout):
    """Read and drop what sock receives until the server closes it: True if it did
    within timeout (EOF or reset), False if it is still open at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
        try:
            if sock.recv(1 << 16) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


# --------------------------------------------------------------------------- slowloris

SLOW_SOURCES = [f"127.0.0.{i}" for i in range(2, 7)]   # 5 addresses x 50: under the per-IP limit
SLOW_PER_SOURCE = 50
SLOW_HEAD = b"GET /api/health HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"s" * 4000


def test_trickled_request_heads_are_cut_and_others_are_served(daemon_factory):
    """250 connections sending their head one byte every 0.2 s: libmicrohttpd's idle
    timeout never fires for them, the head deadline does; meanwhile /api/health answers."""
    d = daemon_factory(settings={"http.header_timeout_s": HEAD_TIMEOUT_S, "http.idle_timeout_s": 120})
    slow = []
    for src in SLOW_SOURCES:
        for _ in range(SLOW_PER_SOURCE):
            s = socket.socket()
            s.bind((src, 0))
            s.connect((d.host, d.port))
            slow.append(s)
    open_ = set(range(len(slow)))
    stop = threading.Event()

    def trickle():
        pos = 0
        while not stop.is_set() and pos < len(SLOW_HEAD):
            for i in list(open_):
                try:
                    slow[i].send(SLOW_HEAD[pos:pos + 1])
                except OSError:
                    open_.discard(i)
            pos += 1
            stop.wait(0.2)
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        # real clients are served while the slow ones hold their connections
        started = time.monotonic()
        while time.monotonic() - started < HEAD_TIMEOUT_S + 1:
            t0 = time.monotonic()
            r = d.request("GET", "/api/health", timeout=10)
            assert r.status == 200, r
            assert time.monotonic() - t0 < 5, "a health probe waited behind the slow clients"
            time.sleep(0.2)
        # every slow connection is closed at its head deadline, though it still sends
        deadline = time.monotonic() + HEAD_TIMEOUT_S + 15
        still_open = [s for s in slow if not read_until_closed(s, max(0.05, deadline - time.monotonic()))]
        assert not still_open, f"{len(still_open)} of {len(slow)} trickling connections are still open"
        assert d.wait_for_log(r"closed \d+ connections? that did not send a request's line and headers",
                              timeout=5), d.stderr[-3000:]
        d.assert_serving()
    finally:
        stop.set()
        t.join(timeout=5)
        for s in slow:
            s.close()


def test_a_crowd_of_slow_clients_past_the_connection_limit_cannot_keep_others_out(daemon_factory):
    """Twice http.max_connections slow connections (the head deadline far off): each new
    connection past the limit displaces the one waiting longest, so a real client still
    gets in at once."""
    limit = 40
    d = daemon_factory(settings={"http.max_connections": limit, "http.max_connections_per_ip": 0,
                                 "http.header_timeout_s": 120, "http.idle_timeout_s": 120})
    slow = []
    try:
        for _ in range(2 * limit):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect((d.host, d.port))
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: s")
            slow.append(s)
        for _ in range(10):
            r = d.request("GET", "/api/health", timeout=10)
            assert r.status == 200, r
        # the first ones were displaced, the newest still wait
        assert read_until_closed(slow[0], timeout=10), "the oldest slow connection is still open"
        assert d.wait_for_log(r"connections open, the limit \(http.max_connections\); closed \d+", timeout=5), \
            d.stderr[-2000:]
    finally:
        for s in slow:
            s.close()


def test_a_quick_head_with_a_slow_body_is_not_cut_by_the_head_deadline(daemon_factory):
    """The deadline is the head's: a body may take longer (the idle timeout covers it)."""
    d = daemon_factory(settings={"http.header_timeout_s": 1, "http.idle_timeout_s": 30})
    body = json.dumps({"message": "x"}).encode()
    s = d.connect(timeout=10)
    try:
        s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        for i in range(len(body)):          # 0.25 s a byte: well past the 1 s head deadline
            s.sendall(body[i:i + 1])
            time.sleep(0.25)
        r = read_response(s, method="POST", timeout=10)
        assert_json_error(r, 503)            # past the body: only the API key is missing
    finally:
        s.close()


# --------------------------------------------------------------------------- bodies

def test_chunked_body_over_limit_refused_before_its_end(srv):
    """The 413 comes as soon as the chunks pass the limit, not after the last chunk
    (which never comes here)."""
    s = srv.connect(timeout=10)
    try:
        s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"a" * 1000
        for _ in range(MAX_BODY // len(piece) + 2):
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        r = read_response(s, method="POST", timeout=10)
    finally:
        s.close()
    err = assert_json_error(r, 413, "request_too_large")
    assert str(MAX_BODY) in err["message"]
    assert r.header("Connection", "").lower() == "close", r.headers
    rec = srv.wait_access("/api/chat", timeout=5)
    assert rec is not None and rec["status"] == 413, srv.stderr[-2000:]


@pytest.mark.parametrize("headers, words", [
    (b"Content-Length: 5\r\nContent-Length: 6\r\n", "disagree"),
    (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding"),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "Transfer-Encoding"),
])
def test_ambiguous_body_framing_is_refused(srv, headers, words):
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + headers +
                b"\r\n{}   ", method="POST")
    err = assert_json_error(r, 400, "invalid_request_error", message_contains=words)
    assert r.header("Connection", "").lower() == "close", r.headers
    srv.assert_serving()


def test_identical_duplicate_content_length_is_taken(srv):
    body = b'{"message": "hi"}'
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(body), len(body), body), method="POST")
    assert_json_error(r, 503)    # read and checked; only the API key is missing


# --------------------------------------------------------------------------- the access log

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_query_values_stay_out_of_the_access_log(daemon_factory, fmt):
    d = daemon_factory(settings={"log.format": fmt})
    secret = "tok-SECRET-4f1c2a"
    r = d.get(f"/api/health?access_token={secret}&x=1&flag&empty=")
    assert r.status == 200
    rec = d.wait_access("/api/health?access_token=***&x=***&flag&empty=***")
    assert rec is not None and rec["status"] == 200, d.stderr[-2000:]
    d.get(f"/nope?token={secret}#frag")
    assert d.wait_access("/nope?token=***") is not None, d.stderr[-2000:]
    d.assert_clean_exit()
    assert secret not in d.stderr


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n", 400),         # no Host
    (b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
])
def test_libmicrohttpds_own_refusals_have_an_access_line(srv, request_bytes, status):
    start = srv.mark()
    try:
        r = srv.raw(request_bytes)
        assert r.status == status, r
    except (OSError, http.client.HTTPException):
        pass    # 0.9.75 writes its own error's head twice; the status line is what counts
    path = request_bytes.split(b" ")[1].decode()

    def line(l):
        rec = parse_access_line(l)
        return rec is not None and rec["path"] == path and rec["status"] == status
    got = srv.wait_for_log(line, timeout=5, start=start)
    assert got is not None, srv.stderr[-2000:]
    assert parse_access_line(got)["remote"] == "127.0.0.1", got


# --------------------------------------------------------------------------- shutdown

def keepalive(d):
    c = http.client.HTTPConnection(d.host, d.port, timeout=CHAT_TIMEOUT)
    c.request("GET", "/api/health")
    r = c.getresponse()
    r.read()
    assert r.status == 200
    return c


def test_no_new_work_once_shutdown_begins(daemon_factory, mock):
    """A turn keeps the daemon draining; on connections kept alive from before, requests
    that would start work get 503 with Connection: close; the turn in flight is left to
    end (here by an interrupt, which is not new work)."""
    d = start_chat_daemon(daemon_factory, mock, settings={"http.shutdown_timeout_s": 60,
                                                          "http.header_timeout_s": 120})
    sid = d.post_json("/api/sessions", {}).json()["id"]
    mark = su.marker()
    mock.enqueue(calls(bash(f"sleep 60.{mark}")), {"text": "after the interrupt"})
    turn = {}

    def run_turn():
        turn["r"] = d.post_json(f"/api/sessions/{sid}/messages", {"message": "sleep"}, timeout=CHAT_TIMEOUT)
    t = threading.Thread(target=run_turn)
    t.start()
    assert su.wait_for_process(f"60.{mark}", timeout=30), d.stderr[-2000:]
    conns = [keepalive(d) for _ in range(4)]    # the listening socket closes at SIGTERM
    d.send_signal(signal.SIGTERM)
    assert d.wait_for_log("shutting down", timeout=10), d.stderr[-2000:]
    for c, (path, body) in zip(conns, [("/api/sessions", {}),
                                       ("/api/chat", {"message": "hi"}),
                                       (f"/api/sessions/{sid}/exec", {"command": "true"})]):
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        resp = Response(r.status, r.reason, r.headers, r.read())
        assert_json_error(resp, 503, "unavailable_error", message_contains="shutting down")
        assert r.headers.get("Connection", "").lower() == "close", r.headers
        c.close()
    assert t.is_alive(), "the turn ended before the requests were sent: nothing was draining"
    conns[3].request("POST", f"/api/sessions/{sid}/interrupt")
    r = conns[3].getresponse()
    r.read()
    assert r.status == 202, r.status
    conns[3].close()
    t.join(CHAT_TIMEOUT)
    assert turn["r"].status == 200 and turn["r"].json()["stop_reason"] == "interrupted", turn["r"]
    assert d.wait(timeout=40) == 0, d.stderr[-3000:]


# --------------------------------------------------------------------------- event readers

BIG_TEXT = 3584 << 10    # what the turn writes: more than a socket and a backlog hold (under
                         # the 4 MiB a streamed message may take)
BACKLOG_MAX = 1 << 20    # SSE_BACKLOG_MAX


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def under_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def test_an_event_reader_that_never_reads_is_dropped(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, settings={"http.idle_timeout_s": 300})
    sid = d.post_json("/api/sessions", {}).json()["id"]
    # the slow reader: a small receive buffer, never read
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((d.host, d.port))
    slow.sendall(f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    # a reader that keeps up
    got = {}

    def read():
        got["s"] = stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET",
                               stop=lambda e: e.event == "done")
    t = threading.Thread(target=read)
    t.start()
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json().get("state") in ("ready", "idle"), 30)
    rss_before = vm_rss_kib(d.proc.pid)
    mock.enqueue({"text": "y" * BIG_TEXT, "chunk_chars": 64 << 10})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "write"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    t.join(CHAT_TIMEOUT)
    # the reader that kept up got every piece
    texts = [e.data["text"] for e in got["s"].events if e.event == "text"]
    assert sum(len(x) for x in texts) == BIG_TEXT, len(texts)
    # the one that did not is dropped: its connection is closed though it never read
    # (and the idle timeout is far off)
    assert read_until_closed(slow, timeout=20), "the reader that never reads is still connected"
    slow.close()
    health = d.health()["http"]
    assert health["events_clients_dropped"] >= 1, health
    assert poll(lambda: d.health()["http"]["events_queued_bytes"] == 0, 10), d.health()["http"]
    # what the daemon holds did not grow by what the slow reader missed (not under
    # AddressSanitizer, whose quarantine keeps freed memory resident by design)
    if not under_asan(d.proc.pid):
        rss_after = vm_rss_kib(d.proc.pid)
        assert rss_after - rss_before < 48 * 1024, (rss_before, rss_after)
    assert d.wait_for_log("fell .* behind .* dropping it", timeout=5), d.stderr[-2000:]
    finish(d, mock)
