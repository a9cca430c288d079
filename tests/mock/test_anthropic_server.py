"""Tests of the mock Messages API server itself (tests/mock/anthropic_server.py).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/mock
"""

import copy
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from anthropic_server import MockAnthropic, prompt_tokens  # noqa: E402

KEY = "sk-test-123"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01",
           "content-type": "application/json"}
BASH = {"type": "bash_20250124", "name": "bash"}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}
GREP = {"name": "grep", "description": "search files",
        "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}},
                         "required": ["pattern"]}}


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def mock():
    m = MockAnthropic(KEY).start()
    yield m
    m.stop()


def body(**over):
    b = {"model": "claude-test", "max_tokens": 1024,
         "messages": [{"role": "user", "content": "hello"}]}
    b.update(over)
    return b


def tool_conversation(ids=("toolu_a",), results=None, tail_text=None):
    """user -> assistant(tool_use ids) -> user(tool_result per id [+ text])."""
    uses = [{"type": "tool_use", "id": i, "name": "bash", "input": {"command": "ls"}}
            for i in ids]
    res = results if results is not None else [
        {"type": "tool_result", "tool_use_id": i, "content": "ok"} for i in ids]
    if tail_text:
        res = res + [{"type": "text", "text": tail_text}]
    return [{"role": "user", "content": "list files"},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}] + uses},
            {"role": "user", "content": res}]


def with_tools(**over):
    return body(tools=[BASH, EDITOR, GREP], **over)


def raw_call(m, data, headers=None, method="POST", path="/v1/messages", conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
    h = dict(HEADERS) if headers is None else headers
    c.request(method, path, data, h)
    r = c.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    if conn is None:
        c.close()
    return out


def call(m, b, headers=None, **kw):
    status, hdrs, data = raw_call(m, json.dumps(b).encode(), headers, **kw)
    return status, hdrs, data


def parse_sse(data):
    """Independent SSE parser: [(event, data dict)], asserting the API's framing."""
    text = data.decode("utf-8")
    assert text.endswith("\n\n")
    events = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and \
            lines[1].startswith("data: "), frame
        name, payload = lines[0][7:], json.loads(lines[1][6:])
        assert payload["type"] == name
        events.append((name, payload))
    return events


def names(events):
    return [n for n, _ in events]


def rebuild(events):
    """Accumulate a streamed message the way a client must."""
    msg, blocks, partial = None, {}, {}
    for name, d in events:
        if name == "message_start":
            msg = copy.deepcopy(d["message"])
        elif name == "content_block_start":
            blocks[d["index"]] = copy.deepcopy(d["content_block"])
            partial[d["index"]] = ""
        elif name == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                b["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[d["index"]] += delta["partial_json"]
            elif delta["type"] == "thinking_delta":
                b["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                b["signature"] += delta["signature"]
        elif name == "content_block_stop":
            b = blocks[d["index"]]
            if b["type"] == "tool_use":
                b["input"] = json.loads(partial[d["index"]] or "{}")
        elif name == "message_delta":
            msg.update(d["delta"])
            msg["usage"].update(d["usage"])
    msg["content"] = [blocks[i] for i in sorted(blocks)]
    return msg


def assert_api_error(status, hdrs, data, want_status, want_type, fragment):
    assert status == want_status, data
    err = json.loads(data)
    assert err["type"] == "error"
    assert err["error"]["type"] == want_type
    assert fragment in err["error"]["message"], err["error"]["message"]
    assert err["request_id"] == hdrs["request-id"] and err["request_id"].startswith("req_")


# --------------------------------------------------------------------------- validation

def _h(**over):
    h = dict(HEADERS)
    for k, v in over.items():
        k = k.replace("_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return h


HEADER_CASES = [
    ("no key", _h(x_api_key=None), 401, "authentication_error", "x-api-key header is required"),
    ("wrong key", _h(x_api_key="nope"), 401, "authentication_error", "invalid x-api-key"),
    ("no version", _h(anthropic_version=None), 400, "invalid_request_error",
     "anthropic-version: header is required"),
    ("bad version", _h(anthropic_version="2024-01-01"), 400, "invalid_request_error",
     "anthropic-version"),
    ("no content-type", _h(content_type=None), 400, "invalid_request_error", "content-type"),
    ("text content-type", _h(content_type="text/plain"), 400, "invalid_request_error",
     "content-type"),
]


@pytest.mark.parametrize("name,headers,status,etype,fragment", HEADER_CASES,
                         ids=[c[0] for c in HEADER_CASES])
def test_header_rules(mock, name, headers, status, etype, fragment):
    mock.enqueue({"text": "not used"})
    assert_api_error(*call(mock, body(), headers), status, etype, fragment)
    assert len(mock.violations) == 1 and fragment in mock.violations[0]
    assert mock.pending() == 1          # a rejected request does not consume a reply


@pytest.mark.parametrize("raw,fragment", [
    (b"{not json", "not valid JSON"),
    (b'{"model": "m", "max_tokens": NaN}', "not valid JSON"),
    (b'{"model": "\xff\xfe"}', "not valid JSON"),
    (b'{"model": "\\ud800", "max_tokens": 1, "messages": []}', "not valid JSON"),
    (b"[1, 2]", "Input should be a valid dictionary"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
], ids=["syntax", "nan", "bad-utf8", "lone-surrogate", "array", "deep-nesting"])
def test_body_must_be_valid_json(mock, raw, fragment):
    assert_api_error(*raw_call(mock, raw), 400, "invalid_request_error", fragment)
    assert len(mock.violations) == 1


def test_route_and_method(mock):
    assert_api_error(*call(mock, body(), path="/v1/complete"), 404, "not_found_error", "Not found")
    assert_api_error(*raw_call(mock, None, method="GET"), 405, "invalid_request_error",
                     "Method Not Allowed")
    assert len(mock.violations) == 2


def _user(content):
    return [{"role": "user", "content": content}]


def _tr(i, content="ok", **kw):
    return dict({"type": "tool_result", "tool_use_id": i, "content": content}, **kw)


# (id, request body, error type, fragment of the message); status 400 unless noted.
BODY_CASES = [
    ("extra top-level field", body(foo=1), "foo: Extra inputs are not permitted"),
    ("no model", {"max_tokens": 5, "messages": _user("x")}, "model: Field required"),
    ("empty model", body(model=""), "model: String should have at least 1 character"),
    ("model not string", body(model=3), "model: Input should be a valid string"),
    ("no max_tokens", {"model": "m", "messages": _user("x")}, "max_tokens: Field required"),
    ("max_tokens 0", body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    ("max_tokens string", body(max_tokens="5"), "max_tokens: Input should be a valid integer"),
    ("max_tokens float", body(max_tokens=5.5), "max_tokens: Input should be a valid integer"),
    ("max_tokens bool", body(max_tokens=True), "max_tokens: Input should be a valid integer"),
    ("max_tokens too big", body(max_tokens=64001), "64001 > 64000"),
    ("no messages", {"model": "m", "max_tokens": 5}, "messages: Field required"),
    ("messages empty", body(messages=[]), "messages: List should have at least 1 item"),
    ("messages not list", body(messages={}), "messages: Input should be a valid list"),
    ("message extra field", body(messages=[{"role": "user", "content": "x", "name": "a"}]),
     "messages.0.name: Extra inputs are not permitted"),
    ("message no content", body(messages=[{"role": "user"}]), "messages.0.content: Field required"),
    ("role system", body(messages=[{"role": "system", "content": "x"}]),
     "messages.0.role: Input should be 'user' or 'assistant'"),
    ("first assistant", body(messages=[{"role": "assistant", "content": "x"}]),
     'first message must use the "user" role'),
    ("two users", body(messages=_user("a") + _user("b")), "consecutive `user` messages"),
    ("two assistants", body(messages=_user("a") + [{"role": "assistant", "content": "b"}] * 2
                            + _user("c")), "consecutive `assistant` messages"),
    ("empty string content", body(messages=_user("")), "all messages must have non-empty content"),
    ("whitespace content", body(messages=_user("  \n")), "non-empty content"),
    ("empty list content", body(messages=_user([])), "all messages must have non-empty content"),
    ("content not str/list", body(messages=_user(5)), "messages.0.content: Input should be a valid"),
    ("unknown block type", body(messages=_user([{"type": "video", "x": 1}])),
     "Input tag 'video' found using 'type' does not match"),
    ("block without type", body(messages=_user([{"text": "x"}])), "messages.0.content.0.type: Field required"),
    ("empty text block", body(messages=_user([{"type": "text", "text": ""}])),
     "text content blocks must be non-empty"),
    ("whitespace text block", body(messages=_user([{"type": "text", "text": " "}])),
     "text content blocks must contain non-whitespace text"),
    ("text block extra field", body(messages=_user([{"type": "text", "text": "x", "id": 1}])),
     "messages.0.content.0.text.id: Extra inputs are not permitted"),
    ("image bad media type", body(messages=_user([{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": "AA=="}}])), "media_type"),
    ("bad cache_control", body(messages=_user([{"type": "text", "text": "x",
                                                "cache_control": {"type": "forever"}}])),
     "cache_control.type: Input should be 'ephemeral'"),
    ("tool_use in user message", with_tools(messages=_user([{"type": "tool_use", "id": "t",
                                                              "name": "bash", "input": {}}])),
     "`tool_use` blocks are only allowed in `assistant` messages"),
    ("tool_result in assistant", with_tools(messages=_user("x") + [
        {"role": "assistant", "content": [_tr("t")]}]),
     "`tool_result` blocks are only allowed in `user` messages"),
    ("tool_use without id", with_tools(messages=_user("x") + [{"role": "assistant", "content": [
        {"type": "tool_use", "name": "bash", "input": {}}]}]), "tool_use.id: Field required"),
    ("tool_use bad id", with_tools(messages=_user("x") + [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "a b", "name": "bash", "input": {}}]}] + _user([_tr("a b")])),
     "tool_use.id: String should match pattern"),
    ("tool_use input not object", with_tools(messages=_user("x") + [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "bash", "input": "ls"}]}] + _user([_tr("t")])),
     "tool_use.input: Input should be a valid dictionary"),
    ("tool_use extra field", with_tools(messages=_user("x") + [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "bash", "input": {}, "text": "x"}]}]),
     "messages.1.content.0.tool_use.text: Extra inputs are not permitted"),
    ("tool_result unknown id", with_tools(messages=tool_conversation(results=[_tr("toolu_zz")])),
     "unexpected `tool_use_id` found in `tool_result` blocks: toolu_zz"),
    ("tool_result missing", with_tools(messages=tool_conversation(
        ids=("t1", "t2"), results=[_tr("t1")])),
     "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: t2"),
    ("tool_result twice", with_tools(messages=tool_conversation(results=[_tr("toolu_a")] * 2)),
     "Found multiple `tool_result` blocks with id: toolu_a"),
    ("text before tool_result", with_tools(messages=tool_conversation(
        results=[{"type": "text", "text": "here"}, _tr("toolu_a")])),
     "`tool_result` blocks must come first"),
    ("tool_result in first message", with_tools(messages=_user([_tr("t")])),
     "unexpected `tool_use_id`"),
    ("tool_use never answered", with_tools(messages=tool_conversation()[:2]),
     "messages.1: `tool_use` ids were found without `tool_result` blocks"),
    ("tool_use then plain user", with_tools(messages=tool_conversation()[:2] + _user("and?")),
     "without `tool_result` blocks immediately after: toolu_a"),
    ("duplicate tool_use id", with_tools(messages=tool_conversation() + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "bash",
                                           "input": {}}]}, {"role": "user", "content": [_tr("toolu_a")]}]),
     "`tool_use` ids must be unique"),
    ("tool_result is_error not bool", with_tools(messages=tool_conversation(
        results=[_tr("toolu_a", is_error="yes")])), "is_error: Input should be a valid boolean"),
    ("tool blocks without tools", body(messages=tool_conversation()),
     "Requests which include `tool_use` or `tool_result` blocks must define tools."),
    ("system int", body(system=5), "system: Input should be a valid list"),
    ("system image block", body(system=[{"type": "image", "source": {}}]), "Input tag 'image'"),
    ("system empty text", body(system=[{"type": "text", "text": ""}]),
     "system: text content blocks must be non-empty"),
    ("tools not list", body(tools={}), "tools: Input should be a valid list"),
    ("custom tool no schema", body(tools=[{"name": "x"}]), "tools.0.custom.input_schema: Field required"),
    ("custom tool schema array", body(tools=[{"name": "x", "input_schema": {"type": "array"}}]),
     "tools.0.custom.input_schema.type: Input should be 'object'"),
    ("custom tool schema no type", body(tools=[{"name": "x", "input_schema": {}}]),
     "input_schema.type: Field required"),
    ("tool name bad chars", body(tools=[dict(GREP, name="grep files")]), "String should match pattern"),
    ("tool name too long", body(tools=[dict(GREP, name="g" * 65)]), "String should match pattern"),
    ("tool extra field", body(tools=[dict(GREP, parameters={})]),
     "tools.0.custom.parameters: Extra inputs are not permitted"),
    ("duplicate tool names", body(tools=[GREP, GREP]), "Tool names must be unique"),
    ("bash wrong name", body(tools=[dict(BASH, name="shell")]),
     "tools.0.bash_20250124.name: Input should be 'bash'"),
    ("editor wrong name", body(tools=[dict(EDITOR, name="str_replace_editor")]),
     "Input should be 'str_replace_based_edit_tool'"),
    ("bash with input_schema", body(tools=[dict(BASH, input_schema=GREP["input_schema"])]),
     "tools.0.bash_20250124.input_schema: Extra inputs are not permitted"),
    ("unknown tool type", body(tools=[{"type": "computer_20250124", "name": "computer"}]),
     "Input tag 'computer_20250124'"),
    ("editor max_characters 0", body(tools=[dict(EDITOR, max_characters=0)]),
     "max_characters: Input should be greater than or equal to 1"),
    ("stream not bool", body(stream="yes"), "stream: Input should be a valid boolean"),
    ("temperature too high", body(temperature=1.5), "temperature: Input should be between 0.0 and 1.0"),
    ("temperature string", body(temperature="0.5"), "temperature: Input should be a valid number"),
    ("top_p out of range", body(top_p=2), "top_p"),
    ("metadata extra", body(metadata={"user": "a"}), "metadata.user: Extra inputs are not permitted"),
    ("metadata user_id int", body(metadata={"user_id": 5}), "metadata.user_id: Input should be a valid string"),
    ("stop_sequences string", body(stop_sequences="STOP"), "stop_sequences: Input should be a valid list"),
    ("stop_sequences blank", body(stop_sequences=[" "]), "must contain non-whitespace"),
    ("tool_choice bad type", with_tools(tool_choice={"type": "required"}), "Input tag 'required'"),
    ("tool_choice unknown tool", with_tools(tool_choice={"type": "tool", "name": "nope"}),
     "tool 'nope' is not among the defined tools"),
    ("tool_choice tool no name", with_tools(tool_choice={"type": "tool"}), "tool_choice.tool.name: Field required"),
    ("tool_choice without tools", body(tool_choice={"type": "auto"}), "tool_choice may only be specified"),
    ("thinking unknown type", body(thinking={"type": "on"}), "Input tag 'on'"),
    ("thinking small budget", body(thinking={"type": "enabled", "budget_tokens": 100}),
     "budget_tokens: Input should be greater than or equal to 1024"),
    ("thinking budget >= max", body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}),
     "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ("thinking with temperature", body(max_tokens=4000, temperature=0.2,
                                       thinking={"type": "enabled", "budget_tokens": 1024}),
     "`temperature` may only be set to 1"),
    ("thinking forced tool", with_tools(max_tokens=4000, tool_choice={"type": "any"},
                                        thinking={"type": "enabled", "budget_tokens": 1024}),
     "Thinking may not be enabled when tool_choice forces tool use"),
    ("forged thinking signature", body(messages=_user("a") + [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "forged"},
        {"type": "text", "text": "b"}]}] + _user("c")), "Invalid `signature` in `thinking` block"),
]


@pytest.mark.parametrize("case", BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_body_rules_reject(mock, case):
    _, b, fragment = case
    mock.enqueue({"text": "not used"})
    status, hdrs, data = call(mock, b)
    assert_api_error(status, hdrs, data, 400, "invalid_request_error", fragment)
    assert len(mock.violations) == 1 and fragment in mock.violations[0]
    assert mock.requests[0]["status"] == 400 and mock.requests[0]["body"] == b
    assert mock.pending() == 1


def _thinking_cfg(**over):
    return dict({"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 1024}}, **over)


ACCEPT_CASES = [
    ("minimal", body()),
    ("block content", body(messages=_user([{"type": "text", "text": "hi",
                                            "cache_control": {"type": "ephemeral", "ttl": "1h"}}]))),
    ("unicode", body(messages=_user("héllo wörld ✓ 日本語 🚀"))),
    ("conversation", body(messages=_user("a") + [{"role": "assistant", "content": "b"}] + _user("c"))),
    ("assistant prefill", body(messages=_user("a") + [{"role": "assistant", "content": "The answer is"}])),
    ("everything optional", with_tools(
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True}, metadata={"user_id": "u1"},
        stop_sequences=["STOP"], temperature=0.0, top_p=0.9, top_k=5, stream=False,
        service_tier="auto")),
    ("system string", body(system="be brief")),
    ("tool round trip", with_tools(messages=tool_conversation())),
    ("parallel results in any order", with_tools(messages=tool_conversation(
        ids=("t1", "t2", "t3"), results=[_tr("t3"), _tr("t1"), _tr("t2")]))),
    ("text after results", with_tools(messages=tool_conversation(tail_text="now summarise"))),
    ("error result with blocks", with_tools(messages=tool_conversation(results=[
        _tr("toolu_a", content=[{"type": "text", "text": "boom"},
                                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                             "data": "iVBORw0KGgo="}}], is_error=True)]))),
    ("result with empty output", with_tools(messages=tool_conversation(results=[_tr("toolu_a", "")]))),
    ("result with blank block", with_tools(messages=tool_conversation(
        results=[_tr("toolu_a", [{"type": "text", "text": "  "}])]))),
    ("result without content", with_tools(messages=tool_conversation(
        results=[{"type": "tool_result", "tool_use_id": "toolu_a"}]))),
    ("document block", body(messages=_user([{"type": "document", "source": {
        "type": "text", "media_type": "text/plain", "data": "notes"}}, {"type": "text", "text": "sum"}]))),
    ("tool_choice tool", with_tools(tool_choice={"type": "tool", "name": "grep"})),
    ("tool_choice none", with_tools(tool_choice={"type": "none"})),
    ("editor max_characters", body(tools=[dict(EDITOR, max_characters=10000)])),
    ("custom tool type", body(tools=[dict(GREP, type="custom")])),
    ("thinking enabled", body(**_thinking_cfg(temperature=1))),
    ("thinking adaptive", body(thinking={"type": "adaptive"})),
    ("thinking disabled", body(thinking={"type": "disabled"}, temperature=0.3)),
    ("stream true", body(stream=True)),
    ("metadata null user", body(metadata={"user_id": None})),
    ("max_tokens at limit", body(max_tokens=64000)),
]


@pytest.mark.parametrize("case", ACCEPT_CASES, ids=[c[0] for c in ACCEPT_CASES])
def test_body_rules_accept(mock, case):
    _, b = case
    mock.enqueue({"text": "fine"})
    status, _, data = call(mock, b)
    assert status == 200, data
    assert mock.violations == []


def test_model_allow_list_answers_not_found():
    with MockAnthropic(KEY, models=["claude-a"]) as m:
        m.enqueue({"text": "ok"})
        assert call(m, body(model="claude-a"))[0] == 200
        assert_api_error(*call(m, body(model="claude-b")), 404, "not_found_error", "model: claude-b")
        assert len(m.violations) == 1


def test_max_output_tokens_is_configurable():
    with MockAnthropic(KEY, max_output_tokens=100) as m:
        assert_api_error(*call(m, body(max_tokens=101)), 400, "invalid_request_error", "101 > 100")


def test_consecutive_roles_allowed_when_not_strict():
    with MockAnthropic(KEY, strict_alternation=False) as m:
        m.enqueue({"text": "ok"})
        assert call(m, body(messages=_user("a") + _user("b")))[0] == 200
        assert m.violations == []


def test_thinking_round_trip_and_tampering(mock):
    """Thinking sent back unchanged is accepted; altered or dropped, it is rejected."""
    tools = [BASH]
    mock.enqueue({"thinking": "I should list.", "content": [
        {"type": "tool_use", "name": "bash", "input": {"command": "ls"}}]})
    first = body(tools=tools, **_thinking_cfg())
    status, _, data = call(mock, first)
    msg = json.loads(data)
    assert status == 200 and [b["type"] for b in msg["content"]] == ["thinking", "tool_use"]
    tid = msg["content"][1]["id"]
    convo = first["messages"] + [{"role": "assistant", "content": msg["content"]},
                                 {"role": "user", "content": [_tr(tid)]}]
    mock.enqueue({"text": "done"}, {"text": "x"}, {"text": "y"})
    assert call(mock, dict(first, messages=convo))[0] == 200
    assert mock.violations == []

    altered = copy.deepcopy(convo)
    altered[1]["content"][0]["thinking"] = "I should delete everything."
    assert_api_error(*call(mock, dict(first, messages=altered)), 400, "invalid_request_error",
                     "Invalid `signature` in `thinking` block")
    dropped = copy.deepcopy(convo)
    del dropped[1]["content"][0]
    assert_api_error(*call(mock, dict(first, messages=dropped)), 400, "invalid_request_error",
                     "must start with a thinking block")
    assert len(mock.take_violations()) == 2


def test_request_too_large():
    limit = 2000
    with MockAnthropic(KEY, max_body=limit) as m:
        big = json.dumps(body(messages=_user("x" * limit))).encode()
        assert_api_error(*raw_call(m, big), 413, "request_too_large", "maximum allowed number of bytes")
        # with Expect: 100-continue the server refuses before the body is sent
        s = socket.create_connection(("127.0.0.1", m.port))
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(big))
        head = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            head += piece
        s.close()
        assert head.startswith(b"HTTP/1.1 413") and b"request_too_large" in head
        # a chunked body is counted as it arrives
        c = http.client.HTTPConnection("127.0.0.1", m.port)
        c.request("POST", "/v1/messages", iter([big[:1500], big[1500:]]), HEADERS,
                  encode_chunked=True)
        r = c.getresponse()
        assert r.status == 413 and b"request_too_large" in r.read()
        assert len(m.violations) == 3


def test_chunked_request_body_is_accepted(mock):
    mock.enqueue({"text": "ok"})
    data = json.dumps(body()).encode()
    c = http.client.HTTPConnection("127.0.0.1", mock.port)
    c.request("POST", "/v1/messages", iter([data[:10], data[10:]]), HEADERS, encode_chunked=True)
    r = c.getresponse()
    assert r.status == 200, r.read()
    assert mock.requests[0]["raw_size"] == len(data)


# --------------------------------------------------------------------------- replies

def test_non_streaming_message_shape(mock):
    mock.enqueue({"text": "hello there"})
    b = body()
    status, hdrs, data = call(mock, b)
    msg = json.loads(data)
    assert status == 200 and hdrs["content-type"] == "application/json"
    assert hdrs["request-id"].startswith("req_")
    assert msg["id"].startswith("msg_") and msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["model"] == "claude-test"
    assert msg["content"] == [{"type": "text", "text": "hello there"}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["usage"] == {"input_tokens": prompt_tokens(b), "output_tokens": 3,
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                            "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                               "ephemeral_1h_input_tokens": 0}}
    assert mock.requests[0]["usage"] == msg["usage"]


def test_tool_use_reply_ids_and_stop_reason(mock):
    mock.enqueue({"content": [
        {"type": "text", "text": "Running two."},
        {"type": "tool_use", "name": "bash", "input": {"command": "ls /workspace"}},
        {"type": "tool_use", "id": "toolu_fixed", "name": "str_replace_based_edit_tool",
         "input": {"command": "view", "path": "/workspace/a.txt"}}]})
    msg = json.loads(call(mock, with_tools())[2])
    assert msg["stop_reason"] == "tool_use"
    assert msg["content"][1]["id"].startswith("toolu_") and msg["content"][2]["id"] == "toolu_fixed"


def test_usage_and_stop_reason_overrides(mock):
    mock.enqueue({"text": "cut", "stop_reason": "max_tokens",
                  "usage": {"input_tokens": 7, "cache_read_input_tokens": 100}},
                 {"text": "x", "stop_reason": "stop_sequence", "stop_sequence": "END"})
    msg = json.loads(call(mock, body())[2])
    assert msg["stop_reason"] == "max_tokens"
    assert msg["usage"]["input_tokens"] == 7 and msg["usage"]["cache_read_input_tokens"] == 100
    msg = json.loads(call(mock, body())[2])
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "END")


def test_input_tokens_follow_prompt_size(mock):
    mock.enqueue({"text": "a"}, {"text": "b"})
    small, big = body(), body(messages=_user("x" * 4000))
    u1 = json.loads(call(mock, small)[2])["usage"]["input_tokens"]
    u2 = json.loads(call(mock, big)[2])["usage"]["input_tokens"]
    assert (u1, u2) == (prompt_tokens(small), prompt_tokens(big))
    assert u2 > u1 + 900


# --------------------------------------------------------------------------- streaming

def stream(mock, reply, b=None):
    mock.enqueue(reply)
    status, hdrs, data = call(mock, b or with_tools(stream=True))
    assert status == 200, data
    assert hdrs["content-type"].startswith("text/event-stream")
    assert hdrs["transfer-encoding"] == "chunked" and hdrs["request-id"].startswith("req_")
    return parse_sse(data)


def test_stream_text_sequence(mock):
    events = stream(mock, {"text": "Hello, streaming world!"})
    assert names(events) == ["message_start", "content_block_start", "ping",
                             "content_block_delta", "content_block_delta",
                             "content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["id"].startswith("msg_")
    assert set(start["usage"]) >= {"input_tokens", "output_tokens", "cache_creation_input_tokens",
                                   "cache_read_input_tokens"}
    assert events[1][1] == {"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}
    assert all(d["delta"]["type"] == "text_delta" for n, d in events if n == "content_block_delta")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 6
    msg = rebuild(events)
    assert msg["content"] == [{"type": "text", "text": "Hello, streaming world!"}]


def test_stream_matches_non_streaming_message(mock):
    reply = {"thinking": "Let me think.", "content": [
        {"type": "text", "text": "Two calls: ünïcödé ✓"},
        {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "ls -la /workspace"}},
        {"type": "tool_use", "id": "toolu_2", "name": "grep", "input": {"pattern": "a\"b\\c\n"}}],
        "signature": "sig_abc"}
    mock.enqueue(dict(reply))
    plain = json.loads(call(mock, with_tools(**_thinking_cfg()))[2])
    streamed = rebuild(stream(mock, reply, with_tools(stream=True, **_thinking_cfg())))
    for m in (plain, streamed):        # the same prompt: stream=True counts nothing
        assert m.pop("id").startswith("msg_")
        assert m["usage"]["input_tokens"] == prompt_tokens(with_tools(**_thinking_cfg()))
    assert streamed == plain
    assert [b["type"] for b in plain["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert plain["content"][0] == {"type": "thinking", "thinking": "Let me think.", "signature": "sig_abc"}


def test_stream_tool_use_json_pieces(mock):
    tool_input = {"command": "find /workspace -name '*.c' | head -n 50", "restart": False}
    events = stream(mock, {"content": [{"type": "tool_use", "name": "bash", "input": tool_input}],
                           "chunk_chars": 5})
    start = next(d for n, d in events if n == "content_block_start")["content_block"]
    assert start["type"] == "tool_use" and start["input"] == {} and start["id"].startswith("toolu_")
    pieces = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert all(d["delta"]["type"] == "input_json_delta" for n, d in events if n == "content_block_delta")
    assert len(pieces) > 5 and all(len(p) <= 5 for p in pieces)
    assert json.loads("".join(pieces)) == tool_input
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_stream_tool_use_empty_input(mock):
    events = stream(mock, {"content": [{"type": "tool_use", "name": "bash", "input": {}}]})
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert deltas == [{"type": "input_json_delta", "partial_json": ""}]
    assert rebuild(events)["content"][0]["input"] == {}


def test_stream_thinking_deltas(mock):
    events = stream(mock, {"thinking": "Step one. Step two. Step three.", "text": "Answer."},
                    with_tools(stream=True, **_thinking_cfg()))
    kinds = [(d["index"], d["delta"]["type"]) for n, d in events if n == "content_block_delta"]
    assert kinds[0] == (0, "thinking_delta") and (0, "signature_delta") in kinds
    assert kinds.index((0, "signature_delta")) == max(i for i, k in enumerate(kinds) if k[0] == 0)
    assert kinds[-1] == (1, "text_delta")
    msg = rebuild(events)
    assert msg["content"][0]["thinking"] == "Step one. Step two. Step three."
    assert msg["content"][0]["signature"]


def test_stream_redacted_thinking_block(mock):
    events = stream(mock, {"content": [{"type": "redacted_thinking", "data": "EmwKAh"},
                                       {"type": "text", "text": "ok"}]})
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts[0] == {"type": "redacted_thinking", "data": "EmwKAh"}


def test_ping_every_and_unknown_events(mock):
    reply = {"text": "x" * 60, "chunk_chars": 6}
    base = names(stream(mock, reply))
    pinged = names(stream(mock, dict(reply, ping_every=2)))
    assert pinged.count("ping") > base.count("ping") + 3
    assert [n for n in pinged if n != "ping"] == [n for n in base if n != "ping"]
    odd = stream(mock, dict(reply, unknown_events=True))
    assert "mock_future_event" in names(odd)
    assert [e for e in odd if e[0] != "mock_future_event"] != []
    assert rebuild([e for e in odd if e[0] != "mock_future_event"])["content"][0]["text"] == "x" * 60


def test_dribble_splits_and_reassembles(mock):
    text = "Dribbled: ünïcödé 🚀 " * 5
    whole = stream(mock, {"text": text, "seed": 1})
    mock.enqueue({"text": text, "dribble": [1, 7], "delay_ms": 1, "seed": 1})
    data = json.dumps(with_tools(stream=True)).encode()
    s = socket.create_connection(("127.0.0.1", mock.port))
    s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\n"
              b"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (KEY.encode(), len(data), data))
    reads, raw = 0, b""
    while True:
        piece = s.recv(65536)
        if not piece:
            break
        reads += 1
        raw += piece
    s.close()
    rec = mock.requests[-1]
    assert rec["chunks"] and all(1 <= n <= 7 for n in rec["chunks"]) and len(rec["chunks"]) > 100
    assert reads > 20                                     # really written in separate pieces
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    payload, sizes = b"", []
    while True:                                          # decode the chunked framing
        line, _, chunked = chunked.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            break
        sizes.append(size)
        payload, chunked = payload + chunked[:size], chunked[size + 2:]
    assert sizes == rec["chunks"]
    # some piece boundary falls inside a multi-byte UTF-8 character
    cuts = set()
    pos = 0
    for n in sizes:
        pos += n
        cuts.add(pos)
    assert any((payload[c] & 0xC0) == 0x80 for c in cuts if c < len(payload))
    dribbled = parse_sse(payload)
    assert rebuild(dribbled)["content"] == rebuild(whole)["content"]


def test_dribble_non_streaming(mock):
    mock.enqueue({"text": "hello dribble", "dribble": [1, 3]})
    status, _, data = call(mock, body())
    assert status == 200 and json.loads(data)["content"][0]["text"] == "hello dribble"
    assert all(1 <= n <= 3 for n in mock.requests[0]["chunks"])


# --------------------------------------------------------------------------- faults

@pytest.mark.parametrize("reply,status,etype,header", [
    ({"status": 429, "headers": {"retry-after": "1"},
      "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}},
     429, "rate_limit_error", ("retry-after", "1")),
    ({"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}},
     529, "overloaded_error", None),
    ({"status": 500}, 500, "api_error", None),
    ({"status": 401, "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
     401, "authentication_error", None),
    ({"error": {"type": "overloaded_error", "message": "Overloaded"},
      "headers": {"retry-after-ms": "250", "x-should-retry": "true"}},
     529, "overloaded_error", ("retry-after-ms", "250")),
    ({"status": 408}, 408, "invalid_request_error", None),
], ids=["429", "529", "500", "401", "status-from-type", "408"])
def test_scripted_http_errors(mock, reply, status, etype, header):
    for streaming in (False, True):
        mock.enqueue(reply)
        st, hdrs, data = call(mock, body(stream=streaming))
        assert_api_error(st, hdrs, data, status, etype, "")
        if header:
            assert hdrs[header[0]] == header[1]
    assert mock.violations == []          # scripted faults are not the client's fault


def test_retry_sequence_then_success(mock):
    mock.enqueue({"status": 429, "headers": {"retry-after": "0"}}, {"status": 529},
                 {"text": "finally"})
    results = [call(mock, body())[0] for _ in range(3)]
    assert results == [429, 529, 200] and mock.pending() == 0


def test_stream_error_after_n_events(mock):
    events = stream(mock, {"text": "a" * 40, "chunk_chars": 10, "stream_error_after": 4,
                           "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert names(events) == ["message_start", "content_block_start", "ping",
                             "content_block_delta", "error"]
    assert events[-1][1] == {"type": "error",
                             "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert mock.violations == []


def test_stream_error_after_on_non_streaming_request(mock):
    mock.enqueue({"stream_error_after": 2, "error": {"type": "overloaded_error", "message": "x"}})
    assert_api_error(*call(mock, body()), 529, "overloaded_error", "x")


def test_disconnect_mid_stream(mock):
    mock.enqueue({"text": "a" * 50, "chunk_chars": 5, "disconnect_after": 3})
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
    c.request("POST", "/v1/messages", json.dumps(body(stream=True)), HEADERS)
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead) as exc:
        r.read()
    assert b"message_start" in exc.value.partial and b"message_stop" not in exc.value.partial
    assert mock.requests[0]["dropped"] and mock.violations == []


def test_drop_connection_before_response(mock):
    mock.enqueue({"drop": True}, {"text": "after"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        call(mock, body())
    assert call(mock, body())[0] == 200


def test_connections_are_listed_as_accepted_and_closed(mock):
    mock.enqueue({"text": "one"})
    idle = socket.create_connection(("127.0.0.1", mock.port))        # opened ahead, no request
    mine = idle.getsockname()[:2]
    mock.wait_for_connections(lambda cs: any(c["peer"] == mine for c in cs), timeout=10)
    assert call(mock, body())[0] == 200
    [first, second] = mock.connections()
    assert first["peer"] == mine and first["t_closed"] is None and first["id"] < second["id"]
    assert mock.requests[0]["connection"] == second["id"] and mock.requests[0]["t_connected"] == second["t_connected"]
    idle.close()
    mock.wait_for_connections(lambda cs: cs[0]["t_closed"] is not None, timeout=10)
    assert mock.connections()[0]["t_closed"] >= first["t_connected"]


def test_an_idle_connection_is_closed_after_idle_timeout():
    with MockAnthropic(KEY, idle_timeout=0.2) as m:
        s = socket.create_connection(("127.0.0.1", m.port))
        try:
            m.wait_for_connections(lambda cs: cs and cs[0]["t_closed"] is not None, timeout=10)
            s.settimeout(10)
            assert s.recv(1) == b""                      # the client sees the hang-up
        finally:
            s.close()


def test_latency(mock):
    mock.enqueue({"text": "slow", "latency_ms": 300})
    t0 = time.monotonic()
    assert call(mock, body())[0] == 200
    assert time.monotonic() - t0 >= 0.3


# --------------------------------------------------------------------------- queue and hooks

def test_empty_queue_is_a_violation(mock):
    assert_api_error(*call(mock, body()), 500, "api_error", "unexpected request")
    assert mock.violations and "unexpected request" in mock.violations[0]
    with pytest.raises(AssertionError):
        mock.assert_clean()
    assert len(mock.take_violations()) == 1 and mock.violations == []
    mock.assert_clean()


def test_replies_in_order(mock):
    mock.enqueue({"text": "one"}, {"text": "two"})
    mock.enqueue({"text": "three"})
    got = [json.loads(call(mock, body())[2])["content"][0]["text"] for _ in range(3)]
    assert got == ["one", "two", "three"]


def test_concurrent_requests_each_get_one_reply(mock):
    n = 100
    mock.enqueue(*({"text": f"r{i}"} for i in range(n)))
    out, lock = [], threading.Lock()

    def worker():
        s, _, d = call(mock, body())
        with lock:
            out.append((s, json.loads(d)["content"][0]["text"]))
    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(t for _, t in out) == sorted(f"r{i}" for i in range(n))
    assert {s for s, _ in out} == {200} and len(mock.requests) == n and mock.pending() == 0


@pytest.mark.parametrize("bad", [
    "text", {"nonsense": 1}, {"dribble": [0, 3]}, {"dribble": [5, 2]}, {"stop_reason": "done"},
    {"content": [{"type": "image"}]}, {"content": [{"type": "tool_use"}]}, {"assert": 5},
    {"error": "boom"}, {"chunk_chars": 0}, {"ping_every": 0}, {"status": "429"},
    {"status": True}, {"content": [{"type": "text"}]}, {"content": "hello"},
    {"content": [{"type": "tool_use", "name": "bash", "input": "ls"}]}, {"content": [{"type": []}]},
])
def test_enqueue_rejects_malformed_replies(mock, bad):
    with pytest.raises(ValueError):
        mock.enqueue(bad)
    assert mock.pending() == 0


def test_internal_error_is_reported_not_fatal(mock, monkeypatch):
    def broken(*a):
        raise RuntimeError("boom")
    monkeypatch.setattr(mock, "_build_message", broken)
    mock.enqueue({"text": "a"})
    assert_api_error(*call(mock, body()), 500, "api_error", "mock internal error")
    assert "mock internal error: RuntimeError: boom" in mock.violations[0]
    monkeypatch.undo()
    mock.enqueue({"text": "b"})
    assert call(mock, body())[0] == 200


def test_assert_hook(mock):
    mock.enqueue({"text": "a", "assert": lambda req: req["body"]["system"] == "be brief"},
                 {"text": "b", "assert": lambda req: req["body"]["system"] == "be brief"})
    assert call(mock, body(system="be brief"))[0] == 200
    assert mock.violations == []
    assert call(mock, body(system="other"))[0] == 200      # the reply still goes out
    assert len(mock.violations) == 1 and "assert failed" in mock.violations[0]


def test_assert_hook_exception(mock):
    def hook(req):
        assert req["stream"], "expected a streaming request"
    mock.enqueue({"text": "a", "assert": hook})
    call(mock, body())
    assert "expected a streaming request" in mock.violations[0]


def test_auto_echo():
    with MockAnthropic(KEY, auto=True) as m:
        for text in ("first", "second ✓"):
            msg = json.loads(call(m, body(messages=_user(text)))[2])
            assert msg["content"] == [{"type": "text", "text": text}]
        assert m.violations == []


def test_auto_bash_then_echo():
    with MockAnthropic(KEY, auto="bash", auto_command="ls /workspace") as m:
        first = with_tools(messages=_user("list"))
        msg = json.loads(call(m, first)[2])
        use = msg["content"][0]
        assert use["type"] == "tool_use" and use["input"] == {"command": "ls /workspace"}
        convo = first["messages"] + [{"role": "assistant", "content": msg["content"]},
                                     {"role": "user", "content": [_tr(use["id"], "a.txt\nb.txt")]}]
        events = parse_sse(call(m, dict(first, messages=convo, stream=True))[2])
        assert rebuild(events)["content"] == [{"type": "text", "text": "a.txt\nb.txt"}]
        assert m.violations == []


# --------------------------------------------------------------------------- robustness

def test_keep_alive_across_replies(mock):
    mock.enqueue({"text": "a"}, {"text": "b"}, {"text": "c"})
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
    for b, want in ((body(), 200), (body(stream=True), 200), (body(foo=1), 400), (body(), 200)):
        assert raw_call(mock, json.dumps(b).encode(), conn=c)[0] == want
    c.close()


def test_garbage_does_not_kill_the_server(mock):
    for junk in (b"\x00\x01\x02 not http\r\n\r\n", b"POST /v1/messages HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                 b"POST /v1/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort"):
        s = socket.create_connection(("127.0.0.1", mock.port))
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        while s.recv(65536):
            pass
        s.close()
    mock.enqueue({"text": "still here"})
    assert call(mock, body())[0] == 200


def test_client_disconnect_mid_stream_is_survived(mock):
    mock.enqueue({"text": "z" * 2000, "chunk_chars": 1, "dribble": [1, 2], "delay_ms": 1},
                 {"text": "next"})
    s = socket.create_connection(("127.0.0.1", mock.port))
    data = json.dumps(body(stream=True)).encode()
    s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: "
              b"2023-06-01\r\ncontent-type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (KEY.encode(), len(data), data))
    s.recv(100)
    s.close()
    assert call(mock, body())[0] == 200
    assert mock.violations == []


def test_script_mode(tmp_path):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"text": "from script"}]))
    log = tmp_path / "log.json"
    proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "anthropic_server.py"), "--port", "0",
                             "--key", KEY, "--script", str(script), "--log", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        req = urllib.request.Request(url + "/v1/messages", json.dumps(body()).encode(), HEADERS)
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["content"][0]["text"] == "from script"
        ctl = urllib.request.Request(url + "/_mock/enqueue", json.dumps({"text": "late"}).encode())
        with urllib.request.urlopen(ctl, timeout=10) as r:
            assert json.loads(r.read()) == {"pending": 1}
        with urllib.request.urlopen(url + "/_mock/state", timeout=10) as r:
            assert json.loads(r.read()) == {"requests": 1, "pending": 1, "violations": []}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert json.loads(log.read_text())["violations"] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_script_mode_exit_status_reports_violations(tmp_path):
    log = tmp_path / "log.json"
    proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "anthropic_server.py"), "--port", "0",
                             "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, MOCK_ANTHROPIC_KEY=KEY))
    try:
        url = proc.stdout.readline().split()[-1]
        req = urllib.request.Request(url + "/v1/messages", json.dumps(body(max_tokens=0)).encode(),
                                     HEADERS)
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=10)
        assert exc.value.code == 400
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 1
        assert "max_tokens" in proc.stderr.read()
        assert "max_tokens" in json.loads(log.read_text())["violations"][0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
