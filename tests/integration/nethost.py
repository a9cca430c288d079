"""Test hosts for the egress tests: a network namespace joined to the host's by a veth
pair, with an HTTP server in it (nethost_server.py: ports 80 and 443, plain HTTP; its
endpoints and request log are described there).

Every address is in 203.0.113.0/24 (TEST-NET-3), and the namespace has no route but
its own /30. Slot k (48..63, the /24's last quarter) owns 203.0.113.4k/30: the host
side is 4k+1, the test host 4k+2. A slot that holds an address this machine's resolver
gives for the registries it installs from is never taken: on the machines this project
is tested on, registry.npmjs.org and deb.debian.org answer at an address of this /24
(203.0.113.80 when this was written), and a test host there would cut them off. For the
same reason nothing is routed for the rest of the /24. A slot is taken by an
exclusive flock on /run/agentd-nethost/slot-<k>.lock, held as long as the test host
lives, so that test runs side by side (make test's two flavours) never share one; the
kernel lets go of the lock of a process that dies, and the next one to take the slot
removes what the dead one left in it.

The fixtures are used by importing them into a test module:
    from nethost import nethost  # noqa: F401  (a pytest fixture)
        nethost: one test host for one test; module_nethost: one for a module's tests.
net_host() is the same as a context manager, for a test that wants several.

A test host is root's only: without root the fixtures skip. Anything else that keeps
one from being made (no `ip`, a command that fails) fails the test.

The namespace is unnamed: made by `unshare --net` for a holder process whose stdin is a
pipe this process holds, and reached through /proc/<holder>/ns/net (nsenter, ip's
netns PID). Nothing is mounted (`ip netns add` would bind-mount /run/netns and the
namespace's file, which the sandbox tests running beside these count as mounts left
behind), and the namespace, with the veth pair, goes with its last process: when the
owner dies, its holder and server read the end of their stdin and exit.

Names carry the owner's pid and the slot: the label agentd-t-<pid>-<k> (what the
server's /hello says), the veth ends agt<pid>-<k>h (host side) and agt<pid>-<k>n
(inside). The first test host of a process first sweeps away the veths of owners that
are dead; sweep() does it on demand.
"""

import contextlib
import fcntl
import ipaddress
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.parse

import pytest

from conftest import poll

SERVER = pathlib.Path(__file__).resolve().with_name("nethost_server.py")
LOCK_DIR = pathlib.Path("/run/agentd-nethost")
NETWORK = ipaddress.IPv4Network("203.0.113.0/24")
SLOTS = range(48, 64)
# names whose addresses no test host may shadow (see above)
OUTSIDE_NAMES = ("registry.npmjs.org", "deb.debian.org", "security.debian.org")
PORTS = (80, 443)
VETH_RE = re.compile(r"^agt(\d+)-(\d+)[hn]$")
LOCK_RE = re.compile(r"^slot-(\d+)\.lock$")
# generous, for a loaded 2-core machine; polls return as soon as their condition holds
READY_TIMEOUT = 60
IP_TIMEOUT = 30
STOP_TIMEOUT = 10


# --------------------------------------------------------------------------- names

def slot_addresses(k):
    """(host side, inside) addresses of slot k."""
    base = NETWORK.network_address + 4 * k
    return str(base + 1), str(base + 2)


def ns_name(pid, k):
    return f"agentd-t-{pid}-{k}"


def veth_names(pid, k):
    """(host side, inside): at most 14 characters, under the kernel's 15."""
    return f"agt{pid}-{k}h", f"agt{pid}-{k}n"


def _ip_path():
    path = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        pytest.fail("nethost: no `ip` command (Debian's iproute2, in the Makefile's DEB_TEST)")
    return path


def ip(*args, check=True):
    """Run `ip ARGS`: CompletedProcess with text output; AssertionError if check and it fails."""
    p = subprocess.run([_ip_path(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=IP_TIMEOUT)
    if check and p.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def veths():
    """Names of the veth interfaces in the host's (this process's) namespace."""
    out = ip("-j", "link", "show", "type", "veth").stdout
    return sorted(link["ifname"] for link in json.loads(out or "[]"))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# --------------------------------------------------------------------------- slots

def _lock_path(k):
    return LOCK_DIR / f"slot-{k}.lock"


def _try_lock(k):
    """An fd holding slot k's lock, or None when another process holds it."""
    path = _lock_path(k)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # its holder may have removed the file between our open and our lock: the lock
        # counts only on the file that is still at the path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        held = os.fstat(fd)
        if st is not None and (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def release_slot(k, fd):
    """Give slot k back: the lock file goes while still locked, then the lock."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_lock_path(k))
    os.close(fd)


def _outside_addresses():
    """The addresses of OUTSIDE_NAMES as this machine resolves them (none when it cannot)."""
    found = set()
    for name in OUTSIDE_NAMES:
        with contextlib.suppress(OSError):
            found |= {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)}
    return found


def acquire_slot():
    """(k, fd) of a free slot, whose leftovers (of a dead owner) are removed."""
    LOCK_DIR.mkdir(mode=0o755, exist_ok=True)
    taken = _outside_addresses()
    for k in SLOTS:
        if any(a in ipaddress.ip_network(f"{slot_addresses(k)[0]}/30", strict=False) for a in taken):
            continue
        fd = _try_lock(k)
        if fd is not None:
            try:
                _remove_slot(k)
            except BaseException:
                release_slot(k, fd)
                raise
            return k, fd
    pytest.fail(f"nethost: all {len(SLOTS)} slots of {LOCK_DIR} are taken by live test hosts")


# --------------------------------------------------------------------------- cleanup

def _remove(links):
    """Remove the veths named in links, whichever of them exist (a pair goes whole)."""
    present = veths()
    for link in links:
        if link in present:
            ip("link", "del", link, check=False)


def _remove_slot(k):
    """Everything of slot k, whoever made it: for the holder of k's lock only."""
    _remove([v for v in veths() if (m := VETH_RE.match(v)) and int(m.group(2)) == k])


def sweep():
    """Remove the veths whose owner pid is dead, and the lock files of free slots."""
    _remove([v for v in veths() if (m := VETH_RE.match(v)) and not _pid_alive(int(m.group(1)))])
    if LOCK_DIR.is_dir():
        for name in os.listdir(LOCK_DIR):
            m = LOCK_RE.match(name)
            fd = _try_lock(int(m.group(1))) if m else None
            if fd is not None:
                release_slot(int(m.group(1)), fd)


_swept = False


def _sweep_once():
    global _swept
    if not _swept:
        sweep()
        _swept = True


# --------------------------------------------------------------------------- the test host

class NetHost:
    """A test host: .ns (its label), .addr (its address), .host_addr (the host side's),
    .url(path), .requests(); .holder, the process whose namespace it is. Made by
    net_host() or the fixtures."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.pid = os.getpid()
        self.slot = self._lock = self.server = self.holder = self.nspath = None
        self.ns = self.host_if = self.ns_if = self.addr = self.host_addr = None
        self.log_path = self.workdir / "requests.log"
        self.err_path = self.workdir / "server.err"

    @property
    def network(self):
        return ipaddress.IPv4Network(f"{self.host_addr}/30", strict=False)

    def url(self, path="/", port=80, scheme="http"):
        netloc = self.addr if port == 80 else f"{self.addr}:{port}"
        return f"{scheme}://{netloc}{path}"

    def requests(self):
        """The requests that reached the server, oldest first: dicts with method,
        path (the request target as sent), host (the Host header), peer, peer_port,
        port (80 or 443) and version. A request is logged before it is answered."""
        try:
            text = self.log_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_request(self, path, timeout=READY_TIMEOUT):
        """The first logged request whose target's path is path (it may be absolute-form),
        waiting for it; None at the timeout."""
        def find():
            return next((r for r in self.requests() if urllib.parse.urlsplit(r["path"]).path == path), None)
        return poll(find, timeout)

    def exec_args(self, argv):
        """argv run inside the test host's namespace."""
        return ["nsenter", f"--net={self.nspath}", *argv]

    def alive(self):
        """Whether its namespace's holder still runs."""
        return self.holder is not None and self.holder.poll() is None

    def _spawn_holder(self):
        own = os.readlink("/proc/self/ns/net")
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-c", "import sys; sys.stdin.buffer.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.nspath = f"/proc/{self.holder.pid}/ns/net"

        def unshared():
            if self.holder.poll() is not None:
                raise AssertionError(f"nethost: unshare --net exited {self.holder.returncode}: "
                                     f"{self.holder.stderr.read().decode(errors='replace')}")
            with contextlib.suppress(OSError):
                return os.readlink(self.nspath) != own
            return False
        if not poll(unshared, IP_TIMEOUT, interval=0.01):
            raise AssertionError("nethost: the holder did not get a network namespace of its own")

    # -- life

    def start(self):
        self.slot, self._lock = acquire_slot()
        self.ns = ns_name(self.pid, self.slot)
        self.host_if, self.ns_if = veth_names(self.pid, self.slot)
        self.host_addr, self.addr = slot_addresses(self.slot)
        self._spawn_holder()
        ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", str(self.holder.pid))
        ip("addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
        ip("link", "set", self.host_if, "up")
        for args in (("addr", "add", f"{self.addr}/30", "dev", self.ns_if), ("link", "set", self.ns_if, "up"),
                     ("link", "set", "lo", "up")):
            p = subprocess.run(self.exec_args([_ip_path(), *args]), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=IP_TIMEOUT)
            if p.returncode != 0:
                raise AssertionError(f"nethost: ip {' '.join(args)} in the namespace: {p.stderr.strip()}")

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        with open(self.err_path, "wb") as err:
            # its stdin is a pipe we hold: the server ends when we close it or die
            self.server = subprocess.Popen(
                self.exec_args([sys.executable, str(SERVER), "--addr", self.addr, "--name", self.ns,
                                "--log", str(self.log_path)]),
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        if not poll(self._ready, READY_TIMEOUT, interval=0.05):
            raise AssertionError(f"nethost: the server in {self.ns} did not accept on {self.addr} "
                                 f"ports {PORTS} within {READY_TIMEOUT}s (exit {self.server.poll()}); "
                                 f"stderr:\n{self.err_path.read_text(errors='replace')}")
        return self

    def _ready(self):
        if self.server.poll() is not None:
            raise AssertionError(f"nethost: the server in {self.ns} exited {self.server.returncode}; "
                                 f"stderr:\n{self.err_path.read_text(errors='replace')}")
        for port in PORTS:
            try:
                socket.create_connection((self.addr, port), timeout=1).close()
            except OSError:
                return False
        return True

    def close(self):
        """Stop the server and the holder (the namespace goes with them), remove the
        veth, give the slot back; AssertionError if anything is left."""
        for proc in (self.server, self.holder):
            if proc is None:
                continue
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self.holder is not None:
            self.holder.stderr.close()
        if self._lock is None:
            return
        try:
            # the pair goes with the namespace, in the kernel's own time: not waited for
            _remove([self.host_if])
            left = poll(lambda: not ({self.host_if, self.ns_if} & set(veths())), STOP_TIMEOUT)
        finally:
            release_slot(self.slot, self._lock)
            self._lock = None
        assert left, f"nethost: teardown left {self.host_if} behind"


@contextlib.contextmanager
def net_host(workdir=None):
    """A started NetHost, torn down at the end of the with-block however it ends.
    workdir (for the request log) defaults to a temporary directory, removed after."""
    if os.geteuid() != 0:
        pytest.skip("nethost: a test host needs root (network namespaces, veth)")
    _sweep_once()
    own_dir = workdir is None
    if own_dir:
        workdir = tempfile.mkdtemp(prefix="agentd-nethost-")
    host = NetHost(workdir)
    try:
        yield host.start()
    finally:
        try:
            host.close()
        finally:
            if own_dir:
                shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def nethost(tmp_path):
    """A test host for one test (see NetHost)."""
    with net_host(tmp_path / "nethost") as host:
        yield host


@pytest.fixture(scope="module")
def module_nethost(tmp_path_factory):
    """A test host shared by the tests of a module."""
    with net_host(tmp_path_factory.mktemp("nethost")) as host:
        yield host
