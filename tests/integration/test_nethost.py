"""The test hosts of nethost.py: they answer from their namespace, two at once (in one
process or in two) never share an address, a teardown leaves nothing behind even when
the test failed, a dead owner's server dies with it and its leftovers are swept."""

import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import nethost as nh
import sandbox_util as su
from conftest import poll, read_response
from nethost import module_nethost, nethost  # noqa: F401  (pytest fixtures)

WAIT = nh.READY_TIMEOUT


def fetch(host, method, path, port=80, body=None, headers=None):
    """One request to the test host over a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(host.addr, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def process_gone(pid):
    """pid has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def mounts():
    """The host's mounts, but other test runs' session workspaces: they come and go beside
    this test (make test's two flavours run at once)."""
    return sorted(line.split(" ", 4)[4] for line in su.mount_table().splitlines() if line)


def assert_gone(pids, links):
    for pid in pids:
        assert poll(lambda: process_gone(pid), WAIT), f"process {pid} still runs"
    assert poll(lambda: not (set(links) & set(nh.veths())), WAIT), f"veths {set(links) & set(nh.veths())} are still there"


# --------------------------------------------------------------------------- serving

def test_hello_from_the_host_namespace(nethost):
    assert ipaddress.IPv4Address(nethost.addr) in nh.NETWORK
    assert ipaddress.IPv4Address(nethost.host_addr) in nethost.network
    assert ipaddress.IPv4Address(nethost.addr) in nethost.network
    assert nethost.requests() == [], "the readiness check must not count as a request"
    assert nethost.url("/hello") == f"http://{nethost.addr}/hello"

    status, headers, body = fetch(nethost, "GET", "/hello")
    assert status == 200
    assert body == f"hello from {nethost.ns}\n".encode()
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["X-Test-Host"] == nethost.addr

    [rec] = nethost.requests()
    assert rec["method"] == "GET" and rec["path"] == "/hello" and rec["port"] == 80
    assert rec["host"] == nethost.addr
    assert rec["peer"] == nethost.host_addr
    assert nethost.wait_request("/hello", timeout=1) == rec


def test_endpoints(module_nethost):
    h = module_nethost
    status, headers, body = fetch(h, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for part in (b"<title>", b"<h1>", b"<h2>", b"<p>", b"<a href=", b"<script>", b"<style>"):
        assert part in body, part

    status, headers, _ = fetch(h, "GET", "/redirect?to=http://203.0.113.2/hello")
    assert status == 302 and headers["Location"] == "http://203.0.113.2/hello"

    status, headers, body = fetch(h, "GET", "/big?bytes=100003")
    assert status == 200 and len(body) == 100003 and int(headers["Content-Length"]) == 100003
    assert body == (b"0123456789" * 10001)[:100003]

    status, headers, body = fetch(h, "HEAD", "/big?bytes=5")
    assert status == 200 and body == b"" and headers["Content-Length"] == "5"

    status, _, body = fetch(h, "GET", "/slow?s=0.2")
    assert status == 200 and body == b"slow 0.2\n"

    status, headers, body = fetch(h, "POST", "/echo", body=b"ping \x00\xff",
                                  headers={"Content-Type": "application/x-test"})
    assert status == 200 and body == b"ping \x00\xff" and headers["Content-Type"] == "application/x-test"

    for method, path in (("GET", "/nothing-here"), ("POST", "/hello"), ("PUT", "/echo")):
        status, headers, _ = fetch(h, method, path, body=b"x" if method != "GET" else None)
        assert status == 404, (method, path)
        assert headers["X-Test-Host"] == h.addr

    # port 443 is plain HTTP too: what a CONNECT tunnel to :443 would carry
    with socket.create_connection((h.addr, 443), timeout=30) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
        r = read_response(s)
    assert r.status == 200 and r.body == f"hello from {h.ns}\n".encode()

    recs = h.requests()
    assert [(r["method"], r["path"]) for r in recs] == [
        ("GET", "/"), ("GET", "/redirect?to=http://203.0.113.2/hello"), ("GET", "/big?bytes=100003"),
        ("HEAD", "/big?bytes=5"), ("GET", "/slow?s=0.2"), ("POST", "/echo"), ("GET", "/nothing-here"),
        ("POST", "/hello"), ("PUT", "/echo"), ("GET", "/hello")]
    assert recs[-1]["port"] == 443 and recs[-1]["host"] == "example.test:443"
    assert all(r["peer"] == h.host_addr for r in recs)


# --------------------------------------------------------------------------- side by side

CHILD = """
import json, sys
sys.path.insert(0, {dir!r})
import nethost
with nethost.net_host() as h:
    print(json.dumps({{"ns": h.ns, "addr": h.addr, "host_addr": h.host_addr,
                      "links": [h.host_if, h.ns_if], "server": h.server.pid,
                      "holder": h.holder.pid}}), flush=True)
    sys.stdin.read()
"""


def test_two_at_once_never_collide(nethost, module_nethost):
    """Two in one process, a third in another process (as the two flavours of make test
    are): three slots. The other process is then killed: its server dies with it, and
    what it left is swept."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(dir=str(nh.SERVER.parent))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()
        assert line, f"the other process made no test host: {child.communicate(timeout=WAIT)[1]!r}"
        other = json.loads(line)

        hosts = [nethost, module_nethost]
        assert len({h.ns for h in hosts} | {other["ns"]}) == 3
        nets = [h.network for h in hosts] + [ipaddress.IPv4Network(f"{other['host_addr']}/30", strict=False)]
        for i, a in enumerate(nets):
            for b in nets[i + 1:]:
                assert not a.overlaps(b), (a, b)
        for h in hosts:
            assert fetch(h, "GET", "/hello")[2] == f"hello from {h.ns}\n".encode()
        with socket.create_connection((other["addr"], 80), timeout=30) as s:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: other\r\n\r\n")
            assert read_response(s).body == f"hello from {other['ns']}\n".encode()

        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=WAIT)
    # its server and its namespace's holder die with it, and the namespace with them
    nh.sweep()
    assert_gone([other["server"], other["holder"]], other["links"])
    # a live owner's are left alone
    for h in (nethost, module_nethost):
        assert h.alive() and h.host_if in nh.veths()
        assert fetch(h, "GET", "/hello")[0] == 200


# --------------------------------------------------------------------------- cleanup

def test_teardown_leaves_nothing_even_when_the_test_failed():
    before = mounts()
    with pytest.raises(RuntimeError, match="the test failed"):
        with nh.net_host() as h:
            assert fetch(h, "GET", "/hello")[0] == 200
            assert h.alive() and h.host_if in nh.veths()
            # nothing mounted (the sandbox tests beside these would count it as left behind)
            assert mounts() == before
            raise RuntimeError("the test failed")
    assert_gone([h.server.pid, h.holder.pid], [h.host_if, h.ns_if])
    assert mounts() == before
    assert h.server.returncode == 0, "the server should end by itself when its stdin closes"
    lock = nh.LOCK_DIR / f"slot-{h.slot}.lock"
    # the slot is free: its lock file is gone, or is another owner's already
    assert not lock.exists() or lock.read_text().strip() != str(os.getpid())
    assert not h.workdir.exists()


def test_no_slot_shadows_a_registry():
    """The registries this machine installs from may answer at an address of the test
    hosts' /24: no slot that holds one is taken, and nothing is routed for the rest."""
    outside = nh._outside_addresses()
    with nh.net_host() as h:
        assert not any(a in h.network for a in outside), (h.network, outside)
        assert "unreachable" not in nh.ip("route", "show").stdout


def test_sweep_removes_a_dead_owners_veths(nethost):
    """Leftovers of a crashed run, made by hand in a slot this test holds: a veth pair
    that was never moved into a namespace."""
    k, fd = nh.acquire_slot()
    strays = nh.veth_names(dead_pid(), k)
    try:
        nh.ip("link", "add", strays[0], "type", "veth", "peer", "name", strays[1])
        assert set(strays) <= set(nh.veths())
        nh.sweep()
        assert_gone([], strays)
        # the live owner's test host is left alone
        assert nethost.alive() and nethost.host_if in nh.veths()
        assert fetch(nethost, "GET", "/hello")[0] == 200
    finally:
        nh._remove(strays)
        nh.release_slot(k, fd)
