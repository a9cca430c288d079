"""The daemon's life: SIGTERM/SIGINT, graceful shutdown with a deadline, sd_notify."""

import json
import os
import signal
import socket
import tempfile
import time
import uuid

import pytest

from conftest import poll, read_response

# A shutdown that must not wait for its deadline gets a long one (LONG_S), and the
# bounds on how long it took sit far below it: they tell 'did not wait' from 'waited',
# however slow the machine (an ASan build's exit alone can take seconds).
LONG_S = 60
PROMPT_S = 30


def wait_exit(d, timeout):
    t0 = time.monotonic()
    rc = d.wait(timeout=timeout)
    return rc, time.monotonic() - t0


def start_slow_chat(d, body=b'{"message": "hello from a slow client"}', sent=10):
    """A POST /api/chat whose headers and first bytes of body are sent; the rest is not."""
    s = d.connect()
    s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:sent])
    # The request is in flight once the daemon has read it: its end of the connection
    # has nothing left to read (its receive queue, as /proc/net/tcp shows it).
    assert poll(lambda: unread_by_daemon(d, s) == 0, LONG_S), "the daemon never read the request"
    return s, body[sent:]


def unread_by_daemon(d, s):
    """Bytes sent on s that the daemon has not read yet (None: its socket not found)."""
    ours = s.getsockname()[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, queues = f[1], f[2], f[4]
            if int(local.rsplit(":", 1)[1], 16) == d.port and int(remote.rsplit(":", 1)[1], 16) == ours:
                return int(queues.split(":")[1], 16)
    return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(daemon_factory, sig):
    daemon = daemon_factory(settings={"http.shutdown_timeout_s": LONG_S})
    daemon.assert_serving()
    daemon.send_signal(sig)
    rc, took = wait_exit(daemon, LONG_S + 30)
    assert rc == 0, daemon.stderr
    assert took < PROMPT_S, f"an idle daemon took {took:.1f} s to stop"
    assert daemon.wait_for_log(r"\bstopped\b", timeout=0) is not None, daemon.stderr


def test_graceful_shutdown_finishes_request_in_flight(daemon_factory):
    d = daemon_factory(settings={"http.shutdown_timeout_s": LONG_S})
    sock, rest = start_slow_chat(d)
    try:
        mark = d.mark()
        d.send_signal(signal.SIGTERM)
        assert d.wait_for_log("shut", timeout=LONG_S, start=mark), d.stderr
        # no new connections once shutting down
        with pytest.raises(OSError):
            deadline = time.monotonic() + PROMPT_S
            while time.monotonic() < deadline:  # the listener goes away promptly
                c = socket.create_connection((d.host, d.port), timeout=1)
                c.close()
                time.sleep(0.05)
        assert d.alive(), "exited with a request still in flight"
        sock.sendall(rest)
        r = read_response(sock, method="POST", timeout=LONG_S)
        assert r.status == 503, r  # no API key: the complete, normal answer
        doc = json.loads(r.body)
        assert "ANTHROPIC_API_KEY" in doc["error"]["message"]
    finally:
        sock.close()
    rc, took = wait_exit(d, LONG_S + 30)
    assert rc == 0, d.stderr
    assert took < PROMPT_S, f"{took:.1f} s: the daemon waited out its deadline after the last request"
    assert d.wait_for_log(r"\bstopped\b", timeout=0), d.stderr
    assert d.wait_access("/api/chat", timeout=0)["status"] == 503


def test_shutdown_deadline_bounds_a_stuck_request(daemon_factory):
    d = daemon_factory(settings={"http.shutdown_timeout_s": 1})
    sock, _ = start_slow_chat(d)  # never finished
    try:
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=LONG_S + 30)
        took = time.monotonic() - t0
        assert rc == 0, d.stderr
        # it waited for the deadline, and it did not wait for the request (which would never end)
        assert 0.5 <= took < PROMPT_S, f"exited after {took:.2f}s with shutdown_timeout_s 1"
        # the stuck connection is closed, not left dangling
        sock.settimeout(2)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        assert b"200 OK" not in data
    finally:
        sock.close()
    assert d.wait_for_log(r"\bstopped\b", timeout=0), d.stderr


def test_idle_keepalive_connection_does_not_delay_shutdown(daemon_factory):
    d = daemon_factory(settings={"http.shutdown_timeout_s": LONG_S})
    s = d.connect()
    try:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(s).status == 200
        # the connection stays open and idle
        d.send_signal(signal.SIGTERM)
        rc, took = wait_exit(d, LONG_S + 30)
        assert rc == 0, d.stderr
        assert took < PROMPT_S, f"an idle keep-alive connection held shutdown for {took:.1f}s"
    finally:
        s.close()


# --------------------------------------------------------------------------- sd_notify

def notify_listener(tmp_path, abstract):
    """(bound AF_UNIX datagram socket, NOTIFY_SOCKET value)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"agentd-test-{uuid.uuid4().hex}"
        s.bind("\0" + name)
        return s, "@" + name
    path = str(tmp_path / "notify.sock")
    if len(path) > 100:  # sun_path is 108 bytes
        path = os.path.join(tempfile.mkdtemp(prefix="agentd-"), "notify.sock")
    s.bind(path)
    return s, path


def receive_states(sock, want, timeout=5.0):
    """Datagrams until one carries the assignment want; all assignments seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while want not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        seen += data.decode().split("\n")
    return seen


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_sd_notify_ready_and_stopping(daemon_factory, tmp_path, abstract):
    sock, name = notify_listener(tmp_path, abstract)
    with sock:
        d = daemon_factory(env={"NOTIFY_SOCKET": name})
        seen = receive_states(sock, "READY=1")
        assert "READY=1" in seen, (seen, d.stderr)
        assert "STOPPING=1" not in seen
        d.assert_serving()
        d.send_signal(signal.SIGTERM)
        seen = receive_states(sock, "STOPPING=1")
        assert "STOPPING=1" in seen, (seen, d.stderr)
        assert d.wait(10) == 0


def test_unusable_notify_socket_is_not_fatal(daemon_factory, tmp_path):
    d = daemon_factory(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens-here.sock")})
    d.assert_serving()
