"""POST /api/chat when things go wrong: API faults (retried, or turned into a clear
error with the right status in JSON mode and an `error` event in SSE mode), the
session's budget, and the input checks (400/404/503 before any sandbox or API call)."""

import json
import time

import pytest

from chat_util import (KEY, HostState, bash, calls, chat_ok, chatd, check_stream_error,  # noqa: F401
                       error_is_a_sentence, finish, log_tail, mock, post_chat, start_chat_daemon,
                       stream_chat)
from conftest import assert_json_error

MODES = ["json", "sse"]


def run_fails(d, mode, status, error_type=None, contains=()):
    """A run that must fail: JSON mode answers status with an error body; SSE mode
    (status 200, the stream has begun) ends with an `error` event. Returns the error."""
    if isinstance(contains, str):
        contains = (contains,)
    if mode == "json":
        r = post_chat(d, {"message": "this will fail"})
        assert r.status == status, f"{r}\nlog tail:\n{log_tail(d)}"
        err = assert_json_error(r, status, error_type)
    else:
        s = stream_chat(d, {"message": "this will fail", "stream": True})
        err = check_stream_error(s, error_type)
    error_is_a_sentence(err)
    for text in contains:
        assert text.lower() in err["message"].lower(), err
    return err


# --------------------------------------------------------------------------- retried, then fine

def test_429_with_retry_after_is_retried(chatd, mock):
    mock.enqueue({"status": 429, "headers": {"retry-after": "1"},
                  "error": {"type": "rate_limit_error", "message": "slow down"}},
                 {"text": "after the wait"})
    t0 = time.monotonic()
    doc = chat_ok(chatd, "hi")
    assert doc["reply"] == "after the wait"
    assert len(mock.requests) == 2
    assert mock.requests[1]["t_received"] - mock.requests[0]["t_done"] >= 0.95, "retry-after: 1 not honoured"
    assert time.monotonic() - t0 >= 1.0
    finish(chatd, mock)


def test_529_once_is_retried(chatd, mock):
    mock.enqueue(calls(bash("echo a")),
                 {"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}},
                 {"text": "second try"})
    doc = chat_ok(chatd, "hi")
    assert doc["reply"] == "second try" and doc["model_calls"] == 2
    assert len(mock.requests) == 3
    # the retry sent the same conversation again
    assert mock.requests[1]["body"] == mock.requests[2]["body"]
    finish(chatd, mock)


def test_retries_in_sse_mode_are_invisible(chatd, mock):
    mock.enqueue({"status": 500, "error": {"type": "api_error", "message": "boom"}}, {"text": "fine"})
    s = stream_chat(chatd, "hi")
    assert s.last.event == "done" and s.last.data["reply"] == "fine", s.names
    assert s.text == "fine"
    finish(chatd, mock)


# --------------------------------------------------------------------------- failures after retries

@pytest.mark.parametrize("mode", MODES)
def test_rate_limited_after_retries(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_API_MAX_RETRIES=1)
    mock.enqueue(*[{"status": 429, "headers": {"retry-after-ms": "10"},
                    "error": {"type": "rate_limit_error", "message": "slow"}}] * 2)
    run_fails(d, mode, 429, contains="rate limit")
    assert len(mock.requests) == 2
    finish(d, mock)


@pytest.mark.parametrize("mode", MODES)
def test_overloaded_after_retries(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_API_MAX_RETRIES=1)
    mock.enqueue(calls(bash("echo first call fine")),
                 *[{"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}}] * 2)
    host = HostState(d)
    run_fails(d, mode, 503, contains="overloaded")
    assert len(mock.requests) == 3
    host.assert_clean()
    finish(d, mock)


@pytest.mark.parametrize("mode", MODES)
def test_server_errors_after_retries(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_API_MAX_RETRIES=1)
    mock.enqueue(*[{"status": 500, "error": {"type": "api_error", "message": "Internal server error"}}] * 2)
    run_fails(d, mode, 502)
    assert len(mock.requests) == 2
    finish(d, mock)


@pytest.mark.parametrize("mode", MODES)
def test_a_rejected_key(chatd, mock, mode):
    mock.enqueue({"status": 401, "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    run_fails(chatd, mode, 502, contains=("api key", "rejected"))
    assert len(mock.requests) == 1, "a 401 must not be retried"
    finish(chatd, mock)


def test_a_wrong_key_for_real(daemon_factory, mock):
    wrong = "sk-ant-api03-wrong" + KEY[-12:]
    d = start_chat_daemon(daemon_factory, mock, key=wrong)
    run_fails(d, "json", 502, contains=("api key", "rejected"))
    assert len(mock.requests) == 1
    assert [v for v in mock.take_violations() if "401" not in v] == []      # the wrong key, on purpose
    finish(d, mock, key=wrong)


@pytest.mark.parametrize("mode", MODES)
def test_an_api_refusal_is_not_retried(chatd, mock, mode):
    mock.enqueue({"status": 400, "error": {"type": "invalid_request_error", "message": "prompt is too long"}})
    run_fails(chatd, mode, 502)
    assert len(mock.requests) == 1
    finish(chatd, mock)


@pytest.mark.parametrize("mode", MODES)
def test_an_error_event_mid_stream(chatd, mock, mode):
    mock.enqueue({"text": "a partial answer that breaks off", "chunk_chars": 4, "stream_error_after": 5,
                  "error": {"type": "api_error", "message": "Internal server error"}})
    run_fails(chatd, mode, 502)
    assert len(mock.requests) == 1 and mock.requests[0]["events"][-1] == "error"
    finish(chatd, mock)


@pytest.mark.parametrize("mode", MODES)
def test_a_connection_cut_mid_stream(chatd, mock, mode):
    mock.enqueue(calls(bash("echo fine")), {"text": "cut off in the middle", "chunk_chars": 4, "disconnect_after": 5})
    host = HostState(chatd)
    run_fails(chatd, mode, 502)
    assert len(mock.requests) == 2 and mock.requests[1].get("dropped")
    host.assert_clean()
    finish(chatd, mock)


@pytest.mark.parametrize("mode", MODES)
def test_connections_dropped_before_a_response(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_API_MAX_RETRIES=1)
    mock.enqueue({"drop": True}, {"drop": True})
    run_fails(d, mode, 502)
    assert len(mock.requests) == 2
    finish(d, mock)


def test_an_unreachable_api(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, ANTHROPIC_BASE_URL="http://127.0.0.1:9", AGENTD_API_MAX_RETRIES=1)
    run_fails(d, "json", 502)
    finish(d, mock)


# --------------------------------------------------------------------------- budgets

@pytest.mark.parametrize("mode", MODES)
def test_the_session_request_budget(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SESSION_MAX_REQUESTS=1)
    host = HostState(d)
    mock.enqueue(calls(bash("echo one")), {"text": "never sent"})
    run_fails(d, mode, 429, error_type="budget_exceeded_error")
    assert len(mock.requests) == 1, "the supervisor let a request past the budget"
    host.assert_clean()
    finish(d, mock)


@pytest.mark.parametrize("mode", MODES)
def test_the_session_token_budget(daemon_factory, mock, mode):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SESSION_MAX_TOKENS=1000)
    mock.enqueue(calls(bash("echo one"), usage={"input_tokens": 900, "output_tokens": 200}),
                 {"text": "never sent"})
    run_fails(d, mode, 429, error_type="budget_exceeded_error")
    assert len(mock.requests) == 1, "the supervisor let a request past the token budget"
    finish(d, mock)


def test_within_budget_runs_normally(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SESSION_MAX_REQUESTS=2)
    mock.enqueue(calls(bash("echo one")), {"text": "just in time"})
    assert chat_ok(d, "hi")["reply"] == "just in time"
    finish(d, mock)


# --------------------------------------------------------------------------- input checks

@pytest.fixture
def short_msgs(daemon_factory, mock):
    return start_chat_daemon(daemon_factory, mock, AGENTD_MAX_MESSAGE_CHARS=20)


BAD_INPUT = [
    ("too long", {"message": "\u00e9" * 21}, ("message", "20")),
    ("NUL", '{"message": "a\\u0000b"}', ("NUL",)),
    ("ESC", {"message": "a\u001b[31mred"}, ("ESC",)),
    ("bad UTF-8", b'{"message": "caf\xc3("}', ("UTF-8",)),
    ("lone surrogate", '{"message": "a\\ud800b"}', ()),
    ("not JSON", "message=hi", ()),
    ("not an object", '["hi"]', ()),
    ("no message", {"history": []}, ("message",)),
    ("empty message", {"message": ""}, ("message",)),
    ("message not a string", {"message": 5}, ("message",)),
    ("unknown field", {"message": "hi", "temperature": 2}, ("temperature",)),
    ("history not a list", {"message": "hi", "history": "earlier"}, ("history",)),
    ("history turn not an object", {"message": "hi", "history": ["q", "a"]}, ("history",)),
    ("history starts with assistant", {"message": "hi", "history": [
        {"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}, ("history",)),
    ("history bad role", {"message": "hi", "history": [
        {"role": "system", "content": "a"}, {"role": "assistant", "content": "q"}]}, ("history",)),
    ("history ends with user", {"message": "hi", "history": [{"role": "user", "content": "q"}]}, ("history",)),
    ("history empty content", {"message": "hi", "history": [
        {"role": "user", "content": []}, {"role": "assistant", "content": "a"}]}, ("history",)),
    ("history blank content", {"message": "hi", "history": [
        {"role": "user", "content": " \n"}, {"role": "assistant", "content": "a"}]}, ("history",)),
    ("history ESC", {"message": "hi", "history": [
        {"role": "user", "content": "\u001b"}, {"role": "assistant", "content": "a"}]}, ("history",)),
    ("stream not a bool", {"message": "hi", "stream": "yes"}, ("stream",)),
    ("model not a string", {"message": "hi", "model": 4}, ("model",)),
]


@pytest.mark.parametrize("name,body,needles", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_400_naming_the_problem(short_msgs, mock, name, body, needles):
    for headers in ({}, {"Accept": "text/event-stream"}):
        r = post_chat(short_msgs, body, headers=headers, timeout=10)
        err = assert_json_error(r, 400)
        for n in needles:
            assert n.lower() in err["message"].lower(), (name, err)
    assert mock.requests == []
    finish(short_msgs, mock)


def test_stream_true_with_bad_input_is_still_a_json_400(short_msgs, mock):
    r = post_chat(short_msgs, {"message": "x" * 21, "stream": True}, timeout=10)
    assert_json_error(r, 400, message_contains="message")
    finish(short_msgs, mock)


def test_an_unknown_session_is_a_404(chatd, mock):
    for body in ({"message": "hi", "session_id": "no-such-session"},
                 {"message": "hi", "session_id": "no-such-session", "stream": True}):
        err = assert_json_error(post_chat(chatd, body, timeout=10), 404)
        error_is_a_sentence(err)
    assert mock.requests == []
    finish(chatd, mock)


def test_no_api_key_is_a_503_that_says_how_to_fix_it(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, key=None)
    for body in ({"message": "hi"}, {"message": "hi", "stream": True}):
        err = assert_json_error(post_chat(d, body, timeout=10), 503, message_contains="ANTHROPIC_API_KEY")
        error_is_a_sentence(err)
    health = d.health()
    assert health["anthropic"]["api_key_configured"] is False, health
    assert mock.requests == []
    finish(d, mock)


def test_a_body_over_the_cap_is_refused(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_MAX_BODY_BYTES="4K")
    r = post_chat(d, json.dumps({"message": "x" * 8000}), timeout=10)
    assert r.status == 413, r
    assert mock.requests == []
    finish(d, mock)
