"""Helpers for the POST /api/chat tests (test_chat*.py, test_key_isolation.py).

A test starts a MockAnthropic (tests/mock) with a few scripted replies and a daemon
(conftest.Daemon, through daemon_factory) pointed at it, posts to /api/chat and looks
at three things: the reply (JSON or SSE events), what the mock was sent
(mock.requests[i]["body"]) and what is left on the host afterwards. Every test ends
with finish(): the mock saw only valid requests, the daemon still answers, its log holds
neither the API key nor a sanitizer report.

The fixtures here (mock, chatd) are used by importing them into a test module:
    from chat_util import chatd, mock  # noqa: F401  (pytest fixtures)
"""

import http.client
import json
import math
import os
import secrets
import sys
import threading
import time

import pytest

import sandbox_util as su
from conftest import REPO, assert_no_sanitizer_report, poll

sys.path.insert(0, str(REPO / "tests" / "mock"))
from anthropic_server import MockAnthropic  # noqa: E402

# A distinctive key per test run, so that finding it anywhere means it leaked.
KEY = "sk-ant-api03-chat" + secrets.token_hex(20)
MODEL = "claude-test"
OTHER_MODEL = "claude-other"
MODELS = [MODEL, OTHER_MODEL]

CHAT_TIMEOUT = 90            # one run: sandbox + model calls + tools (ASan builds are slower)
# Sandboxes of the chat tests run under host uids of their own, so that a process
# left behind is found by its uid whatever its command line. AGENTD_TEST_UID_SHIFT moves
# the range, so that two test runs on one host (two work trees) do not see each other's.
UID_BASE, UID_COUNT = 960000 + int(os.environ.get("AGENTD_TEST_UID_SHIFT", "0")), 1000

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                "cache_read_input_tokens")
PRICE_ENV = {"input_tokens": "AGENTD_PRICE_INPUT", "output_tokens": "AGENTD_PRICE_OUTPUT",
             "cache_creation_input_tokens": "AGENTD_PRICE_CACHE_WRITE",
             "cache_read_input_tokens": "AGENTD_PRICE_CACHE_READ"}
DEFAULT_PRICES = {"input_tokens": 3.0, "output_tokens": 15.0,
                  "cache_creation_input_tokens": 3.75, "cache_read_input_tokens": 0.3}
DEFAULT_PRICE_WRITE_1H = 6.0      # anthropic.price_cache_write_1h
TERMINAL_EVENTS = ("done", "error")
UNICODE_SAMPLE = "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001F389"     # héllo wörld ✓ 日本語 🎉


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def mock():
    """A strict Messages API server that knows KEY and MODELS; scripted replies only."""
    with MockAnthropic(api_key=KEY, models=MODELS) as m:
        yield m


@pytest.fixture
def chatd(daemon_factory, mock):
    """A daemon with the default chat settings, talking to mock."""
    return start_chat_daemon(daemon_factory, mock)


def chat_env(mock, key=KEY, **extra):
    """The daemon's environment: the mock as the API, KEY, MODEL; extra as given
    (values str()-ed; None drops a variable, e.g. ANTHROPIC_API_KEY=None)."""
    # no warm pool unless a test asks: its sandboxes would count as left behind
    env = {"ANTHROPIC_BASE_URL": mock.url, "AGENTD_MODEL": MODEL, "AGENTD_API_MAX_RETRIES": "2",
           "AGENTD_POOL_SIZE": "0"}
    if key is not None:
        env["ANTHROPIC_API_KEY"] = key
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def chat_settings(settings=None):
    """The settings file: sandboxes under UID_BASE, plus settings."""
    out = {"sandbox": {"uid_base": UID_BASE, "uid_count": UID_COUNT}}
    for k, v in (settings or {}).items():
        out[k] = v
    return out


def start_chat_daemon(daemon_factory, mock, settings=None, key=KEY, **env):
    """A started daemon whose API is mock: start_chat_daemon(f, mock, AGENTD_MAX_MODEL_CALLS=2)."""
    return daemon_factory(settings=chat_settings(settings), env=chat_env(mock, key=key, **env))


def wait_pool_ready(d, n, timeout=su.HOST_WAIT):
    """The warm pool as /api/health shows it, once n of its sandboxes are ready (or at
    the timeout: the caller's assertion says what it found)."""
    deadline = time.monotonic() + timeout
    while True:
        pool = d.get("/api/health").json()["sessions"]["pool"]
        if pool["ready"] >= n or time.monotonic() > deadline:
            return pool
        time.sleep(0.05)


def finish(d, mock, key=KEY):
    """The end of every chat test: the mock saw only valid requests, the daemon is up
    and answering, and its log shows neither the key nor a sanitizer report."""
    mock.assert_clean()
    d.assert_serving()
    log = d.stderr
    assert_no_sanitizer_report(log)
    if key:
        assert key not in log, "the API key appears in the daemon's log"


# --------------------------------------------------------------------------- scripted replies

def tool_use(name, input, id=None):
    block = {"type": "tool_use", "name": name, "input": input}
    if id is not None:
        block["id"] = id
    return block


def bash(command, id=None):
    return tool_use("bash", {"command": command}, id)


def editor(id=None, **input):
    return tool_use("str_replace_based_edit_tool", input, id)


def calls(*blocks, **extra):
    """A scripted reply that asks for these tool calls (a list of tool_use blocks)."""
    return {"content": list(blocks), **extra}


# --------------------------------------------------------------------------- JSON mode

def post_chat(d, body, headers=None, timeout=CHAT_TIMEOUT):
    """POST /api/chat with body (a dict, or str/bytes sent as is); a conftest.Response."""
    return d.post_json("/api/chat", body, headers=headers, timeout=timeout)


def chat_ok(d, body, headers=None, timeout=CHAT_TIMEOUT):
    """A run that must succeed: the checked JSON reply. body may be the message alone."""
    if isinstance(body, str):
        body = {"message": body}
    r = post_chat(d, body, headers=headers, timeout=timeout)
    assert r.status == 200, f"{r}\nlog tail:\n{log_tail(d)}"
    assert r.header("Content-Type", "").startswith("application/json"), r
    doc = r.json()
    check_reply(doc)
    return doc


def check_reply(doc):
    """The shape of a successful run's JSON reply (also the payload of SSE `done`)."""
    assert isinstance(doc, dict), doc
    for field, kind in (("session_id", str), ("reply", str), ("stop_reason", str), ("model_calls", int),
                        ("tool_calls", list), ("usage", dict), ("cost_usd", (int, float)),
                        ("duration_ms", (int, float))):
        assert isinstance(doc.get(field), kind) and not isinstance(doc.get(field), bool), \
            f"reply field {field!r} missing or not {kind}: {doc}"
    assert doc["session_id"], doc
    assert doc["model_calls"] >= 1 and doc["cost_usd"] >= 0 and doc["duration_ms"] >= 0, doc
    for f in USAGE_FIELDS:
        v = doc["usage"].get(f)
        assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"usage.{f}: {doc['usage']}"
    for c in doc["tool_calls"]:
        for field, kind in (("id", str), ("name", str), ("input", dict), ("output", str),
                            ("is_error", bool), ("duration_ms", (int, float))):
            assert isinstance(c.get(field), kind), f"tool_calls[].{field} missing or not {kind}: {c}"
    return doc


def interrupted_turn(d, sid, running, message="go"):
    """The response to message sent to session sid, interrupted (202) once a process
    whose command line holds running is there; fails when the turn goes on after it."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", d.post_json(
        f"/api/sessions/{sid}/messages", {"message": message}, timeout=CHAT_TIMEOUT)))
    t.start()
    assert su.wait_for_process(running)
    r = d.request("POST", f"/api/sessions/{sid}/interrupt")
    assert r.status == 202, r
    t.join(CHAT_TIMEOUT)                 # well before the command would have ended
    assert not t.is_alive(), "the turn went on after the interrupt"
    return out["r"]


def log_tail(d, n=40):
    return "\n".join(d.lines[-n:])


def error_is_a_sentence(err):
    """A message for a person: words, not a code."""
    msg = err["message"]
    assert len(msg) >= 15 and " " in msg.strip(), f"not a sentence for a person: {err}"


# --------------------------------------------------------------------------- what the mock saw

def messages(mock, i):
    return mock.requests[i]["body"]["messages"]


def blocks_of(message):
    c = message["content"]
    return [{"type": "text", "text": c}] if isinstance(c, str) else c


def text_of(message):
    """The text blocks of a message, joined."""
    return "".join(b.get("text", "") for b in blocks_of(message) if b.get("type") == "text")


def result_text(block):
    """The text of a tool_result block's content (a string or text blocks)."""
    c = block.get("content")
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    return "".join(b.get("text", "") for b in c if b.get("type") == "text")


def tool_results(mock, i):
    """The tool_result blocks that request i (i >= 1) sent: its last user message's."""
    last = messages(mock, i)[-1]
    assert last["role"] == "user", last
    return [b for b in blocks_of(last) if b.get("type") == "tool_result"]


def tool_uses(mock, i):
    """The tool_use blocks of the assistant message that request i passed back."""
    msgs = messages(mock, i)
    assert len(msgs) >= 2 and msgs[-2]["role"] == "assistant", msgs
    return [b for b in blocks_of(msgs[-2]) if b.get("type") == "tool_use"]


def only_result(mock, i):
    """The text of the one tool_result block of request i, and whether it is an error."""
    res = tool_results(mock, i)
    assert len(res) == 1, res
    return result_text(res[0]), bool(res[0].get("is_error", False))


def system_text(body):
    s = body.get("system")
    if s is None:
        return None
    if isinstance(s, str):
        return s
    return "".join(b.get("text", "") for b in s)


# --------------------------------------------------------------------------- usage and cost

def mock_usage(mock, indices=None):
    """The counters the mock reported, summed over its requests (or indices), as agentd
    reports them: the four, and the cache writes by lifetime (the 1-hour ones as the
    API's breakdown says, the rest 5-minute ones)."""
    recs = [mock.requests[i] for i in indices] if indices is not None else mock.requests
    usages = [r.get("usage") or {} for r in recs]
    total = {f: sum(u.get(f, 0) for u in usages) for f in USAGE_FIELDS}
    hour = sum((u.get("cache_creation") or {}).get("ephemeral_1h_input_tokens", 0) for u in usages)
    total["cache_creation"] = {"ephemeral_5m_input_tokens": total["cache_creation_input_tokens"] - hour,
                               "ephemeral_1h_input_tokens": hour}
    return total


def expected_cost(usage, prices=None):
    prices = prices or DEFAULT_PRICES
    hour = (usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens", 0)
    return (sum(usage[f] * prices[f] for f in USAGE_FIELDS) +
            hour * (prices.get("cache_write_1h", DEFAULT_PRICE_WRITE_1H) - prices["cache_creation_input_tokens"])) / 1e6


def assert_cost(got, usage, prices=None):
    want = expected_cost(usage, prices)
    assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), \
        f"cost_usd {got!r}, want {want!r} for {usage} at {prices or DEFAULT_PRICES}"


# --------------------------------------------------------------------------- SSE

class Event:
    def __init__(self, id, event, data, t):
        self.id, self.event, self.data, self.t = id, event, data, t

    def __repr__(self):
        return f"<{self.id} {self.event} {json.dumps(self.data)[:200]}>"


def parse_sse_lines(lines):
    """SSE lines (text, without newline) -> [(id, event, data text)]; comments skipped."""
    out, fields = [], {"id": None, "event": "message", "data": []}
    for line in lines:
        if line == "":
            if fields["data"]:
                out.append((fields["id"], fields["event"], "\n".join(fields["data"])))
            fields = {"id": None, "event": "message", "data": []}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            fields["data"].append(value)
        elif name in ("id", "event"):
            fields[name] = value
    return out


class Stream:
    """The result of an SSE request: status, headers, events, the raw body."""

    def __init__(self, status, headers, events, raw, closed_early):
        self.status, self.headers, self.events, self.raw = status, headers, events, raw
        self.closed_early = closed_early

    def of(self, kind):
        return [e for e in self.events if e.event == kind]

    @property
    def names(self):
        return [e.event for e in self.events]

    @property
    def text(self):
        return "".join(e.data["text"] for e in self.of("text"))

    @property
    def last(self):
        return self.events[-1] if self.events else None

    def __repr__(self):
        return f"<Stream {self.status} {self.names}>"


def stream_chat(d, body, headers=None, stop=None, timeout=CHAT_TIMEOUT, path="/api/chat", method="POST",
                opened=None):
    """POST /api/chat (or method path) and read the SSE stream event by event until it
    ends, or until stop(event) is true (then the connection is closed: a client going
    away). body None: no body (GET .../events). opened(): called once the response's
    headers are in (the daemon has answered: a reader of .../events is registered)."""
    if isinstance(body, str):
        body = {"message": body, "stream": True}
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", "Content-Length": str(len(data))} if body is not None else {}
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(d.host, d.port, timeout=timeout)
    events, raw, closed_early = [], [], False
    try:
        conn.request(method, path, body=data if body is not None else None, headers=hdrs)
        r = conn.getresponse()
        if opened is not None:
            opened()
        if not r.headers.get("Content-Type", "").startswith("text/event-stream"):
            return Stream(r.status, r.headers, [], r.read(), False)
        pending = []
        while True:
            line = r.readline()
            if not line:
                break
            raw.append(line)
            text = line.decode("utf-8").rstrip("\r\n")
            pending.append(text)
            if text != "":
                continue
            for id_, name, payload in parse_sse_lines(pending):
                try:
                    obj = json.loads(payload)
                except ValueError:
                    raise AssertionError(f"SSE event {name!r} data is not JSON: {payload!r}") from None
                ev = Event(id_, name, obj, time.monotonic())
                events.append(ev)
                if stop is not None and stop(ev):
                    closed_early = True
            pending = []
            if closed_early:
                break
        return Stream(r.status, r.headers, events, b"".join(raw), closed_early)
    finally:
        conn.close()


def read_events(d, sid, until, last_id=None):
    """GET /api/sessions/{sid}/events (after last_id) until the event with id `until`."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else None
    got = []

    def read():
        got.append(stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET", headers=headers,
                               stop=lambda e: int(e.id) >= until))
    t = threading.Thread(target=read)
    t.start()
    t.join(CHAT_TIMEOUT)
    assert got and not t.is_alive(), "the event stream did not bring the events it should have"
    return got[0].events


def check_stream(s):
    """A finished SSE stream: 200 text/event-stream, `session` first, integer ids that
    grow, exactly one terminal event (done or error) and it is the last. Returns the
    terminal event."""
    assert s.status == 200, s
    assert s.headers.get("Content-Type", "").startswith("text/event-stream"), s.headers
    assert s.events, f"no events; raw: {s.raw[:500]!r}"
    assert s.events[0].event == "session", s.names
    assert isinstance(s.events[0].data.get("session_id"), str) and s.events[0].data["session_id"], s.events[0]
    ids = []
    for e in s.events:
        assert e.id is not None and e.id.isdigit(), f"event without an integer id: {e}"
        ids.append(int(e.id))
    assert ids == sorted(ids) and len(set(ids)) == len(ids), f"ids do not grow: {ids}"
    terminal = [e for e in s.events if e.event in TERMINAL_EVENTS]
    assert len(terminal) == 1, f"want exactly one done/error: {s.names}"
    assert s.events[-1] is terminal[0], f"events after {terminal[0].event}: {s.names}"
    return terminal[0]


def check_stream_done(s):
    """A stream that ended in `done`: its payload, checked like a JSON reply, whose
    session_id is the `session` event's and whose reply is the text deltas joined."""
    end = check_stream(s)
    assert end.event == "done", f"ended with {end}"
    doc = check_reply(end.data)
    assert doc["session_id"] == s.events[0].data["session_id"], (doc, s.events[0])
    assert s.text == doc["reply"], f"text deltas {s.text!r} != reply {doc['reply']!r}"
    return doc


def check_stream_error(s, error_type=None):
    end = check_stream(s)
    assert end.event == "error", f"ended with {end}"
    err = end.data.get("error")
    assert isinstance(err, dict) and isinstance(err.get("type"), str) and isinstance(err.get("message"), str), end
    if error_type is not None:
        assert err["type"] == error_type, end
    error_is_a_sentence(err)
    return err


# --------------------------------------------------------------------------- the host's view

def ppid_map():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        out[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def descendants(pid):
    """Every process below pid (not pid itself)."""
    kids = {}
    for p, pp in ppid_map().items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pid_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def sandbox_processes(daemon_pid):
    """Processes under the daemon in another pid namespace than ours: the sandboxes'."""
    ours = pid_ns(os.getpid())
    return [p for p in descendants(daemon_pid) if pid_ns(p) not in (None, ours)]


class HostState:
    """What the host looks like before the runs, to compare with afterwards.

    Other test runs may share the host (other work trees): their sandboxes run under
    other uids (AGENTD_TEST_UID_SHIFT) and under other daemons, and a new cgroup counts
    as ours unless the process that made it (agentd-<pid>-<n>) lives and is not one of
    our daemon's."""

    def __init__(self, d):
        self.d = d
        self.cgroups = su.agentd_cgroups()
        self.mounts = su.mount_table(str(d.workdir))
        self.loops = su.loop_devices(str(d.workdir))
        self.uid_procs = su.processes_with_uid(UID_BASE, UID_BASE + UID_COUNT)
        self.tree = set(descendants(d.proc.pid))

    def _new_cgroups(self):
        ours = {self.d.proc.pid, *descendants(self.d.proc.pid)}
        return sorted(c for c in su.agentd_cgroups() - self.cgroups
                      if su.creator_pid(c) in ours or not os.path.exists(f"/proc/{su.creator_pid(c)}"))

    def leftovers(self, marker=None):
        """What is there now and was not before (empty when the host is as it was)."""
        out = {}
        sbx = sandbox_processes(self.d.proc.pid)
        if sbx:
            out["sandbox processes"] = {p: _cmdline(p) for p in sbx}
        uid = {p: v for p, v in su.processes_with_uid(UID_BASE, UID_BASE + UID_COUNT).items()
               if p not in self.uid_procs}
        if uid:
            out["processes under the sandbox uids"] = uid
        extra = set(descendants(self.d.proc.pid)) - self.tree
        if extra:
            out["new processes under the daemon"] = {p: _cmdline(p) for p in extra}
        cg = self._new_cgroups()
        if cg:
            out["cgroups"] = cg
        mounts = su.mount_table(str(self.d.workdir))
        if mounts != self.mounts:
            before, now = set(self.mounts.splitlines()), set(mounts.splitlines())
            out["mounts"] = {"new": sorted(now - before), "gone": sorted(before - now)}
        loops = {k: v for k, v in su.loop_devices(str(self.d.workdir)).items() if k not in self.loops}
        if loops:
            out["loop devices"] = loops
        # a session's folder outlives it only as a saved hybrid session (session.json)
        sessions = os.path.join(self.d.workdir, "state", "sessions")
        folders = sorted(n for n in (os.listdir(sessions) if os.path.isdir(sessions) else [])
                         if not os.path.exists(os.path.join(sessions, n, "session.json")))
        if folders:
            out["session folders"] = folders
        if marker:
            m = su.processes_with(marker)
            if m:
                out["processes with the marker"] = m
        return out

    def assert_clean(self, marker=None, timeout=su.HOST_WAIT):
        """Nothing left (waiting up to timeout for teardown to finish)."""
        left = poll(lambda: not self.leftovers(marker), timeout, interval=0.1)
        assert left, f"left behind after the runs: {self.leftovers(marker)}"


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return "?"
