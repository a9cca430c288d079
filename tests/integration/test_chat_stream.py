"""POST /api/chat as a Server-Sent Events stream ("stream": true or Accept:
text/event-stream): the events of the run as they happen, in order, ending in exactly
one done or error; text deltas that add up to the reply, whatever the API's chunking;
curl -N; a client that goes away mid-stream."""

import concurrent.futures
import json
import subprocess
import time

from chat_util import (UNICODE_SAMPLE, CHAT_TIMEOUT, HostState, Stream, Event, bash, calls, chat_ok, chatd,  # noqa: F401
                       check_stream_done, finish, mock, mock_usage, parse_sse_lines,
                       stream_chat, assert_cost)
import sandbox_util as su


def test_the_events_of_a_run_in_order(chatd, mock):
    mock.enqueue(calls(bash("echo out-1; echo out-2", "toolu_01s")),
                 {"text": "All done, the output was out-1 and out-2.", "chunk_chars": 5})
    s = stream_chat(chatd, {"message": "run it", "stream": True})
    doc = check_stream_done(s)
    assert doc["reply"] == "All done, the output was out-1 and out-2."
    assert doc["model_calls"] == 2 and doc["stop_reason"] == "end_turn"
    names = s.names
    assert len(s.of("text")) >= 2, f"the text came in one piece, not as deltas: {names}"

    start, end = s.of("tool_start"), s.of("tool_end")
    assert len(start) == 1 and len(end) == 1, names
    assert {k: start[0].data.get(k) for k in ("id", "name", "input")} == \
        {"id": "toolu_01s", "name": "bash", "input": {"command": "echo out-1; echo out-2"}}, start[0]
    assert end[0].data["id"] == "toolu_01s" and end[0].data["name"] == "bash"
    assert end[0].data["is_error"] is False and isinstance(end[0].data["duration_ms"], (int, float))
    outputs = s.of("tool_output")
    assert outputs and all(e.data["id"] == "toolu_01s" for e in outputs), outputs
    assert "".join(e.data["output"] for e in outputs) == doc["tool_calls"][0]["output"]
    assert "out-1\nout-2" in doc["tool_calls"][0]["output"]

    i = names.index
    usage_at = [n for n, e in enumerate(s.events) if e.event == "usage"]
    assert len(usage_at) == 2, names
    first_text = i("text")
    assert usage_at[0] < i("tool_start") < i("tool_output") < i("tool_end") < first_text < usage_at[1] \
        < i("done"), names

    for n, e in enumerate(s.of("usage")):
        assert e.data["call"] == mock_usage(mock, [n]), (e, mock.requests[n]["usage"])
        total = mock_usage(mock, range(n + 1))
        assert e.data["total"] == total, e
        assert_cost(e.data["cost_usd"], total)
    assert doc["usage"] == total == mock_usage(mock)
    assert_cost(doc["cost_usd"], total)
    finish(chatd, mock)


def test_accept_text_event_stream_selects_sse(chatd, mock):
    mock.enqueue({"text": "via the Accept header"})
    s = stream_chat(chatd, {"message": "hi"}, headers={"Accept": "text/event-stream"})
    doc = check_stream_done(s)
    assert doc["reply"] == "via the Accept header"
    mock.enqueue({"text": "json again"})
    assert chat_ok(chatd, {"message": "hi", "stream": False})["reply"] == "json again"
    finish(chatd, mock)


def test_a_dribbled_unicode_stream_arrives_intact(chatd, mock):
    mock.enqueue(calls(bash(f"echo '{UNICODE_SAMPLE}'"), dribble=[1, 7], chunk_chars=2, seed=3),
                 {"text": UNICODE_SAMPLE, "dribble": [1, 7], "chunk_chars": 1, "seed": 5, "ping_every": 2,
                  "unknown_events": True})
    s = stream_chat(chatd, {"message": UNICODE_SAMPLE, "stream": True})
    doc = check_stream_done(s)
    assert doc["reply"] == UNICODE_SAMPLE and s.text == UNICODE_SAMPLE
    assert s.of("tool_start")[0].data["input"] == {"command": f"echo '{UNICODE_SAMPLE}'"}
    assert UNICODE_SAMPLE in "".join(e.data["output"] for e in s.of("tool_output"))
    finish(chatd, mock)


def test_events_arrive_as_they_happen(chatd, mock):
    """A slow second model call: the tool's events reach the client before it ends."""
    mock.enqueue(calls(bash("echo quick")), {"text": "slow answer", "latency_ms": 1500})
    s = stream_chat(chatd, {"message": "go", "stream": True})
    check_stream_done(s)
    t_end = s.of("tool_end")[0].t
    assert s.last.t - t_end >= 1.0, f"tool_end came {s.last.t - t_end:.3f}s before done: buffered?"
    assert s.last.t - s.events[0].t >= 1.0
    finish(chatd, mock)


def _curl(d, body, extra=()):
    return subprocess.Popen(["curl", "-sS", "-N", "--max-time", str(CHAT_TIMEOUT), *extra,
                             "-H", "Content-Type: application/json", "--data-binary", json.dumps(body),
                             f"http://{d.host}:{d.port}/api/chat"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _curl_stream(d, body, extra=()):
    """Run curl -N; the events with the time each line arrived."""
    p = _curl(d, body, extra)
    events, pending = [], []
    for raw in p.stdout:
        text = raw.decode("utf-8").rstrip("\r\n")
        pending.append(text)
        if text == "":
            for id_, name, data in parse_sse_lines(pending):
                events.append(Event(id_, name, json.loads(data), time.monotonic()))
            pending = []
    err = p.stderr.read().decode()
    assert p.wait(10) == 0, f"curl failed: {err}"
    return Stream(200, {"Content-Type": "text/event-stream"}, events, b"", False)


def test_curl_n(chatd, mock):
    mock.enqueue(calls(bash("echo from curl")), {"text": "curl got it", "latency_ms": 1200})
    s = _curl_stream(chatd, {"message": "hi", "stream": True})
    doc = check_stream_done(s)
    assert doc["reply"] == "curl got it"
    assert s.last.t - s.events[0].t >= 1.0, "curl -N saw the events only at the end"
    mock.enqueue({"text": "accept header"})
    s = _curl_stream(chatd, {"message": "hi"}, ["-H", "Accept: text/event-stream"])
    assert check_stream_done(s)["reply"] == "accept header"
    finish(chatd, mock)


def test_a_stream_is_counted_in_the_access_log(chatd, mock):
    mock.enqueue(calls(bash("echo counted")), {"text": "counted it"})
    start = chatd.mark()
    p = _curl(chatd, {"message": "hi", "stream": True}, ["-o", "/dev/null", "-w", "%{size_download}"])
    out, err = p.communicate(timeout=CHAT_TIMEOUT)
    assert p.returncode == 0, err
    rec = chatd.wait_access("/api/chat", start=start)
    assert rec is not None and rec["status"] == 200, rec
    assert rec["bytes"] == int(out) > 0, (rec, out)
    finish(chatd, mock)


def _disconnect_then_recover(d, mock, stop, mark):
    host = HostState(d)
    s = stream_chat(d, {"message": "go away", "stream": True}, stop=stop)
    assert s.closed_early, f"the stream ended before the client could leave: {s.names}"
    # the run may be cancelled or finish; either way the sandbox must go
    host.assert_clean(marker=mark)
    assert d.alive(), d.stderr
    mock.assert_clean()
    mock.reset()
    mock.enqueue(calls(bash("echo again")), {"text": "next one works"})
    assert chat_ok(d, "again")["reply"] == "next one works"
    mock.enqueue({"text": "and streams"})
    assert check_stream_done(stream_chat(d, "and stream"))["reply"] == "and streams"
    host.assert_clean()
    finish(d, mock)


def test_a_client_that_leaves_during_a_tool_call(chatd, mock):
    # the tool would run for 10 minutes: the gateway's keep-alive comments (every 5 s)
    # find out that the client left, and the sandbox goes long before the sleep ends
    # (and before the leftover check gives up)
    mark = su.marker()
    mock.enqueue(calls(bash(f"sleep 600.{mark}; echo late")), {"text": "nobody hears this"})
    _disconnect_then_recover(chatd, mock, lambda e: e.event == "tool_start", mark)


def test_a_client_that_leaves_during_the_model_stream(chatd, mock):
    # about 3 s of stream if nobody stops it
    mock.enqueue({"text": "word " * 60, "chunk_chars": 5, "dribble": [64, 64], "delay_ms": 20})
    _disconnect_then_recover(chatd, mock, lambda e: e.event == "text", None)


def test_concurrent_streams(chatd, mock):
    """Three streams at once, each its own session (the replies are all alike)."""
    mock.enqueue(*[{"text": "same answer", "latency_ms": 300}] * 3)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        streams = list(pool.map(lambda i: stream_chat(chatd, f"stream {i}"), range(3)))
    docs = [check_stream_done(s) for s in streams]
    assert len({doc["session_id"] for doc in docs}) == 3
    finish(chatd, mock)
