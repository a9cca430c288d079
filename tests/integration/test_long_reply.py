"""A reply as long as the configured max_tokens allows, streamed by the API in small
deltas, reaches the client whole: as the JSON reply and as Server-Sent Events. Every
delta crosses the supervisor's relay, the agent's stream assembly, a "text" run event,
the gateway's event log and the client's queue; each of them once copied the text so
far per delta, and such a reply then took minutes (or never ended).

These tests check that the reply arrives, exactly, within a deadline that is generous
for any machine; they do not time it. tests/bench/long_reply_bench.py carries the
speed figure (and how it grows with the length)."""

import pytest

from chat_util import (MODEL, chat_ok, check_stream_done, finish, start_chat_daemon,  # noqa: F401
                       stream_chat, mock)

MAX_TOKENS = 64000            # anthropic.max_tokens here; the mock's own ceiling is 64000
DELTA = 8                     # characters per text_delta
DEADLINE = 600                # seconds for the whole request: a hang, not a speed limit
# every kind of character on the way: JSON escapes, control characters, UTF-8 of 2 to 4
# bytes, and numbered pieces so that a delta lost, doubled or moved shows where
PIECE = 'line {:06d}: "q" \\ back\tslash\nné ß € 中 🙂 \x01 '


def long_text():
    """Exactly 4 * MAX_TOKENS characters: the mock counts ceil(chars / 4) output tokens."""
    want = 4 * MAX_TOKENS
    out, n, size = [], 0, 0
    while size < want:
        p = PIECE.format(n)
        out.append(p)
        size += len(p)
        n += 1
    return "".join(out)[:want]


@pytest.fixture
def longd(daemon_factory, mock):
    return start_chat_daemon(daemon_factory, mock, AGENTD_MAX_TOKENS=MAX_TOKENS)


def enqueue_long(mock):
    text = long_text()
    assert len(text) == 4 * MAX_TOKENS
    mock.enqueue({"text": text, "chunk_chars": DELTA, "stop_reason": "max_tokens"})
    return text


def check_call(mock, doc):
    """One model call, asked for the configured max_tokens, answered with all of them."""
    assert len(mock.requests) == 1
    req = mock.requests[0]
    assert req["body"]["max_tokens"] == MAX_TOKENS and req["body"]["model"] == MODEL
    assert req["usage"]["output_tokens"] == MAX_TOKENS
    assert req["events"].count("content_block_delta") == 4 * MAX_TOKENS // DELTA
    assert doc["usage"]["output_tokens"] == MAX_TOKENS, doc["usage"]
    assert doc["stop_reason"] == "max_tokens" and doc["model_calls"] == 1, {k: doc[k] for k in ("stop_reason", "model_calls")}


def first_difference(a, b):
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"lengths {len(a)} and {len(b)}, first difference at {i}: {a[i:i + 40]!r} != {b[i:i + 40]!r}"


def test_a_reply_at_max_tokens_comes_whole_as_json(longd, mock):
    text = enqueue_long(mock)
    doc = chat_ok(longd, "write as much as you may", timeout=DEADLINE)
    assert doc["reply"] == text, first_difference(doc["reply"], text)
    check_call(mock, doc)
    finish(longd, mock)


def test_a_reply_at_max_tokens_comes_whole_as_events(longd, mock):
    text = enqueue_long(mock)
    s = stream_chat(longd, {"message": "write as much as you may", "stream": True}, timeout=DEADLINE)
    doc = check_stream_done(s)          # also: the text events joined are the reply
    assert s.text == text, first_difference(s.text, text)
    assert doc["reply"] == text, first_difference(doc["reply"], text)
    assert all(e.data["text"] for e in s.of("text")), "an empty text event"
    check_call(mock, doc)
    finish(longd, mock)
