"""Shared helpers for agentd's integration tests.

Every test starts the real binary (AGENTD_BIN, default: ./agentd at the top of the
repository) with a settings file in a temporary directory, a clean environment and
"listen": "127.0.0.1:0", learns the port from the "listening on http://HOST:PORT/" log
line and talks HTTP to it. stderr (the log) is captured by a background thread so that
tests can wait for and assert on log lines. At teardown a daemon still running is
stopped with SIGTERM and must exit 0; every run, started or not, must leave no
sanitizer report (ASan, UBSan, LeakSanitizer) on stderr.
"""

import contextlib
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
AGENTD_BIN = os.environ.get("AGENTD_BIN") or str(REPO / "agentd")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
# and what agentd logs when its own state machine is broken (src/session/session_state.c)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "no transition from")
# Passed through to the daemon when set, so that a sanitizer build can be tuned.
PASSTHROUGH_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH")
LISTENING_RE = re.compile(r"listening on http://(\[[0-9a-fA-F:.]+\]|[^/:\s]+):(\d+)/")
# Signals that only a bug sends a process (nothing in the tests sends them to agentd).
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE)
# How much of a daemon's log a failed test's report shows.
LOG_TAIL_LINES = 150
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")


# --------------------------------------------------------------------------- helpers

def clean_env(extra=None):
    """A minimal environment for the daemon: PATH, sanitizer knobs, and extra."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    for k in PASSTHROUGH_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra or {})
    return env


def assert_no_sanitizer_report(stderr_text):
    for marker in SANITIZER_MARKERS:
        assert marker not in stderr_text, f"sanitizer report ({marker!r}) on stderr:\n{stderr_text}"


def deep_merge(base, overrides):
    """Merge overrides into base (both dicts). Keys may be dotted ("http.threads")."""
    for key, value in overrides.items():
        node = base
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            deep_merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return base


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def poll(predicate, timeout, interval=0.02):
    """predicate() until it returns something truthy (returned) or timeout (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def run_agentd(args, env=None, cwd=None, timeout=20):
    """Run agentd to completion (CLI use): CompletedProcess with text stdout/stderr."""
    p = subprocess.run([AGENTD_BIN, *args], env=clean_env(env), cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    p.stdout = p.stdout.decode("utf-8", "backslashreplace")
    p.stderr = p.stderr.decode("utf-8", "backslashreplace")
    assert_no_sanitizer_report(p.stderr)
    return p


def base_settings(workdir, static_dir):
    return {
        "listen": "127.0.0.1:0",
        "state_dir": str(workdir / "state"),
        "static_dir": str(static_dir),
        "http": {"threads": 2, "shutdown_timeout_s": 5},
    }


def write_config(workdir, settings, name="agentd.json"):
    path = pathlib.Path(workdir) / name
    path.write_text(json.dumps(settings, indent=2))
    return path


def make_static(static_dir):
    """A small static tree: the page, one file per MIME type, a subdirectory."""
    static_dir = pathlib.Path(static_dir)
    (static_dir / "sub").mkdir(parents=True, exist_ok=True)
    (static_dir / "index.html").write_text("<!doctype html><title>agentd test</title><p>INDEX-PAGE</p>\n")
    (static_dir / "sub" / "index.html").write_text("<p>SUB-INDEX</p>\n")
    return static_dir


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError(f"response body is not valid UTF-8, so not JSON ({e}): {self.body!r}")
        return json.loads(text)

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('Content-Type')} {self.body[:300]!r}>"


def read_response(sock, method="GET", timeout=5.0):
    """One HTTP response from a connected socket (http.client does the framing)."""
    sock.settimeout(timeout)
    r = http.client.HTTPResponse(sock, method=method)
    r.begin()
    body = r.read()
    return Response(r.status, r.reason, r.headers, body)


# --------------------------------------------------------------------------- the daemon

class Daemon:
    """One agentd process: start, talk HTTP, watch the log, stop."""

    def __init__(self, workdir, settings=None, env=None, args=None, static_dir=None, prefix=None):
        self.prefix = list(prefix or [])      # e.g. setpriv, to run as another user
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if static_dir is None:
            static_dir = make_static(self.workdir / "static")
        self.static_dir = pathlib.Path(static_dir)
        self.settings = deep_merge(base_settings(self.workdir, self.static_dir), settings or {})
        self.config_path = write_config(self.workdir, self.settings)
        self.env = env or {}
        self.args = list(args or [])
        self.proc = None
        self.host = None
        self.port = None
        self.returncode = None
        self._lines = []
        self._raw_lines = []
        self._cond = threading.Condition()
        self._reader = None

    # -- process

    def start(self, timeout=START_TIMEOUT):
        argv = [*self.prefix, AGENTD_BIN, "--config", str(self.config_path), *self.args]
        self.proc = subprocess.Popen(argv, env=clean_env(self.env), cwd=self.workdir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        line = self.wait_for_log(LISTENING_RE, timeout=timeout)
        if line is None:
            self.kill()
            raise AssertionError(f"agentd did not report listening within {timeout}s "
                                 f"(exit {self.proc.poll()}); stderr:\n{self.stderr}")
        m = LISTENING_RE.search(line)
        self.host = m.group(1).strip("[]")
        self.port = int(m.group(2))
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            text = raw.decode("utf-8", "backslashreplace").rstrip("\n")
            with self._cond:
                self._raw_lines.append(raw.rstrip(b"\n"))
                self._lines.append(text)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Exit status once the process has exited (TimeoutExpired otherwise)."""
        self.returncode = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.alive():
            self.send_signal(sig)
        return self.wait(timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)
            if self._reader is not None:
                self._reader.join(timeout=5)

    def assert_clean_exit(self):
        """Stop if running; exit status 0 and no sanitizer report."""
        try:
            rc = self.stop()
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"agentd did not exit within {STOP_TIMEOUT}s of SIGTERM; "
                                 f"stderr:\n{self.stderr}")
        assert_no_sanitizer_report(self.stderr)
        assert rc == 0, f"agentd exited with {rc}; stderr:\n{self.stderr}"

    # -- the log

    @property
    def lines(self):
        with self._cond:
            return list(self._lines)

    @property
    def raw_lines(self):
        """The log lines as the bytes written."""
        with self._cond:
            return list(self._raw_lines)

    @property
    def stderr(self):
        return "\n".join(self.lines)

    def log_tail(self, n=LOG_TAIL_LINES):
        lines = self.lines
        skipped = f"[{len(lines) - n} lines before these]\n" if len(lines) > n else ""
        return skipped + "\n".join(lines[-n:])

    def describe_exit(self):
        """"running", "exit 0" or "signal SIGSEGV", as it is now."""
        rc = None if self.proc is None else self.proc.poll()
        if self.proc is None:
            return "not started"
        if rc is None:
            return "running"
        return f"exit {rc}" if rc >= 0 else f"signal {signal.Signals(-rc).name}"

    def wait_for_log(self, pattern, timeout=5.0, start=0):
        """The first log line (from index start) matching pattern (regex or callable)."""
        if isinstance(pattern, str):
            pattern = re.compile(pattern)
        match = pattern.search if hasattr(pattern, "search") else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[start:]:
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                finished = self.proc.poll() is not None and not self._reader.is_alive()
                if left <= 0 or finished:
                    return None
                self._cond.wait(min(left, 0.1))

    def mark(self):
        """Index of the next log line, for wait_for_log(start=...)."""
        with self._cond:
            return len(self._lines)

    def wait_access(self, path, timeout=5.0, start=0):
        """The access record for path (the raw request target), waiting for it."""
        found = {}

        def pred(line):
            rec = parse_access_line(line)
            if rec is not None and rec["path"] == path:
                found["rec"] = rec
                return True
            return False
        return found["rec"] if self.wait_for_log(pred, timeout=timeout, start=start) else None

    # -- HTTP

    def connect(self, timeout=5.0):
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=5.0):
        """One request over a new connection; the path is sent verbatim."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            if isinstance(body, str):
                body = body.encode("utf-8")
            if body is not None and not any(k.lower() == "content-length" for k in hdrs):
                hdrs["Content-Length"] = str(len(body))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            r = conn.getresponse()
            return Response(r.status, r.reason, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, headers=None, **kw):
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return self.request("POST", path, body=body, headers=hdrs, **kw)

    def raw(self, data, method="GET", timeout=5.0):
        """Send raw bytes (a request the client libraries would refuse to write) and
        read one response. Sending happens in a thread so that a server that answers
        and closes early does not leave the response unread behind a send error."""
        sock = self.connect(timeout=timeout)
        errors = []

        def send():
            try:
                sock.sendall(data)
            except OSError as e:  # the server may close before taking everything
                errors.append(e)
        t = threading.Thread(target=send, daemon=True)
        t.start()
        try:
            return read_response(sock, method=method, timeout=timeout)
        finally:
            t.join(timeout=timeout)
            sock.close()

    def health(self):
        r = self.get("/api/health")
        assert r.status == 200, r
        return r.json()

    def assert_serving(self):
        """The daemon is still up and answering."""
        assert self.alive(), f"agentd exited ({self.proc.poll()}); stderr:\n{self.stderr}"
        r = self.get("/api/health")
        assert r.status == 200, r


def parse_access_line(line):
    """An access log record from a text or JSON log line, else None."""
    if line.startswith("{"):
        try:
            rec = json.loads(line)
        except ValueError:
            return None
        return rec if isinstance(rec, dict) and rec.get("type") == "access" else None
    m = re.match(TIMESTAMP_RE.pattern + r"access (\S+) (\S+) (\d{3}) (\d+) ([\d.]+)ms(?: (\S+))?((?: \w+=\S+)*)$",
                 line)
    if m is None:
        return None
    rec = {"method": m.group(1), "path": m.group(2), "status": int(m.group(3)),
           "bytes": int(m.group(4)), "duration_ms": float(m.group(5)), "remote": m.group(6)}
    # then " token=NAME session=ID" when the request had them
    rec.update(f.split("=", 1) for f in m.group(7).split())
    return rec


def unmount_under(root):
    """Detach every mount below root (a killed agentd's workspaces)."""
    with open("/proc/self/mountinfo") as f:
        points = [ln.split()[4] for ln in f]
    for p in sorted((p for p in points if p.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


@contextlib.contextmanager
def running_daemon(workdir, started=None, **kw):
    """A started Daemon; at the end it must stop cleanly (unless the test stopped it,
    in which case only the sanitizer check applies, and that it did not crash). Each
    daemon is added to the list started, if given, for the failure report."""
    d = Daemon(workdir, **kw)
    if started is not None:
        started.append(d)
    try:
        d.start()
        yield d
    except BaseException:
        if d.proc is not None:
            d.kill()
        unmount_under(str(d.workdir))
        raise
    try:
        if d.alive():
            d.assert_clean_exit()
        else:
            d.kill()  # reap, join the reader
            assert_no_sanitizer_report(d.stderr)
            if -d.proc.returncode in CRASH_SIGNALS:
                pytest.fail(f"agentd died of {d.describe_exit()}; its log ends:\n{d.log_tail()}", pytrace=False)
    finally:
        # what a killed agentd left mounted (the next start would sweep it), so that
        # the test's directory can be removed
        unmount_under(str(d.workdir))


def assert_json_error(resp, status, error_type=None, message_contains=()):
    """resp is status with a body {"error": {"type": str, "message": str}}."""
    assert resp.status == status, resp
    ctype = resp.header("Content-Type", "")
    assert ctype.startswith("application/json"), resp
    doc = resp.json()
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
    err = doc["error"]
    assert isinstance(err.get("type"), str) and err["type"], doc
    assert isinstance(err.get("message"), str) and len(err["message"]) >= 8, doc
    if error_type is not None:
        assert err["type"] == error_type, doc
    if isinstance(message_contains, str):
        message_contains = (message_contains,)
    for text in message_contains:
        assert text.lower() in err["message"].lower(), doc
    return err


# --------------------------------------------------------------------------- fixtures

@contextlib.contextmanager
def _daemon_factory(base_dir, started):
    stack = contextlib.ExitStack()
    counter = [0]

    def make(**kw):
        counter[0] += 1
        workdir = kw.pop("workdir", None) or pathlib.Path(base_dir) / f"d{counter[0]}"
        return stack.enter_context(running_daemon(workdir, started=started, **kw))
    with stack:
        yield make


@pytest.fixture
def daemon_factory(tmp_path, request):
    """make(**kw) -> started Daemon (see Daemon for kw) in its own directory under
    tmp_path; each is checked for a clean stop at teardown, and a failed test's report
    ends with the state and the log of each (pytest_runtest_makereport)."""
    request.node.agentd_daemons = []
    with _daemon_factory(tmp_path, request.node.agentd_daemons) as make:
        yield make


@pytest.fixture(scope="module")
def module_daemon_factory(tmp_path_factory, request):
    """daemon_factory for daemons shared by the tests of a module."""
    started = []
    request.node.agentd_daemons = started
    with _daemon_factory(tmp_path_factory.mktemp("daemons"), started) as make:
        yield make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report says, for each daemon it used, whether it was still up
    (or how it ended) and how its log ends: a failure that happens once in a
    hundred runs is explained by the run in which it happened."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    daemons = list(getattr(item, "agentd_daemons", []))
    if item.parent is not None:
        daemons += [d for d in getattr(item.parent, "agentd_daemons", []) if d not in daemons]
    for d in daemons:
        rep.sections.append((f"agentd in {d.workdir} ({d.describe_exit()})", d.log_tail()))


@pytest.fixture
def daemon(daemon_factory):
    """A daemon with the default test settings."""
    return daemon_factory()
