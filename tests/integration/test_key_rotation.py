"""Rotating the Anthropic API key without losing sessions: agentd reads the key again
from its env file on SIGHUP (`systemctl reload agentd`), and from then on every call
carries the new one: a running session's (its sandbox kept), a new session's, a
suspended hybrid session's once it resumes, and a program's in the sandbox through the
sandbox's API. A call in flight ends with the key it started with. A reload that finds
no usable key keeps the old one and says why. The new key, like the old, is in no
sandbox process and not in the log.

The mock API accepts one key at a time (mock.set_api_key): a call with the other one
would get 401, so a turn that succeeds after the switch proves which key it carried;
each request's x-api-key is checked as well."""

import os
import re
import secrets
import signal
import threading
from datetime import datetime, timezone

import pytest

from chat_util import (CHAT_TIMEOUT, MODELS, bash, calls, chat_env, chat_ok, chat_settings, finish, only_result,
                       sandbox_processes)
from conftest import REPO, poll
import sandbox_util as su
from test_key_isolation import _key_in_memory
from test_sandbox_api import message, probe

import sys
sys.path.insert(0, str(REPO / "tests" / "mock"))
from anthropic_server import MockAnthropic  # noqa: E402

KEY_A = "sk-ant-api03-rotA" + secrets.token_hex(20)
KEY_B = "sk-ant-api03-rotB" + secrets.token_hex(20)

CHANGED = re.compile(r"SIGHUP: the API key was reloaded from .*: the API key changed; (\d+) running sessions got it")
SAME = re.compile(r"SIGHUP: the API key was reloaded from .*: the API key is the same")
KEPT = re.compile(r"SIGHUP: the API key was not reloaded, the one in use stays: (.*)")


@pytest.fixture
def mock():
    with MockAnthropic(api_key=KEY_A, models=MODELS) as m:
        yield m


def write_env(path, content):
    path.write_bytes(content)
    os.chmod(path, 0o600)


def start(daemon_factory, mock, tmp_path, **env):
    """A daemon whose key is KEY_A, from the env file it is given (not its environment)."""
    keys = tmp_path / "agentd.env"
    write_env(keys, f"ANTHROPIC_API_KEY={KEY_A}\n".encode())
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, key=None, **env),
                       args=["--env-file", str(keys)])
    return d, keys


def reload(d, pattern):
    """SIGHUP, and the log line that says how the reload went."""
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    line = d.wait_for_log(pattern, timeout=su.HOST_WAIT, start=mark)
    assert line is not None, f"no {pattern.pattern!r} after SIGHUP:\n{d.log_tail()}"
    return pattern.search(line)


def rotate(d, keys, mock):
    """The env file and the API switch to KEY_B; agentd reloads: how many sessions got it."""
    write_env(keys, f"# rotated\nANTHROPIC_API_KEY={KEY_B}\n".encode())
    mock.set_api_key(KEY_B)
    return int(reload(d, CHANGED).group(1))


def create(d, pattern="long-running"):
    r = d.post_json("/api/sessions", {"pattern": pattern})
    assert r.status == 201, r
    return r.json()["id"]


def turn(d, sid, text):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.log_tail()}"
    return r.json()


def keys_sent(mock):
    return [r["headers"].get("x-api-key") for r in mock.requests]


def sandbox_inits(d):
    """The host pids of the daemon's sandboxes' init processes (pid 1 inside)."""
    out = []
    for p in sandbox_processes(d.proc.pid):
        try:
            status = open(f"/proc/{p}/status").read()
        except OSError:
            continue
        ns = [line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")]
        if ns and ns[0][-1] == "1":
            out.append(p)
    return sorted(out)


def loaded_at(d):
    at = d.get("/api/health").json()["anthropic"]["key_loaded_at"]
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def no_key_b_logged(d):
    assert KEY_B not in d.stderr and KEY_B[17:] not in d.stderr, "the new key is in the log"


def test_a_long_running_session_and_a_new_one_use_the_new_key(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path)
    before = loaded_at(d)
    sid = create(d)
    mock.enqueue(calls(bash("echo kept > one.txt")), {"text": "one"})
    assert turn(d, sid, "first")["reply"] == "one"
    inits = sandbox_inits(d)
    assert len(inits) == 1, inits

    assert rotate(d, keys, mock) == 1
    mock.enqueue(calls(bash("cat one.txt")), {"text": "two"})
    assert turn(d, sid, "second")["reply"] == "two"
    assert only_result(mock, 3) == ("kept", False), only_result(mock, 3)
    assert keys_sent(mock) == [KEY_A, KEY_A, KEY_B, KEY_B]
    assert sandbox_inits(d) == inits, "the session's sandbox was replaced"
    assert d.get(f"/api/sessions/{sid}").json()["state"] == "idle"

    mock.enqueue({"text": "new"})                 # a new session, made after the reload
    assert chat_ok(d, "hello")["reply"] == "new"
    assert keys_sent(mock)[-1] == KEY_B
    assert loaded_at(d) >= before
    no_key_b_logged(d)
    finish(d, mock, key=KEY_A)


def test_a_suspended_hybrid_session_resumes_with_the_new_key(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path)
    sid = create(d, "hybrid")
    mock.enqueue({"text": "one"})
    assert turn(d, sid, "first")["reply"] == "one"
    r = d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["state"] == "suspended", r

    assert rotate(d, keys, mock) == 0            # nothing runs: it gets the key as it resumes
    mock.enqueue({"text": "two"})
    assert turn(d, sid, "second")["reply"] == "two"
    assert keys_sent(mock) == [KEY_A, KEY_B]
    assert "first" in str(mock.requests[1]["body"]["messages"])
    no_key_b_logged(d)
    finish(d, mock, key=KEY_A)


def test_a_program_in_the_sandbox_calls_with_the_new_key(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path)
    sid = create(d)
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle"), su.HOST_WAIT)
    mock.enqueue({"text": "before"})
    got = probe(d, sid, {"path": "/v1/messages", "body": message()})
    assert got[0]["status"] == 200, got

    assert rotate(d, keys, mock) == 1
    mock.enqueue({"text": "after"}, {"text": "after, by the port"})
    got = probe(d, sid, {"path": "/v1/messages", "body": message(stream=True)},
                {"via": "tcp", "path": "/v1/messages", "body": message()})
    assert [g["status"] for g in got] == [200, 200], got
    assert keys_sent(mock) == [KEY_A, KEY_B, KEY_B]
    no_key_b_logged(d)
    finish(d, mock, key=KEY_A)


BROKEN = [
    ("no key", b"# the key line was removed\nAGENTD_LOG_FORMAT=text\n", "has no ANTHROPIC_API_KEY"),
    ("empty", b"ANTHROPIC_API_KEY=\n", "is empty"),
    ("a newline in it", b'ANTHROPIC_API_KEY="' + KEY_B[:20].encode() + b"\\n" + KEY_B[20:].encode() + b'"\n',
     "not printable ASCII"),
    ("a control byte in it", b"ANTHROPIC_API_KEY=" + KEY_B[:20].encode() + b"\x01" + KEY_B[20:].encode() + b"\n",
     "not printable ASCII"),
    ("too short", b"ANTHROPIC_API_KEY=sk-a\n", "too short"),
    ("too long", b"ANTHROPIC_API_KEY=" + b"k" * 600 + b"\n", "longer than 512"),
    ("a broken line", b"ANTHROPIC_API_KEY='" + KEY_B.encode() + b"\n", "missing closing"),
]


def test_a_broken_env_file_keeps_the_old_key(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path)
    sid = create(d)
    mock.enqueue({"text": "0"})
    assert turn(d, sid, "first")["reply"] == "0"
    at = d.get("/api/health").json()["anthropic"]["key_loaded_at"]
    for i, (name, content, why) in enumerate(BROKEN, 1):
        write_env(keys, content)
        m = reload(d, KEPT)
        assert why in m.group(1), (name, m.group(0))
        mock.enqueue({"text": str(i)})
        assert turn(d, sid, name)["reply"] == str(i), name
    # the file gone for good: a directory where it was cannot be read
    keys.unlink()
    keys.mkdir()
    assert reload(d, KEPT)
    mock.enqueue({"text": "still"})
    assert chat_ok(d, "a new session")["reply"] == "still"
    assert set(keys_sent(mock)) == {KEY_A}
    assert d.get("/api/health").json()["anthropic"]["key_loaded_at"] == at
    kept = [line for line in d.lines if "was not reloaded" in line]
    assert len(kept) == len(BROKEN) + 1 and all(" warn " in line for line in kept), kept
    no_key_b_logged(d)
    assert KEY_B[:20] not in d.stderr
    finish(d, mock, key=KEY_A)


def test_the_new_key_is_in_no_sandbox_process_and_not_in_the_log(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path, AGENTD_LOG_LEVEL="debug")
    sid = create(d)
    mock.enqueue({"text": "one"})
    turn(d, sid, "first")
    assert rotate(d, keys, mock) == 1
    mock.enqueue(calls(bash("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")), {"text": "two"})
    turn(d, sid, "second")
    out, _ = only_result(mock, 2)
    assert KEY_B not in out and KEY_A not in out
    procs = sandbox_processes(d.proc.pid)
    assert procs, "the session's sandbox is not running"
    for pid in procs:
        for f in ("environ", "cmdline"):
            try:
                data = open(f"/proc/{pid}/{f}", "rb").read()
            except OSError:
                continue
            assert KEY_B.encode() not in data and KEY_A.encode() not in data, (pid, f)
        for key in (KEY_B, KEY_A):
            found = _key_in_memory(pid, key.encode())
            assert not found, (pid, found)
    no_key_b_logged(d)
    finish(d, mock, key=KEY_A)


def test_sighup_while_turns_run_breaks_none_of_them(daemon_factory, mock, tmp_path):
    d, keys = start(daemon_factory, mock, tmp_path)
    sid = create(d)
    # the first call is held by the mock (it has the key A already) while agentd reloads;
    # it ends with A, the next call of the same turn carries B
    mock.enqueue(calls(bash("echo ran"), gate="held"), {"text": "over"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", d.post_json(
        f"/api/sessions/{sid}/messages", {"message": "long"}, timeout=CHAT_TIMEOUT)))
    t.start()
    mock.wait_for_requests(1, timeout=CHAT_TIMEOUT)
    assert rotate(d, keys, mock) == 1
    mock.open_gate("held")
    t.join(CHAT_TIMEOUT)
    assert out["r"].status == 200 and out["r"].json()["reply"] == "over", out
    assert keys_sent(mock) == [KEY_A, KEY_B]

    # reloads one after another during a turn of many calls: each says the key is the same
    mock.enqueue(*[calls(bash(f"echo {i}")) for i in range(4)], {"text": "done"})
    t = threading.Thread(target=lambda: out.__setitem__("r", d.post_json(
        f"/api/sessions/{sid}/messages", {"message": "many"}, timeout=CHAT_TIMEOUT)))
    t.start()
    for _ in range(5):
        reload(d, SAME)
    t.join(CHAT_TIMEOUT)
    assert out["r"].status == 200 and out["r"].json()["reply"] == "done", out
    assert set(keys_sent(mock)[2:]) == {KEY_B}
    assert d.alive()
    no_key_b_logged(d)
    finish(d, mock, key=KEY_A)
