"""The mock's betas: request fields the API takes only when the anthropic-beta header names
their beta (context_management, thinking.display "updates"), checked in depth when it
does, and still refused as unknown without it. The shapes are those Claude Code 2.1.332
sends with --model claude-sonnet-4-5.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/mock
"""

import http.client
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from anthropic_server import MockAnthropic  # noqa: E402
from test_anthropic_server import HEADERS, KEY, assert_api_error, body, call  # noqa: E402

CONTEXT = "context-management-2025-06-27"
DISPLAY = "thinking-display-updates-2026-08-18"
# the anthropic-beta header of Claude Code 2.1.332 with claude-sonnet-4-5
CLI_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
             "thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,"
             "thinking-display-updates-2026-08-18")
KEEP_ALL = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
COUNT = "/v1/messages/count_tokens"


@pytest.fixture
def mock():
    m = MockAnthropic(KEY, auto=True).start()
    yield m
    m.stop()


def betas(*names):
    return dict(HEADERS, **{"anthropic-beta": ",".join(names)})


def thinking(display=None, **over):
    cfg = {"type": "enabled", "budget_tokens": 31999}
    if display is not None:
        cfg["display"] = display
    return body(max_tokens=32000, thinking=cfg, **over)


def cli_body():
    """A first request shaped as the CLI's (its texts are ours)."""
    tool = {"name": "Bash", "description": "Run a command.",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                             "required": ["command"], "additionalProperties": False,
                             "$schema": "http://json-schema.org/draft-07/schema#"}}
    return thinking("updates", stream=True, context_management=KEEP_ALL,
                    metadata={"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "",
                                                     "session_id": "0f0e-11"})},
                    system=[{"type": "text", "text": "x-anthropic-billing-header: cc_version=0;"},
                            {"type": "text", "text": "You are an agent.",
                             "cache_control": {"type": "ephemeral"}}],
                    tools=[tool, {"name": "Placeholder", "description": "deferred",
                                  "input_schema": {"type": "object"}, "defer_loading": True}],
                    messages=[{"role": "user", "content": [
                        {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                        {"type": "text", "text": "say hello", "cache_control": {"type": "ephemeral"}}]}])


def refused(m, b, headers, fragment, path="/v1/messages"):
    assert_api_error(*call(m, b, headers, path=path), 400, "invalid_request_error", fragment)
    assert fragment in m.take_violations()[-1]


def test_the_cli_first_request_is_taken_with_its_betas(mock):
    status, _, data = call(mock, cli_body(), betas(CLI_BETAS), path="/v1/messages?beta=true")
    assert status == 200, data
    assert mock.violations == []


def test_without_its_beta_a_beta_field_is_still_an_unknown_field(mock):
    b = cli_body()
    assert call(mock, b, betas(CLI_BETAS))[0] == 200
    others = CLI_BETAS.replace(CONTEXT + ",", "")
    refused(mock, b, betas(others), "context_management: Extra inputs are not permitted")
    refused(mock, b, HEADERS, "context_management: Extra inputs are not permitted")


def test_betas_may_come_in_several_headers_and_with_spaces(mock):
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
    c.putrequest("POST", "/v1/messages")
    data = json.dumps(cli_body()).encode()
    for k, v in dict(HEADERS, **{"content-length": str(len(data))}).items():
        c.putheader(k, v)
    c.putheader("anthropic-beta", f"claude-code-20250219, {CONTEXT}")
    c.putheader("anthropic-beta", f" {DISPLAY} ")
    c.endheaders(data)
    r = c.getresponse()
    assert r.status == 200, r.read()
    r.read()
    c.close()
    assert mock.violations == []


def test_display_updates_needs_its_beta_the_documented_ones_none(mock):
    refused(mock, thinking("updates"), betas(CONTEXT),
            "thinking.enabled.display: Input should be 'summarized' or 'omitted'")
    assert call(mock, thinking("updates"), betas(DISPLAY))[0] == 200
    adaptive = body(thinking={"type": "adaptive", "display": "updates"})
    refused(mock, adaptive, HEADERS, "thinking.adaptive.display: Input should be")
    assert call(mock, adaptive, betas(DISPLAY))[0] == 200
    for display in ("summarized", "omitted", None):
        assert call(mock, thinking(display), HEADERS)[0] == 200
    assert mock.violations == []


def test_an_unknown_display_is_refused_even_with_the_beta(mock):
    refused(mock, thinking("verbose"), betas(DISPLAY),
            "thinking.enabled.display: Input should be 'summarized', 'omitted' or 'updates'")


CLEAR_TOOLS = {"type": "clear_tool_uses_20250919",
               "trigger": {"type": "input_tokens", "value": 100000},
               "keep": {"type": "tool_uses", "value": 3},
               "clear_at_least": {"type": "input_tokens", "value": 5000},
               "exclude_tools": ["Read"], "clear_tool_inputs": True}
ACCEPT = [
    ("keep all", KEEP_ALL),
    ("keep thinking turns", {"edits": [{"type": "clear_thinking_20251015",
                                        "keep": {"type": "thinking_turns", "value": 2}}]}),
    ("keep by default", {"edits": [{"type": "clear_thinking_20251015"}]}),
    ("every tool-use field", {"edits": [CLEAR_TOOLS]}),
    ("tool-use trigger by count, inputs of some tools",
     {"edits": [dict(CLEAR_TOOLS, trigger={"type": "tool_uses", "value": 10},
                     clear_tool_inputs=["Edit", "Write"])]}),
    ("only the type", {"edits": [{"type": "clear_tool_uses_20250919"}]}),
    ("both, thinking first", {"edits": [KEEP_ALL["edits"][0], CLEAR_TOOLS]}),
    ("no edits", {}),
]


@pytest.mark.parametrize("cm", [c[1] for c in ACCEPT], ids=[c[0] for c in ACCEPT])
def test_context_management_shapes_accepted(mock, cm):
    status, _, data = call(mock, thinking(context_management=cm), betas(CONTEXT))
    assert status == 200, data
    assert mock.violations == []


def _edit(**over):
    return {"edits": [dict(CLEAR_TOOLS, **over)]}


REFUSE = [
    ("unknown edit type", {"edits": [{"type": "clear_everything"}]},
     "context_management.edits.0: Input tag 'clear_everything' found using 'type' does not "
     "match any of the expected tags: 'clear_tool_uses_20250919', 'clear_thinking_20251015'"),
    ("edit without type", {"edits": [{"keep": "all"}]}, "context_management.edits.0.type: Field required"),
    ("extra field in thinking edit", {"edits": [{"type": "clear_thinking_20251015", "keep": "all",
                                                 "trigger": {"type": "input_tokens", "value": 1}}]},
     "context_management.edits.0.clear_thinking_20251015.trigger: Extra inputs are not permitted"),
    ("extra field in tool-use edit", _edit(placeholder="[cleared]"),
     "context_management.edits.0.clear_tool_uses_20250919.placeholder: Extra inputs are not permitted"),
    ("extra top-level key", dict(KEEP_ALL, strategy="auto"),
     "context_management.strategy: Extra inputs are not permitted"),
    ("edits not a list", {"edits": KEEP_ALL["edits"][0]},
     "context_management.edits: Input should be a valid list"),
    ("keep some", {"edits": [{"type": "clear_thinking_20251015", "keep": "some"}]},
     "context_management.edits.0.clear_thinking_20251015.keep: Input should be 'all'"),
    ("keep zero turns", {"edits": [{"type": "clear_thinking_20251015",
                                    "keep": {"type": "thinking_turns", "value": 0}}]},
     "keep.thinking_turns.value: Input should be greater than or equal to 1"),
    ("trigger of a wrong type", _edit(trigger={"type": "messages", "value": 5}),
     "clear_tool_uses_20250919.trigger: Input tag 'messages' found using 'type'"),
    ("keep in tokens", _edit(keep={"type": "input_tokens", "value": 5}),
     "clear_tool_uses_20250919.keep: Input tag 'input_tokens' found using 'type'"),
    ("trigger without value", _edit(trigger={"type": "input_tokens"}),
     "clear_tool_uses_20250919.trigger.input_tokens.value: Field required"),
    ("value not an integer", _edit(clear_at_least={"type": "input_tokens", "value": "5000"}),
     "clear_at_least.input_tokens.value: Input should be a valid integer"),
    ("exclude_tools not strings", _edit(exclude_tools=[1]),
     "clear_tool_uses_20250919.exclude_tools.0: Input should be a valid string"),
    ("clear_tool_inputs a string", _edit(clear_tool_inputs="yes"),
     "clear_tool_uses_20250919.clear_tool_inputs: Input should be a valid boolean or list"),
    ("thinking edit second", {"edits": [CLEAR_TOOLS, KEEP_ALL["edits"][0]]},
     "`clear_thinking_20251015` must be the first edit"),
]


@pytest.mark.parametrize("cm,fragment", [c[1:] for c in REFUSE], ids=[c[0] for c in REFUSE])
def test_context_management_shapes_refused(mock, cm, fragment):
    refused(mock, thinking(context_management=cm), betas(CONTEXT), fragment)
    assert mock.requests[0]["status"] == 400


def test_count_tokens_takes_context_management_with_its_beta(mock):
    b = {"model": "claude-test", "messages": [{"role": "user", "content": "hi"}],
         "context_management": KEEP_ALL}
    status, _, data = call(mock, b, betas(CONTEXT), path=COUNT)
    assert status == 200 and json.loads(data)["input_tokens"] > 0, data
    refused(mock, b, HEADERS, "context_management: Extra inputs are not permitted", path=COUNT)
    refused(mock, dict(b, context_management={"edits": [{"type": "nope"}]}), betas(CONTEXT),
            "context_management.edits.0: Input tag 'nope'", path=COUNT)
