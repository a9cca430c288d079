"""Working on a session's sandbox between turns: exec (JSON and streamed), files in and
out of /workspace (and nowhere else), and the history of tool calls and execs."""

import json
import os
import time

import pytest

from chat_util import (CHAT_TIMEOUT, bash, calls, chatd, finish, mock, only_result,  # noqa: F401
                       stream_chat)
from conftest import assert_json_error, poll
import sandbox_util as su


def create(d, body=None):
    r = d.post_json("/api/sessions", body if body is not None else {})
    assert r.status == 201, r
    return r.json()["id"]


def exec_(d, sid, command, status=200, **extra):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, **extra}, timeout=CHAT_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def test_exec_runs_in_the_sandbox(chatd, mock):
    sid = create(chatd)
    doc = exec_(chatd, sid, "hostname; id -u; pwd; echo err >&2; exit 3")
    assert doc["exit_status"] == 3 and doc["timed_out"] is False, doc
    assert doc["output"].split() == ["sandbox", "0", "/workspace", "err"], doc
    assert doc["output_bytes"] == len(doc["output"].encode()) and doc["output_truncated"] is False
    assert doc["duration_ms"] >= 0
    # the workspace persists between execs and turns
    exec_(chatd, sid, "echo from-exec > /workspace/e.txt")
    mock.enqueue(calls(bash("cat /workspace/e.txt")), {"text": "seen"})
    r = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "read it"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and only_result(mock, 1) == ("from-exec", False), r
    finish(chatd, mock)


def test_exec_timeout_kills_the_group(chatd, mock):
    sid = create(chatd)
    t0 = time.monotonic()
    doc = exec_(chatd, sid, "sleep 300 & sleep 300", timeout_s=1)
    # killed at its 1 s timeout, long before its 300 s
    assert doc["timed_out"] is True and time.monotonic() - t0 < 60, doc
    # the whole group: both sleeps go (once the sandbox's init has reaped them)
    assert poll(lambda: exec_(chatd, sid, "pgrep -c sleep || true")["output"].strip() == "0", su.HOST_WAIT)
    finish(chatd, mock)


def test_exec_streams(chatd, mock):
    sid = create(chatd)
    # each line waits until the client has the one before: streamed, it comes in pieces
    fifo = f"/tmp/next.{su.marker()}"
    got, released = [], []

    def on_event(e):
        if e.event == "tool_output":
            got.append(e.data["output"])
            if "".join(got).count("\n") < 3:
                released.append(su.write_fifo(lambda: su.in_sandbox_of(fifo, fifo)))
        return False
    # (a read that meets the end of the test's previous write waits on: one line each)
    s = stream_chat(chatd, {"command": f"mkfifo {fifo}; for i in 1 2; do echo line$i; "
                            f"until read x < {fifo}; do :; done; done; echo line3", "stream": True},
                    path=f"/api/sessions/{sid}/exec", stop=on_event)
    assert s.status == 200, s
    # in the words of a tool call: tool_start, tool_output pieces, tool_end
    assert s.events[0].event == "tool_start" and s.events[0].data["name"] == "exec", s.events[0]
    outs = [e for e in s.events if e.event == "tool_output"]
    assert "".join(e.data["output"] for e in outs) == "line1\nline2\nline3\n"
    assert released == [True, True], released
    assert len(outs) == 3, "the output did not come as it was printed: not streamed"
    end = s.events[-1]
    assert end.event == "tool_end" and end.data["exit_status"] == 0 and end.data["is_error"] is False, end
    assert {e.data["id"] for e in s.events} == {s.events[0].data["id"]}
    finish(chatd, mock)


def test_files_in_and_out(chatd, mock):
    sid = create(chatd)
    blob = bytes(range(256)) * 40
    r = chatd.request("PUT", f"/api/sessions/{sid}/files/dir/sub/data.bin", body=blob)
    assert r.status == 200 and r.json()["size"] == len(blob), r
    r = chatd.get(f"/api/sessions/{sid}/files/dir/sub/data.bin")
    assert r.status == 200 and r.body == blob and r.header("Content-Type") == "application/octet-stream"
    assert exec_(chatd, sid, "sha256sum dir/sub/data.bin | cut -c1-8")["output"].strip() == \
        __import__("hashlib").sha256(blob).hexdigest()[:8]
    listing = chatd.get(f"/api/sessions/{sid}/files/dir/").json()["entries"]
    assert [(e["name"], e["type"]) for e in listing] == [("sub", "dir")], listing
    root = chatd.get(f"/api/sessions/{sid}/files").json()["entries"]
    assert "dir" in [e["name"] for e in root]
    assert chatd.request("DELETE", f"/api/sessions/{sid}/files/dir").status == 200
    assert_json_error(chatd.get(f"/api/sessions/{sid}/files/dir/sub/data.bin"), 404)
    finish(chatd, mock)


def test_files_up_to_their_own_limit_not_the_body_limit(chatd, mock):
    """A file may be up to 4 MiB, above http.max_body_bytes (1M): the files route has a
    limit of its own; past it, 413 before the body is read; other routes keep 1M."""
    sid = create(chatd)
    big = os.urandom(3 << 20)
    r = chatd.request("PUT", f"/api/sessions/{sid}/files/big.bin", body=big)
    assert r.status == 200 and r.json()["size"] == len(big), r
    r = chatd.get(f"/api/sessions/{sid}/files/big.bin", timeout=30)
    assert r.status == 200 and r.body == big
    # headers only: refused from Content-Length, before the body is read
    for method, path, length, limit in (("PUT", f"/api/sessions/{sid}/files/too.bin", (4 << 20) + 1, 4 << 20),
                                        ("POST", "/api/chat", 2 << 20, 1 << 20)):
        r = chatd.raw(f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {length}\r\n\r\n".encode(), method=method)
        err = assert_json_error(r, 413)
        assert str(limit) in err["message"], err
    finish(chatd, mock)


@pytest.mark.parametrize("path", ["../etc/passwd", "%2e%2e/etc/passwd", "sub/../../etc/passwd", "link/passwd"])
def test_paths_that_leave_the_workspace_are_refused(chatd, mock, path):
    sid = create(chatd)
    exec_(chatd, sid, "mkdir -p sub; ln -s /etc link")
    r = chatd.get(f"/api/sessions/{sid}/files/{path}")
    assert r.status in (400, 404), r
    assert b"root:" not in r.body
    r = chatd.request("PUT", f"/api/sessions/{sid}/files/{path}", body=b"x")
    assert r.status in (400, 404), r
    r = chatd.request("DELETE", f"/api/sessions/{sid}/files/{path}")
    assert r.status in (400, 404), r
    assert exec_(chatd, sid, "head -c 5 /etc/passwd")["output"] == "root:", "deleted or written outside"
    finish(chatd, mock)


def test_exec_keeps_the_first_mib_of_output_and_says_it_cut(chatd, mock):
    sid = create(chatd)
    doc = exec_(chatd, sid, "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo done")
    assert doc["exit_status"] == 0 and doc["output_bytes"] == 3000000 + 6, doc["output_bytes"]
    assert doc["output_truncated"] is True
    assert len(doc["output"].encode()) == 1 << 20 and set(doc["output"]) == {"a"}
    small = exec_(chatd, sid, "echo small")
    assert small["output"] == "small\n" and small["output_truncated"] is False
    finish(chatd, mock)


def test_the_history_has_tool_calls_and_execs(chatd, mock):
    sid = create(chatd)
    mock.enqueue(calls(bash("echo tool")), {"text": "ok"})
    chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "go"}, timeout=CHAT_TIMEOUT)
    exec_(chatd, sid, "echo exec; exit 1")
    hist = chatd.get(f"/api/sessions/{sid}/history").json()["history"]
    assert [(h["kind"], h["tool"]) for h in hist] == [("tool", "bash"), ("exec", "exec")], hist
    assert hist[0]["input"] == {"command": "echo tool"} and hist[0]["is_error"] is False
    assert hist[0]["output_bytes"] == len("tool") and hist[0]["duration_ms"] is not None
    assert hist[1]["input"] == "echo exec; exit 1" and hist[1]["exit_status"] == 1 and hist[1]["is_error"] is True
    assert all(h["time"] > 1.7e9 for h in hist)
    finish(chatd, mock)


def test_exec_during_a_turn_is_a_conflict(chatd, mock):
    sid = create(chatd)
    # the turn's model call lasts until the test interrupts it: the exec comes during the
    # turn, however slow the machine
    mock.enqueue({"text": "slow", "latency_ms": 600000})
    import threading
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", chatd.post_json(
        f"/api/sessions/{sid}/messages", {"message": "x"}, timeout=CHAT_TIMEOUT)))
    t.start()
    mock.wait_for_requests(1, timeout=su.HOST_WAIT)
    err = assert_json_error(chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "true"}), 409)
    assert "turn" in err["message"]
    assert chatd.request("POST", f"/api/sessions/{sid}/interrupt").status == 202
    t.join(CHAT_TIMEOUT)
    assert out["r"].status == 200 and out["r"].json()["stop_reason"] == "interrupted", out["r"]
    finish(chatd, mock)


@pytest.mark.parametrize("body,needle", [
    ({}, "command"), ({"command": ""}, "command"), ({"command": 5}, "command"),
    ({"command": "true", "timeout_s": 0}, "timeout_s"), ({"command": "true", "nope": 1}, "unknown field"),
    ([1], "JSON object"), ('"ls"', "JSON object"), (5, "JSON object"), (None, "JSON object"),
])
def test_bad_exec_requests(chatd, mock, body, needle):
    sid = create(chatd)
    err = assert_json_error(chatd.post_json(f"/api/sessions/{sid}/exec", body), 400)
    assert needle in err["message"]
    finish(chatd, mock)


def test_every_json_route_refuses_a_body_that_is_not_an_object(chatd, mock):
    """Arrays and single values are valid JSON but no request of this API: 400 on every
    route that takes a JSON body, and the daemon stays up."""
    sid = create(chatd)
    for path in ("/api/chat", "/api/sessions", f"/api/sessions/{sid}/messages", f"/api/sessions/{sid}/exec"):
        for body in ([1], ["x"], '"text"', 7, True, None, []):   # (a str is sent as it is)
            err = assert_json_error(chatd.post_json(path, body), 400)
            assert "JSON object" in err["message"], (path, body, err)
    finish(chatd, mock)
