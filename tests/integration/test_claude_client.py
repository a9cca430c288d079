"""The Messages API client, through `agentd check-api`, against the local Messages API
server (tests/mock): the request is what the real API accepts, streams are rebuilt
whatever their chunking, and every fault ends in a retry or a clear sentence."""
import os
import subprocess
import sys
import time

import pytest

from conftest import AGENTD_BIN, REPO, assert_no_sanitizer_report, clean_env

sys.path.insert(0, str(REPO / "tests" / "mock"))
from anthropic_server import MockAnthropic  # noqa: E402

KEY = "sk-ant-test-0123456789"
MODEL = "claude-test"


@pytest.fixture
def mock():
    with MockAnthropic(api_key=KEY, models=[MODEL]) as m:
        yield m


def check_api(mock, *args, retries=2, key=KEY, timeout=60):
    env = clean_env({"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": mock.url, "AGENTD_MODEL": MODEL,
                     "AGENTD_API_MAX_RETRIES": str(retries)})
    t0 = time.monotonic()
    p = subprocess.run([AGENTD_BIN, "check-api", *args], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd="/")
    p.elapsed = time.monotonic() - t0
    assert_no_sanitizer_report(p.stderr)
    return p


def test_a_streamed_reply_and_a_request_the_api_accepts(mock):
    mock.enqueue({"text": "ready \u2014 h\u00e9llo \U0001F600"})
    p = check_api(mock)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ready \u2014 h\u00e9llo \U0001F600")
    assert "the API works" in p.stdout and "1 attempt," in p.stdout
    mock.assert_clean()
    req = mock.requests[0]
    assert req["headers"]["x-api-key"] == KEY
    assert req["headers"]["anthropic-version"] == "2023-06-01"
    assert req["body"]["stream"] is True and req["body"]["model"] == MODEL
    assert req["request_id"] in p.stdout                      # reported to the user
    assert f"request-id {req['request_id']}" in p.stderr      # and logged


@pytest.mark.parametrize("fault", [{"dribble": [1, 7]}, {"ping_every": 1}, {"unknown_events": True},
                                   {"thinking": "first, think"}])
def test_streams_are_rebuilt_whatever_their_shape(mock, fault):
    mock.enqueue({"text": "split into pieces", **fault})
    p = check_api(mock)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("split into pieces")
    mock.assert_clean()


def test_429_is_retried_after_retry_after(mock):
    mock.enqueue({"status": 429, "headers": {"retry-after": "1"},
                  "error": {"type": "rate_limit_error", "message": "slow down"}},
                 {"text": "ok"})
    p = check_api(mock)
    assert p.returncode == 0, p.stderr
    assert "2 attempts" in p.stdout
    assert p.elapsed >= 1.0, "retry-after: 1 was not honoured"
    assert len(mock.requests) == 2
    mock.assert_clean()


def test_529_and_500_are_retried_with_backoff_then_succeed(mock):
    mock.enqueue({"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}},
                 {"status": 500, "error": {"type": "api_error", "message": "boom"}},
                 {"text": "third time"})
    p = check_api(mock)
    assert p.returncode == 0, p.stderr
    assert "3 attempts" in p.stdout
    assert p.elapsed >= 0.5 * 0.75 + 1.0 * 0.75       # two backoffs, jitter at most 25%


def test_retries_run_out_with_a_clear_message(mock):
    mock.enqueue(*[{"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}}] * 2)
    p = check_api(mock, retries=1)
    assert p.returncode == 1
    assert "overloaded (529) after 2 attempts; try again later" in p.stderr
    assert "request-id req_" in p.stderr
    assert len(mock.requests) == 2


def test_rate_limited_after_retries(mock):
    mock.enqueue(*[{"status": 429, "headers": {"retry-after-ms": "10"},
                    "error": {"type": "rate_limit_error", "message": "slow"}}] * 3)
    p = check_api(mock)
    assert p.returncode == 1
    assert "rate limited by the Anthropic API (429) after 3 attempts; try again later" in p.stderr


def test_x_should_retry_false_is_obeyed(mock):
    mock.enqueue({"status": 529, "headers": {"x-should-retry": "false"},
                  "error": {"type": "overloaded_error", "message": "Overloaded"}})
    p = check_api(mock)
    assert p.returncode == 1 and len(mock.requests) == 1


@pytest.mark.parametrize("status,etype,needle", [
    (400, "invalid_request_error", "the API refused the request (400 invalid_request_error): bad thing"),
    (403, "permission_error", "may not do this (403 permission_error)"),
    (404, "not_found_error", "check the model name and ANTHROPIC_BASE_URL"),
    (413, "request_too_large", "too large for the API (413)"),
])
def test_client_errors_are_not_retried(mock, status, etype, needle):
    mock.enqueue({"status": status, "error": {"type": etype, "message": "bad thing"}})
    p = check_api(mock)
    assert p.returncode == 1
    assert needle in p.stderr, p.stderr
    assert len(mock.requests) == 1


def test_a_rejected_key_says_so(mock):
    p = check_api(mock, key="sk-ant-wrong")
    assert p.returncode == 1
    assert "the Anthropic API key was rejected (401 authentication_error): check ANTHROPIC_API_KEY" in p.stderr
    assert len(mock.requests) == 1
    mock.take_violations()        # the mock counts a wrong key as a violation: here on purpose


def test_an_error_event_after_http_200(mock):
    mock.enqueue({"text": "partial answer that will break", "stream_error_after": 3,
                  "error": {"type": "overloaded_error", "message": "Overloaded"}})
    p = check_api(mock)
    assert p.returncode == 1
    assert "overloaded" in p.stderr
    assert len(mock.requests) == 1        # events had been passed on: no retry


def test_no_key_and_unreachable(mock):
    env = clean_env({"ANTHROPIC_BASE_URL": mock.url})
    p = subprocess.run([AGENTD_BIN, "check-api"], env=env, capture_output=True, text=True, timeout=20, cwd="/")
    assert p.returncode == 1 and "set ANTHROPIC_API_KEY" in p.stderr
    env = clean_env({"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
                     "AGENTD_API_MAX_RETRIES": "1"})
    p = subprocess.run([AGENTD_BIN, "check-api"], env=env, capture_output=True, text=True, timeout=20, cwd="/")
    assert p.returncode == 1
    assert "cannot reach the Anthropic API at http://127.0.0.1:9" in p.stderr and "(2 attempts)" in p.stderr
