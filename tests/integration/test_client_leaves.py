"""A client that leaves ends its ephemeral run at once, in both modes: the tool's
processes are killed, the model call in flight is abandoned, no further call is made
and the sandbox goes. A session's turn (POST .../messages) goes on without its client.

"At once" is checked against a bound that the old ways of noticing could never meet:
before, a JSON client was noticed only when its answer was written (after the tool's
60 s), and a streaming one when a write failed, which takes two keep-alives (5 s
apart). Noticing takes milliseconds now; the bound is LEAVE_NOTICED_S."""

import json
import socket
import time

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chat_ok, chatd, finish, mock,  # noqa: F401
                       stream_chat, check_stream_done)
from conftest import poll
import sandbox_util as su

LEAVE_NOTICED_S = 4.0


def _send_chat(d, body):
    """A raw HTTP client: the request sent, the socket returned (closing it is leaving)."""
    data = json.dumps(body).encode()
    s = socket.create_connection((d.host, d.port), timeout=CHAT_TIMEOUT)
    s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: agentd\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def _leave_during_tool(d, mock, stream):
    mark = su.marker()
    mock.enqueue(calls(bash(f"sleep 60.{mark}; echo late")), {"text": "nobody hears this"})
    host = HostState(d)
    start = d.mark()
    client = _send_chat(d, {"message": "take your time", "stream": stream})
    assert su.wait_for_process(mark, timeout=CHAT_TIMEOUT), "the tool never started"
    client.close()
    left_at = time.monotonic()
    gone = poll(lambda: not su.processes_with(mark), LEAVE_NOTICED_S, interval=0.02)
    took = time.monotonic() - left_at
    assert gone, f"the tool still runs {took:.1f} s after its client left: {su.processes_with(mark)}"
    host.assert_clean(marker=mark, timeout=20)
    assert d.wait_for_log("its client went away", timeout=5, start=start), d.stderr
    # the supervisor is gone, so no call can come any more: there was only the first
    assert len(mock.requests) == 1, [r["body"]["messages"][-1] for r in mock.requests]
    finish(d, mock)


def test_a_json_client_that_leaves_during_a_tool_call_ends_its_run(chatd, mock):
    _leave_during_tool(chatd, mock, stream=False)


def test_a_streaming_client_that_leaves_during_a_tool_call_ends_its_run(chatd, mock):
    _leave_during_tool(chatd, mock, stream=True)


def test_a_json_client_that_leaves_during_the_model_call_abandons_it(chatd, mock):
    # a reply that would stream for about a minute: a piece a second
    mock.enqueue({"text": "word " * 600, "chunk_chars": 5, "dribble": [64, 64], "delay_ms": 1000})
    host = HostState(chatd)
    client = _send_chat(chatd, {"message": "talk slowly"})
    mock.wait_for_requests(1, timeout=CHAT_TIMEOUT)
    client.close()
    # the supervisor drops the API connection: the mock's next write finds it gone
    dropped = poll(lambda: mock.requests[0].get("client_disconnected"), LEAVE_NOTICED_S + 2, interval=0.05)
    assert dropped, f"the model call went on after its client left: {mock.requests[0]}"
    host.assert_clean(timeout=20)
    assert len(mock.requests) == 1
    mock.take_violations()        # the cut stream is the point here
    finish(chatd, mock)


def test_a_session_turn_goes_on_without_its_client(chatd, mock):
    mark = su.marker()
    sid = chatd.post_json("/api/sessions", {"pattern": "long-running"}).json()["id"]
    mock.enqueue(calls(bash(f"sleep 1.{mark}; echo finished")), {"text": "done without you"})
    s = stream_chat(chatd, {"message": "keep going", "stream": True},
                    path=f"/api/sessions/{sid}/messages", stop=lambda e: e.event == "tool_start")
    assert s.closed_early, s.names
    done = poll(lambda: chatd.get(f"/api/sessions/{sid}").json()["state"] == "idle", CHAT_TIMEOUT, interval=0.1)
    assert done, chatd.get(f"/api/sessions/{sid}").json()
    transcript = chatd.get(f"/api/sessions/{sid}/messages").json()
    assert "done without you" in json.dumps(transcript), transcript
    assert len(mock.requests) == 2
    # and the session is still there for the next turn
    mock.enqueue({"text": "still here"})
    assert chat_ok(chatd, {"message": "again", "session_id": sid})["reply"] == "still here"
    finish(chatd, mock)


def test_a_client_that_stays_gets_its_answer(chatd, mock):
    """The watch on a client that stays never fires: many runs in a row, both modes."""
    for i in range(5):
        mock.enqueue(calls(bash(f"echo {i}")), {"text": f"answer {i}"})
        assert chat_ok(chatd, f"run {i}")["reply"] == f"answer {i}"
        mock.enqueue({"text": f"streamed {i}"})
        assert check_stream_done(stream_chat(chatd, f"stream {i}"))["reply"] == f"streamed {i}"
    finish(chatd, mock)
