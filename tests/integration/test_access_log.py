"""The access log: one line per request with method, path, status, bytes and duration,
as text or as JSON lines, and no way for a client to forge a line."""

import json

import pytest

from conftest import TIMESTAMP_RE, parse_access_line

FORGED = b"2026-01-01T00:00:00.000Z access GET /forged 200 1 1.000ms 127.0.0.1"
# Request targets a client may send raw; each tries to break out of its log line.
HOSTILE_TARGETS = [
    b"/inject\x1b[2K\x1b[1Gfake",
    b"/inject\x08\x08\x08\x08\x08\x08\x08ok",
    b"/inject\x0b\x0c" + FORGED.replace(b" ", b"\x0b"),
    b'/inject\\n' + FORGED.replace(b" ", b"%20"),
    b'/inject"},{"type":"access","path":"/forged',
    b"/inject\xc2\x85next-line\xe2\x80\xa8ls",
    b"/inject%0d%0a" + FORGED.replace(b" ", b"%20"),
    b"/inject\x7fdel",
    b"/inject\xff\xfe\xc0\xafnot-utf8",
]


@pytest.fixture(scope="module")
def text_log(module_daemon_factory):
    return module_daemon_factory(settings={"log.format": "text"})


@pytest.fixture(scope="module")
def json_log(module_daemon_factory):
    return module_daemon_factory(settings={"log.format": "json"})


def traffic(d, tag):
    """A few requests with distinct paths; [(method, path, status, body length)]."""
    out = []
    for method, path, body in [("GET", f"/api/health?{tag}", None),
                               ("GET", f"/api/nope-{tag}", None),
                               ("GET", f"/?{tag}", None),
                               ("POST", f"/api/chat?{tag}", b'{"message": "hi"}'),
                               ("POST", f"/api/health?{tag}-post", b"")]:
        headers = {"Content-Type": "application/json"} if body else {}
        r = d.request(method, path, body=body, headers=headers)
        out.append((method, path, r.status, len(r.body)))
    return out


def check_records(d, expected, start):
    for method, path, status, nbytes in expected:
        rec = d.wait_access(path, start=start)
        assert rec is not None, f"no access line for {path}:\n{d.stderr}"
        assert rec["method"] == method
        assert rec["status"] == status
        assert rec["bytes"] == nbytes
        assert isinstance(rec["duration_ms"], (int, float)) and 0 <= rec["duration_ms"] < 5000
    # one line per request, not more
    recs = [parse_access_line(line) for line in d.lines[start:]]
    for _, path, _, _ in expected:
        assert sum(1 for r in recs if r and r["path"] == path) == 1, path


def test_text_access_log(text_log):
    start = text_log.mark()
    expected = traffic(text_log, "text1")
    check_records(text_log, expected, start)
    line = text_log.wait_for_log(lambda l: "/api/health?text1" in l, start=start)
    assert TIMESTAMP_RE.match(line), line
    assert "127.0.0.1" in line


def test_json_access_log(json_log):
    start = json_log.mark()
    expected = traffic(json_log, "json1")
    check_records(json_log, expected, start)
    rec = json_log.wait_access("/api/health?json1", start=start)
    assert isinstance(rec["status"], int) and isinstance(rec["bytes"], int)
    assert isinstance(rec["duration_ms"], (int, float))
    assert isinstance(rec["method"], str) and isinstance(rec["path"], str)


def test_json_log_every_line_is_json(json_log):
    json_log.get("/api/health")
    json_log.get("/nope")
    json_log.wait_access("/nope")
    for line in json_log.lines:
        rec = json.loads(line)
        assert isinstance(rec, dict) and "ts" in rec and "level" in rec, line


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_stderr_line_is_a_log_record(daemon_factory, fmt, threads):
    """Nothing but the logger writes to stderr (libmicrohttpd's own messages included),
    so a JSON log stays parseable line by line."""
    d = daemon_factory(settings={"log.format": fmt, "http.threads": threads})
    d.get("/api/health")
    d.get("/nope")
    assert d.wait_access("/nope")
    d.assert_clean_exit()
    for raw in d.raw_lines:
        line = raw.decode("utf-8", "backslashreplace")
        if fmt == "json":
            try:
                rec = json.loads(raw.decode("utf-8"))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line!r}")
            assert isinstance(rec, dict) and "level" in rec, line
        else:
            assert TIMESTAMP_RE.match(line), f"not a log line: {line!r}"


def test_access_log_can_be_turned_off(daemon_factory):
    d = daemon_factory(settings={"log.access": False})
    d.get("/api/health?quiet")
    d.get("/nope?quiet")
    # the start-up lines are there, no access lines: give a late line a moment
    assert d.wait_for_log(lambda l: "quiet" in l, timeout=0.3) is None, d.stderr


def send_hostile(d, target):
    try:
        r = d.raw(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        return r.status
    except (OSError, ValueError, EOFError):  # refusing by closing is fine too
        return None


def test_text_log_cannot_be_forged(text_log):
    start = text_log.mark()
    for t in HOSTILE_TARGETS:
        send_hostile(text_log, t)
    text_log.assert_serving()
    text_log.wait_access("/api/health", start=start)
    for line in text_log.lines[start:]:
        assert TIMESTAMP_RE.match(line), f"a log line not made by the logger: {line!r}"
        assert all(0x20 <= ord(c) < 0x7f for c in line), f"raw control/non-ASCII in log: {line!r}"
        rec = parse_access_line(line)
        assert rec is None or not rec["path"].startswith("/forged"), line


def test_json_log_cannot_be_forged(json_log):
    start = json_log.mark()
    statuses = {t: send_hostile(json_log, t) for t in HOSTILE_TARGETS}
    json_log.assert_serving()
    json_log.wait_access("/api/health", start=start)
    paths = []
    for raw in json_log.raw_lines[start:]:
        # every line is still exactly one JSON document, and JSON is UTF-8 (RFC 8259)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError(f"JSON log line is not valid UTF-8 ({e}): {raw!r}")
        rec = json.loads(line)
        assert isinstance(rec, dict), line
        if rec.get("type") == "access":
            assert not rec["path"].startswith("/forged"), line
            paths.append(rec["path"])
    # a target that got through is logged as it was sent, escaped but not mangled
    for t, status in statuses.items():
        if status is not None and status != 400 and is_utf8(t):
            assert t.decode() in paths, (t, paths)


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
