#!/usr/bin/env python3
"""A local Anthropic Messages API (POST /v1/messages) for agentd's tests.

It validates every request the way the real API does (headers, body shape, the
conversation and tool_use/tool_result rules) and answers a violation with the real
error shape, recording it in .violations so that the test using the mock fails. Valid
requests get the next scripted reply from a queue, as one JSON message or as the
exact SSE sequence of a streaming response, billed with the API's prompt cache
(prompt_cache.py); POST /v1/messages/count_tokens counts a prompt. Python 3 standard
library only.

As a library:   mock = MockAnthropic(api_key="k").start(); mock.enqueue({...})
As a script:    anthropic_server.py --port 0 --script replies.json [--log out.json]
See README.md next to this file for the scripted-reply format.
"""

import argparse
import copy
import itertools
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# prompt_tokens is exported from here too: tests compute their expected usage with it
from prompt_cache import (DEFAULT_CONTEXT_WINDOW, DEFAULT_MIN_TOKENS, Prompt, PromptCache,  # noqa: F401
                          PromptError, prompt_tokens, usage_for)

API_VERSION = "2023-06-01"
MAX_BODY = 32 * 1024 * 1024          # the Messages API's request size limit (32 MB)
DEFAULT_MAX_OUTPUT = 64000           # max_tokens ceiling applied to every model
MAX_MESSAGES = 100_000
MESSAGES_PATH = "/v1/messages"
COUNT_PATH = "/v1/messages/count_tokens"

STATUS_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}
ERROR_TYPE_STATUS = {v: k for k, v in STATUS_ERROR_TYPES.items()}
REASONS = {413: "Payload Too Large", 429: "Too Many Requests", 529: "Overloaded"}
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn",
                "refusal", "model_context_window_exceeded"}

TOP_LEVEL_FIELDS = {
    "model", "messages", "max_tokens", "system", "tools", "tool_choice", "stream",
    "temperature", "top_p", "top_k", "stop_sequences", "metadata", "thinking",
    "service_tier", "cache_control", "container", "inference_geo", "output_config",
}
# count_tokens takes the prompt and what shapes it, no sampling or output fields.
COUNT_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking",
                "cache_control", "output_config"}
# Betas: the API takes these request fields only when the anthropic-beta header names the
# beta (without it they are unknown fields, "Extra inputs are not permitted").
BETA_FIELDS = {"context_management": "context-management-2025-06-27"}   # both endpoints
# Context editing (beta): the edit types and the fields of each, as the API's context
# editing page and the SDKs' types give them (keep: "all" or {"type": "thinking_turns", "value": N};
# trigger, keep, clear_at_least: {"type": ..., "value": N}; clear_tool_inputs: true/false
# or tool names). The page gives no bounds for N: the mock wants a trigger and a number of
# turns of at least 1, the rest at least 0.
CONTEXT_EDITS = {
    "clear_tool_uses_20250919": {"type", "trigger", "keep", "clear_at_least", "exclude_tools",
                                 "clear_tool_inputs"},
    "clear_thinking_20251015": {"type", "keep"},
}
# thinking.display: the documented values, and those a beta adds. "updates" is not in the
# stored API docs; it is what Claude Code 2.1.332 sends along with this beta.
THINKING_DISPLAYS = ("summarized", "omitted")
BETA_THINKING_DISPLAYS = {"updates": "thinking-display-updates-2026-08-18"}
# Content blocks: allowed fields and required fields, per type.
BLOCK_FIELDS = {
    "text": ({"type", "text", "cache_control", "citations"}, ("text",)),
    "image": ({"type", "source", "cache_control"}, ("source",)),
    "document": ({"type", "source", "cache_control", "citations", "context", "title"}, ("source",)),
    "search_result": ({"type", "source", "title", "content", "cache_control", "citations"},
                      ("source", "title", "content")),
    "tool_use": ({"type", "id", "name", "input", "cache_control"}, ("id", "name", "input")),
    "tool_result": ({"type", "tool_use_id", "content", "is_error", "cache_control"}, ("tool_use_id",)),
    "thinking": ({"type", "thinking", "signature"}, ("thinking", "signature")),
    "redacted_thinking": ({"type", "data"}, ("data",)),
}
MESSAGE_BLOCKS = ("text", "image", "document", "tool_use", "tool_result", "thinking",
                  "redacted_thinking")
TOOL_RESULT_BLOCKS = ("text", "image", "document", "search_result")
ROLE_ONLY = {"tool_use": "assistant", "thinking": "assistant",
             "redacted_thinking": "assistant", "tool_result": "user"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}

CUSTOM_TOOL_FIELDS = {"type", "name", "description", "input_schema", "cache_control",
                      "strict", "defer_loading", "input_examples", "allowed_callers"}
COMMON_TOOL_FIELDS = {"type", "name", "cache_control", "strict", "defer_loading",
                      "input_examples", "allowed_callers"}
# Anthropic-defined tool types: the name each one must carry and its extra fields.
ANTHROPIC_TOOLS = {
    "bash_20250124": ("bash", set()),
    "text_editor_20250728": ("str_replace_based_edit_tool", {"max_characters"}),
    "text_editor_20250429": ("str_replace_based_edit_tool", set()),
    "text_editor_20250124": ("str_replace_editor", set()),
}
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")

# How long a gated reply waits for its gate at most (the test opens it long before).
GATE_WAIT_S = 300

REPLY_KEYS = {
    "content", "text", "thinking", "signature", "stop_reason", "stop_sequence", "usage",
    "model", "status", "headers", "error", "stream_error_after", "disconnect_after", "drop",
    "dribble", "delay_ms", "latency_ms", "seed", "ping_every", "unknown_events",
    "chunk_chars", "assert", "gate",
}
REPLY_TYPES = {       # reply key -> the type its value must have
    "content": list, "text": str, "thinking": str, "signature": str, "stop_sequence": str,
    "usage": dict, "model": str, "status": int, "headers": dict, "error": dict,
    "stream_error_after": int, "disconnect_after": int, "drop": bool, "dribble": list,
    "delay_ms": (int, float), "latency_ms": (int, float), "ping_every": int,
    "unknown_events": bool, "chunk_chars": int, "gate": str,
}
REPLY_BLOCKS = {"text": "text", "tool_use": "name", "thinking": "thinking",
                "redacted_thinking": "data"}          # block type -> its required string

_B62 = string.ascii_letters + string.digits


def error_type_for(status):
    return STATUS_ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def new_id(prefix, n=24):
    return prefix + "".join(secrets.choice(_B62) for _ in range(n))


def output_tokens_for(content):
    """The output_tokens the mock reports for a list of reply content blocks."""
    chars = 0
    for b in content:
        if b["type"] == "tool_use":
            chars += len(_compact(b["input"]))
        else:
            chars += len(b.get("text") or b.get("thinking") or b.get("data") or "")
    return max(1, math.ceil(chars / 4))


def _compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class ApiError(Exception):
    """An error answered in the real API's shape."""

    def __init__(self, status, message, etype=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.etype = etype or error_type_for(status)
        self.headers = headers or {}


def _bad(message):
    raise ApiError(400, message)


# ------------------------------------------------------------------ field helpers

def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _need(value, ok, path, what):
    if not ok(value):
        _bad(f"{path}: Input should be a valid {what}")
    return value


def _obj(v, path):
    return _need(v, lambda x: isinstance(x, dict), path, "dictionary")


def _list(v, path):
    return _need(v, lambda x: isinstance(x, list), path, "list")


def _str(v, path):
    return _need(v, lambda x: isinstance(x, str), path, "string")


def _int(v, path):
    return _need(v, lambda x: isinstance(x, int) and not isinstance(x, bool), path, "integer")


def _bool(v, path):
    return _need(v, lambda x: isinstance(x, bool), path, "boolean")


def _num(v, path, lo, hi):
    _need(v, lambda x: isinstance(x, (int, float)) and not isinstance(x, bool), path, "number")
    if not lo <= v <= hi:
        _bad(f"{path}: Input should be between {lo} and {hi}")
    return v


def _fields(obj, path, allowed, required=()):
    for k in obj:
        if k not in allowed:
            _bad(f"{_join(path, k)}: Extra inputs are not permitted")
    for k in required:
        if k not in obj:
            _bad(f"{_join(path, k)}: Field required")


def _tag(obj, path, allowed):
    """The 'type' of a tagged union member, which must be one of allowed."""
    _obj(obj, path)
    if "type" not in obj:
        _bad(f"{path}.type: Field required")
    t = obj["type"]
    if t not in allowed:
        expected = ", ".join(f"'{a}'" for a in allowed)
        _bad(f"{path}: Input tag '{t}' found using 'type' does not match any of the "
             f"expected tags: {expected}")
    return t


def _one_of(v, path, allowed):
    if v not in allowed:
        quoted = [f"'{a}'" for a in allowed]
        text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        _bad(f"{path}: Input should be {text}")


def _count(v, path, lo):
    """An {"type": ..., "value": N} threshold of context editing; lo: the least N."""
    t = _tag(v, path, tuple(lo))
    _fields(v, f"{path}.{t}", {"type", "value"}, ("value",))
    if _int(v["value"], f"{path}.{t}.value") < lo[t]:
        _bad(f"{path}.{t}.value: Input should be greater than or equal to {lo[t]}")


def betas_of(headers):
    """The beta names of a request: every anthropic-beta header, each a comma-separated
    list (the API reads them all)."""
    names = []
    for value in headers.get_all("anthropic-beta") or []:
        names += [n.strip() for n in value.split(",") if n.strip()]
    return frozenset(names)


def _cache_control(v, path):
    _obj(v, path)
    _fields(v, path, {"type", "ttl"}, ("type",))
    if v["type"] != "ephemeral":
        _bad(f"{path}.type: Input should be 'ephemeral'")
    if "ttl" in v and v["ttl"] not in ("5m", "1h"):
        _bad(f"{path}.ttl: Input should be '5m' or '1h'")


# ------------------------------------------------------------------ validation

class RequestValidator:
    """Checks one parsed request body; raises ApiError on the first problem."""

    def __init__(self, mock):
        self.mock = mock

    def validate(self, body, count=False, betas=frozenset()):
        """count: a count_tokens body, which has no max_tokens nor sampling fields.
        betas: the names in the request's anthropic-beta headers (betas_of)."""
        _obj(body, "body")
        extra = {f for f, beta in BETA_FIELDS.items() if beta in betas}
        if count:
            _fields(body, "", COUNT_FIELDS | extra, ("model", "messages"))
        else:
            _fields(body, "", TOP_LEVEL_FIELDS | extra, ("model", "max_tokens", "messages"))
        self._model(body["model"])
        if not count:
            self._max_tokens(body["max_tokens"], body["model"])
        self._optional(body)
        tool_names = self._tools(body.get("tools"))
        thinking = self._thinking(body, betas)
        if "context_management" in body:
            self._context_management(body["context_management"])
        if "tool_choice" in body:
            self._tool_choice(body["tool_choice"], tool_names, thinking)
        self._messages(body["messages"], "tools" in body, thinking)

    def _model(self, model):
        _str(model, "model")
        if not model:
            _bad("model: String should have at least 1 character")
        if self.mock.models is not None and model not in self.mock.models:
            raise ApiError(404, f"model: {model}")

    def _max_tokens(self, n, model):
        _int(n, "max_tokens")
        if n < 1:
            _bad("max_tokens: Input should be greater than or equal to 1")
        limit = self.mock.max_output_tokens
        if n > limit:
            _bad(f"max_tokens: {n} > {limit}, which is the maximum allowed number of "
                 f"output tokens for {model}")

    def _optional(self, body):
        if "stream" in body:
            _bool(body["stream"], "stream")
        if "temperature" in body:
            _num(body["temperature"], "temperature", 0.0, 1.0)
        if "top_p" in body:
            _num(body["top_p"], "top_p", 0.0, 1.0)
        if "top_k" in body and _int(body["top_k"], "top_k") < 0:
            _bad("top_k: Input should be greater than or equal to 0")
        if "service_tier" in body and body["service_tier"] not in ("auto", "standard_only"):
            _bad("service_tier: Input should be 'auto' or 'standard_only'")
        if "cache_control" in body:
            _cache_control(body["cache_control"], "cache_control")
        if "metadata" in body:
            md = _obj(body["metadata"], "metadata")
            _fields(md, "metadata", {"user_id"})
            uid = md.get("user_id")
            if uid is not None and len(_str(uid, "metadata.user_id")) > 256:
                _bad("metadata.user_id: String should have at most 256 characters")
        if "stop_sequences" in body:
            for i, s in enumerate(_list(body["stop_sequences"], "stop_sequences")):
                if not _str(s, f"stop_sequences.{i}").strip():
                    _bad("stop_sequences: each stop sequence must contain non-whitespace")
        if "system" in body:
            self._system(body["system"])

    def _system(self, system):
        if isinstance(system, str):
            return
        for i, b in enumerate(_list(system, "system")):
            path = f"system.{i}"
            _tag(b, path, ("text",))
            self._block_fields(b, path, "text")
            self._text(b, "system", whitespace_ok=True)

    # -- tools

    def _tools(self, tools):
        if tools is None:
            return set()
        names = set()
        for i, tool in enumerate(_list(tools, "tools")):
            path = f"tools.{i}"
            _obj(tool, path)
            ttype = tool.get("type")
            if ttype is None or ttype == "custom":
                self._custom_tool(tool, f"{path}.custom")
            elif isinstance(ttype, str) and ttype in ANTHROPIC_TOOLS:
                self._anthropic_tool(tool, f"{path}.{ttype}", ttype)
            else:
                _tag(tool, path, ("custom",) + tuple(ANTHROPIC_TOOLS))
            if tool["name"] in names:
                _bad("tools: Tool names must be unique.")
            names.add(tool["name"])
        return names

    def _tool_name(self, tool, path):
        name = _str(tool["name"], f"{path}.name")
        if not TOOL_NAME_RE.match(name):
            _bad(f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")

    def _custom_tool(self, tool, path):
        _fields(tool, path, CUSTOM_TOOL_FIELDS, ("name", "input_schema"))
        self._tool_name(tool, path)
        if "description" in tool:
            _str(tool["description"], f"{path}.description")
        schema = _obj(tool["input_schema"], f"{path}.input_schema")
        if "type" not in schema:
            _bad(f"{path}.input_schema.type: Field required")
        if schema["type"] != "object":
            _bad(f"{path}.input_schema.type: Input should be 'object'")
        if "cache_control" in tool:
            _cache_control(tool["cache_control"], f"{path}.cache_control")

    def _anthropic_tool(self, tool, path, ttype):
        name, extra = ANTHROPIC_TOOLS[ttype]
        _fields(tool, path, COMMON_TOOL_FIELDS | extra, ("name",))
        if tool["name"] != name:
            _bad(f"{path}.name: Input should be '{name}'")
        if "max_characters" in tool and tool["max_characters"] is not None:
            if _int(tool["max_characters"], f"{path}.max_characters") < 1:
                _bad(f"{path}.max_characters: Input should be greater than or equal to 1")
        if "cache_control" in tool:
            _cache_control(tool["cache_control"], f"{path}.cache_control")

    def _tool_choice(self, choice, tool_names, thinking):
        t = _tag(choice, "tool_choice", ("auto", "any", "tool", "none"))
        path = f"tool_choice.{t}"
        allowed = {"type"} if t == "none" else {"type", "disable_parallel_tool_use"}
        _fields(choice, path, allowed | ({"name"} if t == "tool" else set()),
                ("name",) if t == "tool" else ())
        if "disable_parallel_tool_use" in choice:
            _bool(choice["disable_parallel_tool_use"], f"{path}.disable_parallel_tool_use")
        if not tool_names and t != "none":
            _bad("tool_choice may only be specified while providing tools.")
        if t == "tool" and _str(choice["name"], f"{path}.name") not in tool_names:
            _bad(f"{path}.name: tool '{choice['name']}' is not among the defined tools")
        if thinking and t in ("any", "tool"):
            _bad("Thinking may not be enabled when tool_choice forces tool use.")

    def _thinking(self, body, betas):
        """Whether extended thinking is on; checks the thinking config."""
        if "thinking" not in body:
            return False
        cfg = body["thinking"]
        t = _tag(cfg, "thinking", ("enabled", "disabled", "adaptive"))
        path = f"thinking.{t}"
        if t == "disabled":
            _fields(cfg, path, {"type"})
            return False
        if t == "adaptive":
            _fields(cfg, path, {"type", "display"})
        else:
            _fields(cfg, path, {"type", "budget_tokens", "display"}, ("budget_tokens",))
        if cfg.get("display") is not None:
            _one_of(cfg["display"], f"{path}.display", THINKING_DISPLAYS + tuple(
                v for v, beta in BETA_THINKING_DISPLAYS.items() if beta in betas))
        if t == "enabled":
            budget = _int(cfg["budget_tokens"], f"{path}.budget_tokens")
            if budget < 1024:
                _bad(f"{path}.budget_tokens: Input should be greater than or equal to 1024")
            if "max_tokens" in body and budget >= body["max_tokens"]:
                _bad("`max_tokens` must be greater than `thinking.budget_tokens`.")
        if "temperature" in body and body["temperature"] != 1:
            _bad("`temperature` may only be set to 1 when thinking is enabled.")
        if "top_k" in body:
            _bad("`top_k` is not supported when thinking is enabled.")
        return True

    def _context_management(self, cm):
        """Context editing (beta): {"edits": [edit, ...]}, each edit of a known type with
        its own fields; clear_thinking must come first when edits are combined."""
        _fields(_obj(cm, "context_management"), "context_management", {"edits"})
        edits = cm.get("edits")
        if edits is None:
            return
        kinds = []
        for i, edit in enumerate(_list(edits, "context_management.edits")):
            path = f"context_management.edits.{i}"
            t = _tag(edit, path, tuple(CONTEXT_EDITS))
            _fields(edit, f"{path}.{t}", CONTEXT_EDITS[t])
            getattr(self, "_edit_" + t.rsplit("_", 1)[0])(edit, f"{path}.{t}")
            kinds.append(t)
        if "clear_thinking_20251015" in kinds[1:]:
            _bad("context_management.edits: `clear_thinking_20251015` must be the first edit "
                 "when it is combined with other edits")

    @staticmethod
    def _edit_clear_thinking(edit, path):
        keep = edit.get("keep")
        if keep is None:
            return
        if isinstance(keep, str):           # "all", or {"type": "thinking_turns", ...}
            _one_of(keep, f"{path}.keep", ("all",))
        else:
            _count(keep, f"{path}.keep", {"thinking_turns": 1})

    @staticmethod
    def _edit_clear_tool_uses(edit, path):
        for key, lo in (("trigger", {"input_tokens": 1, "tool_uses": 1}),
                        ("keep", {"tool_uses": 0}), ("clear_at_least", {"input_tokens": 0})):
            if edit.get(key) is not None:
                _count(edit[key], f"{path}.{key}", lo)
        if edit.get("exclude_tools") is not None:
            for k, name in enumerate(_list(edit["exclude_tools"], f"{path}.exclude_tools")):
                _str(name, f"{path}.exclude_tools.{k}")
        inputs = edit.get("clear_tool_inputs")
        if isinstance(inputs, list):        # true/false, or the names of the tools
            for k, name in enumerate(inputs):
                _str(name, f"{path}.clear_tool_inputs.{k}")
        elif inputs is not None:
            _need(inputs, lambda x: isinstance(x, bool), f"{path}.clear_tool_inputs",
                  "boolean or list")

    # -- messages

    def _messages(self, messages, tools_defined, thinking):
        _list(messages, "messages")
        if not messages:
            _bad("messages: List should have at least 1 item after validation, not 0")
        if len(messages) > MAX_MESSAGES:
            _bad(f"messages: at most {MAX_MESSAGES} messages are allowed")
        turns = []
        for i, m in enumerate(messages):
            path = f"messages.{i}"
            _obj(m, path)
            _fields(m, path, {"role", "content"}, ("role", "content"))
            if m["role"] not in ("user", "assistant"):
                _bad(f"{path}.role: Input should be 'user' or 'assistant'")
            blocks = self._content(m, path, final=(i == len(messages) - 1))
            turns.append((m["role"], blocks))
        uses_tools = any(b["type"] in ("tool_use", "tool_result") for _, bs in turns for b in bs)
        if uses_tools and not tools_defined:
            _bad("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        self._alternation(turns)
        self._tool_pairing(turns)
        if thinking:
            self._thinking_first(turns)

    def _content(self, m, path, final):
        content, role = m["content"], m["role"]
        empty_ok = final and role == "assistant"
        if isinstance(content, str):
            if not content.strip() and not empty_ok:
                _bad(f"{path}: all messages must have non-empty content except for the "
                     f"optional final assistant message")
            return [{"type": "text", "text": content}] if content else []
        _need(content, lambda x: isinstance(x, list), f"{path}.content", "string or list")
        if not content and not empty_ok:
            _bad(f"{path}: all messages must have non-empty content except for the "
                 f"optional final assistant message")
        for j, block in enumerate(content):
            self._block(block, f"{path}.content.{j}", role, MESSAGE_BLOCKS)
        return content

    def _block_fields(self, b, path, t):
        allowed, required = BLOCK_FIELDS[t]
        _fields(b, f"{path}.{t}", allowed, required)
        if "cache_control" in b:
            _cache_control(b["cache_control"], f"{path}.{t}.cache_control")

    def _block(self, b, path, role, allowed_types):
        t = _tag(b, path, allowed_types)
        self._block_fields(b, path, t)
        if role and ROLE_ONLY.get(t, role) != role:
            _bad(f"{path}: `{t}` blocks are only allowed in `{ROLE_ONLY[t]}` messages")
        getattr(self, "_b_" + t)(b, f"{path}.{t}", role)

    def _text(self, b, path, whitespace_ok=False):
        text = _str(b["text"], f"{path}.text")
        if not text:
            _bad(f"{path.split('.')[0]}: text content blocks must be non-empty")
        if not whitespace_ok and not text.strip():
            _bad(f"{path.split('.')[0]}: text content blocks must contain non-whitespace text")

    def _b_text(self, b, path, role):
        self._text(b, path, whitespace_ok=role is None)

    def _source(self, b, path, kinds):
        src = b["source"]
        t = _tag(src, f"{path}.source", kinds)
        if t == "base64":
            _str(src.get("data"), f"{path}.source.base64.data")
            _str(src.get("media_type"), f"{path}.source.base64.media_type")
        elif t == "url":
            _str(src.get("url"), f"{path}.source.url.url")
        return src

    def _b_image(self, b, path, role):
        src = self._source(b, path, ("base64", "url", "file"))
        if src["type"] == "base64" and src["media_type"] not in IMAGE_TYPES:
            _bad(f"{path}.source.base64.media_type: Input should be one of "
                 + ", ".join(sorted(IMAGE_TYPES)))

    def _b_document(self, b, path, role):
        self._source(b, path, ("base64", "text", "url", "content", "file"))

    def _b_search_result(self, b, path, role):
        _str(b["source"], f"{path}.source")
        _str(b["title"], f"{path}.title")
        for k, sub in enumerate(_list(b["content"], f"{path}.content")):
            self._block(sub, f"{path}.content.{k}", None, ("text",))

    def _b_tool_use(self, b, path, role):
        if not TOOL_ID_RE.match(_str(b["id"], f"{path}.id")):
            _bad(f"{path}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        _str(b["name"], f"{path}.name")
        _obj(b["input"], f"{path}.input")

    def _b_tool_result(self, b, path, role):
        if not TOOL_ID_RE.match(_str(b["tool_use_id"], f"{path}.tool_use_id")):
            _bad(f"{path}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if "is_error" in b:
            _bool(b["is_error"], f"{path}.is_error")
        content = b.get("content")
        if content is None or isinstance(content, str):
            return
        _need(content, lambda x: isinstance(x, list), f"{path}.content", "string or list")
        for k, sub in enumerate(content):
            self._block(sub, f"{path}.content.{k}", None, TOOL_RESULT_BLOCKS)

    def _b_thinking(self, b, path, role):
        text = _str(b["thinking"], f"{path}.thinking")
        sig = _str(b["signature"], f"{path}.signature")
        if self.mock.check_signatures and self.mock.signature_text(sig) != text:
            _bad(f"{path.rsplit('.', 1)[0]}: Invalid `signature` in `thinking` block")

    def _b_redacted_thinking(self, b, path, role):
        _str(b["data"], f"{path}.data")

    def _alternation(self, turns):
        if turns[0][0] != "user":
            _bad('messages: first message must use the "user" role')
        if not self.mock.strict_alternation:
            return
        for i in range(1, len(turns)):
            if turns[i][0] == turns[i - 1][0]:
                _bad(f"messages.{i}: roles must alternate between \"user\" and \"assistant\"; "
                     f"consecutive `{turns[i][0]}` messages (the real API would merge them, "
                     f"agentd must not send them)")

    def _tool_pairing(self, turns):
        pending = []          # tool_use ids of the previous assistant message, in order
        seen = set()
        for i, (role, blocks) in enumerate(turns):
            if role == "assistant":
                if pending:
                    self._missing_results(i - 1, pending)
                pending = []
                for j, b in enumerate(blocks):
                    if b["type"] == "tool_use":
                        if b["id"] in seen:
                            _bad(f"messages.{i}.content.{j}: `tool_use` ids must be unique; "
                                 f"found a duplicate: {b['id']}")
                        seen.add(b["id"])
                        pending.append(b["id"])
                continue
            answered = []
            leading = True
            for j, b in enumerate(blocks):
                if b["type"] != "tool_result":
                    leading = False
                    continue
                tid = b["tool_use_id"]
                if tid not in pending:
                    _bad(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                         f"`tool_result` blocks: {tid}. Each `tool_result` block must have a "
                         f"corresponding `tool_use` block in the previous message.")
                if tid in answered:
                    _bad(f"messages.{i}.content.{j}: each tool_use must have a single result. "
                         f"Found multiple `tool_result` blocks with id: {tid}")
                if not leading:
                    _bad(f"messages.{i}.content.{j}: `tool_result` blocks must come first in "
                         f"the content of a user message, before any other block")
                answered.append(tid)
            missing = [t for t in pending if t not in answered]
            if missing:
                self._missing_results(i - 1, missing)
            pending = []
        if pending:
            self._missing_results(len(turns) - 1, pending)

    @staticmethod
    def _missing_results(index, ids):
        _bad(f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
             f"immediately after: {', '.join(ids)}. Each `tool_use` block must have a "
             f"corresponding `tool_result` block in the next message.")

    def _thinking_first(self, turns):
        """With thinking on, the last assistant turn of a tool loop that the mock answered
        with thinking must be passed back starting with that thinking block."""
        for i in range(len(turns) - 1, -1, -1):
            role, blocks = turns[i]
            if role != "assistant":
                continue
            ids = {b["id"] for b in blocks if b["type"] == "tool_use"}
            if ids & self.mock.thinking_tool_ids() and \
                    blocks[0]["type"] not in ("thinking", "redacted_thinking"):
                _bad(f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                     f"but found `{blocks[0]['type']}`. When `thinking` is enabled, a final "
                     f"`assistant` message must start with a thinking block.")
            return


# ------------------------------------------------------------------ scripted replies

def check_reply(reply):
    """Raise ValueError when a scripted reply is malformed (a bug in the test)."""
    if not isinstance(reply, dict):
        raise ValueError("a reply must be a dict")
    unknown = set(reply) - REPLY_KEYS
    if unknown:
        raise ValueError(f"unknown reply keys: {sorted(unknown)}")
    for key, want in REPLY_TYPES.items():
        if key in reply and (not isinstance(reply[key], want) or isinstance(reply[key], bool)
                             and want is not bool):
            raise ValueError(f"reply[{key!r}] must be of type {want}")
    if "assert" in reply and not callable(reply["assert"]):
        raise ValueError("'assert' must be callable")
    d = reply.get("dribble", [1, 1])
    if not (len(d) == 2 and all(isinstance(x, int) for x in d) and 1 <= d[0] <= d[1]):
        raise ValueError("'dribble' must be [min, max] with 1 <= min <= max")
    if reply.get("chunk_chars", 1) < 1 or reply.get("ping_every", 1) < 1:
        raise ValueError("'chunk_chars' and 'ping_every' must be >= 1")
    if reply.get("stop_reason") not in STOP_REASONS | {None}:
        raise ValueError(f"unknown stop_reason {reply['stop_reason']!r}")
    for b in reply.get("content", []):
        kind = b.get("type") if isinstance(b, dict) else None
        if not (isinstance(kind, str) and kind in REPLY_BLOCKS
                and isinstance(b.get(REPLY_BLOCKS[kind]), str)
                and isinstance(b.get("input", {}), dict)):
            raise ValueError(f"malformed reply block (text/tool_use/thinking/"
                             f"redacted_thinking with their fields): {b!r}")


def _last_user_text(body):
    """The text an echo reply repeats: the last user message's text, else its tool output."""
    for m in reversed(body.get("messages", [])):
        if m.get("role") != "user":
            continue
        if isinstance(m["content"], str):
            return m["content"]
        texts = [b["text"] for b in m["content"] if b.get("type") == "text"]
        for b in m["content"]:
            if b.get("type") == "tool_result":
                c = b.get("content")
                texts.append(c if isinstance(c, str) else
                             "".join(x.get("text", "") for x in c or []))
        return "".join(texts) or "(empty)"
    return "(empty)"


def _pieces(text, size):
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


class _Writer:
    """Writes a response body, optionally chunked (HTTP/1.1) and in dribbled pieces."""

    def __init__(self, wfile, chunked, dribble=None, delay_ms=0, seed=None):
        self.wfile, self.chunked = wfile, chunked
        self.dribble, self.delay = dribble, delay_ms / 1000.0
        self.rng = random.Random(seed)
        self.sizes = []

    def write(self, data):
        pos = 0
        while pos < len(data):
            n = self.rng.randint(*self.dribble) if self.dribble else len(data)
            piece = data[pos:pos + n]
            pos += len(piece)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked else piece)
            self.sizes.append(len(piece))
            if self.delay and self.dribble:
                time.sleep(self.delay)

    def finish(self):
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")


# ------------------------------------------------------------------ the server

class MockAnthropic:
    """A scripted, validating Messages API server on 127.0.0.1."""

    def __init__(self, api_key="test-key", *, models=None, auto=False,
                 auto_command="ls /workspace", host="127.0.0.1", port=0,
                 max_output_tokens=DEFAULT_MAX_OUTPUT, max_body=MAX_BODY,
                 strict_alternation=True, check_signatures=True, log_path=None,
                 verbose=False, idle_timeout=None, cache_min_tokens=DEFAULT_MIN_TOKENS,
                 context_window=DEFAULT_CONTEXT_WINDOW, clock=time.monotonic):
        self.api_key = api_key
        self.context_window = context_window
        self.cache = PromptCache(cache_min_tokens, clock)   # the prompt cache (prompt_cache.py)
        self.idle_timeout = idle_timeout    # seconds a connection may wait for a request
        self._connections = itertools.count(1)
        self._conn_list = []                # every connection accepted, in that order
        self._conn_open = {}                # (client host, port) -> its record, while open
        self.models = set(models) if models is not None else None
        self.auto = "echo" if auto is True else (auto or None)
        if self.auto not in (None, "echo", "bash"):
            raise ValueError("auto must be False, True/'echo' or 'bash'")
        self.auto_command = auto_command
        self.max_output_tokens = max_output_tokens
        self.max_body = max_body
        self.strict_alternation = strict_alternation
        self.check_signatures = check_signatures
        self.log_path = log_path
        self.verbose = verbose
        self.requests = []
        self.violations = []
        self._queue = []
        self._gates = {}                 # gate name -> threading.Event (open_gate)
        self._signatures = {}            # signature -> thinking text the mock sent
        self._thinking_ids = set()       # tool_use ids sent in a reply with thinking
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._validator = RequestValidator(self)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.mock = self
        self._httpd._peers = {}             # accepted socket -> client address
        self._thread = None

    # -- lifecycle and test API

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        name="mock-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
        self.write_log()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def enqueue(self, *replies):
        for r in replies:
            check_reply(r)
        with self._lock:
            self._queue.extend(copy.deepcopy(r) if "assert" not in r else dict(r)
                               for r in replies)
        return self

    def _gate(self, name):
        with self._lock:
            return self._gates.setdefault(name, threading.Event())

    def set_api_key(self, key):
        """Accept key, and only key, from now on (a rotated key: the old one gets 401
        invalid x-api-key, as the API answers a revoked key). A request already past
        the check (a reply in flight, a gated one) goes on."""
        with self._lock:
            self.api_key = key

    def open_gate(self, name):
        """Let the replies scripted with {"gate": name} go (they wait until then, or
        GATE_WAIT_S): a test does what it must while the call is certainly in flight."""
        self._gate(name).set()

    def pending(self):
        with self._lock:
            return len(self._queue)

    def take_violations(self):
        """Return the violations so far and forget them (for tests that expect some)."""
        with self._lock:
            out, self.violations[:] = list(self.violations), []
            return out

    def assert_clean(self):
        if self.violations:
            raise AssertionError("Messages API violations:\n  " + "\n  ".join(self.violations))

    def wait_for_requests(self, n, timeout=10.0):
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} requests, wanted {n}")

    def connections(self):
        """Every connection accepted so far, in the order accepted: {"id", "peer" (the
        client's (host, port)), "t_connected", "t_closed" (None while open)}."""
        with self._lock:
            return [dict(c) for c in self._conn_list]

    def wait_for_connections(self, pred, timeout=30.0):
        """Until pred(connections) is true (connections as connections() gives them);
        TimeoutError after timeout seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: pred([dict(c) for c in self._conn_list]), timeout):
                raise TimeoutError(f"connections: {self._conn_list}")

    def reset(self):
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._queue.clear()
        self.cache.clear()

    def advance_clock(self, seconds):
        """Move the prompt cache's clock on: cache lifetimes pass without sleeping."""
        self.cache.advance(seconds)

    def clear_cache(self):
        self.cache.clear()

    def signature_text(self, sig):
        with self._lock:
            return self._signatures.get(sig)

    def thinking_tool_ids(self):
        with self._lock:
            return set(self._thinking_ids)

    def write_log(self):
        if not self.log_path:
            return
        with self._lock:
            data = {"requests": self.requests, "violations": self.violations}
            text = json.dumps(data, ensure_ascii=False, default=repr, indent=1)
        tmp = f"{self.log_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.log_path)

    # -- request handling (called from handler threads)

    def _connection_opened(self, peer):
        with self._cond:
            c = {"id": next(self._connections), "peer": tuple(peer[:2]), "t_connected": time.monotonic(),
                 "t_closed": None}
            self._conn_list.append(c)
            self._conn_open[c["peer"]] = c
            self._cond.notify_all()

    def _connection_of(self, peer):
        """(id, t_connected) of the open connection from peer."""
        with self._lock:
            c = self._conn_open[tuple(peer[:2])]
            return c["id"], c["t_connected"]

    def _connection_closed(self, peer):
        with self._cond:
            c = self._conn_open.pop(tuple(peer[:2]), None)
            if c is not None:
                c["t_closed"] = time.monotonic()
            self._cond.notify_all()

    def _record(self, h):
        rec = {"index": None, "method": h.command, "path": h.path,
               "headers": {k.lower(): v for k, v in h.headers.items()},
               "raw_size": 0, "body": None, "stream": False,
               "request_id": new_id("req_011C"), "status": None,
               "connection": getattr(h, "conn_id", None), "t_connected": getattr(h, "t_connected", None),
               "t_received": getattr(h, "t_arrived", None) or time.monotonic(), "t_done": None,
               "cache": None, "violations": []}
        with self._cond:
            rec["index"] = len(self.requests)
            self.requests.append(rec)
            self._cond.notify_all()
        return rec

    def _violation(self, rec, text):
        line = f"request #{rec['index']} {rec['method']} {rec['path']}: {text}"
        with self._lock:
            self.violations.append(line)
            rec["violations"].append(text)
        if self.verbose:
            print("VIOLATION " + line, file=sys.stderr, flush=True)
        self.write_log()

    def reject(self, h, error):
        """Answer a request refused before its body was read (413 on Expect)."""
        rec = self._record(h)
        self._violation(rec, f"{error.status} {error.etype}: {error.message}")
        h.close_connection = True
        h.send_error_reply(rec, error)

    def serve(self, h):
        rec = self._record(h)
        try:
            self._serve(h, rec)
        except (BrokenPipeError, ConnectionResetError):
            rec["client_disconnected"] = True
            h.close_connection = True
        except Exception as e:                  # noqa: BLE001 - a bug in the mock itself
            self._violation(rec, f"mock internal error: {type(e).__name__}: {e}")
            h.close_connection = True
            if rec["status"] is None:
                h.send_error_reply(rec, ApiError(500, "mock internal error"))

    def _serve(self, h, rec):
        try:
            body, prompt = self._check(h, rec)
        except ApiError as e:
            self._violation(rec, f"{e.status} {e.etype}: {e.message}")
            h.send_error_reply(rec, e)
            return
        if rec["path"].split("?")[0] == COUNT_PATH:     # answered here: no scripted reply
            rec["count_tokens"] = prompt.total
            h.send_json(rec, 200, {"input_tokens": prompt.total})
            return
        reply = self._next_reply(body)
        if reply is None:
            self._violation(rec, "unexpected request: no scripted reply left")
            h.send_error_reply(rec, ApiError(500, "mock: unexpected request (queue empty)"))
            return
        if not reply.get("drop") and not self._is_http_error(reply, rec["stream"]):
            rec["cache"] = self.cache.use(prompt)       # the API processes this prompt
        self._run_assert(rec, reply)
        rec["reply"] = {k: v for k, v in reply.items() if k != "assert"}
        if reply.get("latency_ms"):
            time.sleep(reply["latency_ms"] / 1000.0)
        if reply.get("gate"):
            self._gate(reply["gate"]).wait(GATE_WAIT_S)
        if reply.get("drop"):
            h.drop(rec)
        elif self._is_http_error(reply, rec["stream"]):
            h.send_error_reply(rec, self._scripted_error(reply))
        else:
            message = self._build_message(reply, body, rec)
            if rec["stream"]:
                h.send_stream(rec, reply, self._events(message, reply))
            else:
                h.send_json(rec, 200, message, reply.get("headers", {}), reply)

    def _check(self, h, rec):
        """The valid body and its Prompt; ApiError otherwise."""
        raw = h.read_body(self.max_body)
        rec["raw_size"] = len(raw)
        path = h.path.split("?")[0]
        if path not in (MESSAGES_PATH, COUNT_PATH):
            raise ApiError(404, f"Not found: {h.command} {h.path}")
        if h.command != "POST":
            raise ApiError(405, f"Method Not Allowed: {h.command} {h.path}")
        key = h.headers.get("x-api-key")
        if key is None:
            raise ApiError(401, "x-api-key header is required")
        if key != self.api_key:
            raise ApiError(401, "invalid x-api-key")
        version = h.headers.get("anthropic-version")
        if version is None:
            _bad("anthropic-version: header is required")
        if version != API_VERSION:
            _bad(f"anthropic-version: invalid version '{version}', expected {API_VERSION}")
        ctype = h.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            _bad(f"content-type: expected application/json, got '{ctype}'")
        body = self._parse(raw)
        rec["body"] = body
        rec["stream"] = isinstance(body, dict) and body.get("stream") is True
        self._validator.validate(body, count=path == COUNT_PATH, betas=betas_of(h.headers))
        return body, self._check_prompt(body, path == COUNT_PATH)

    def _check_prompt(self, body, count):
        prompt = Prompt(body)
        try:
            prompt.check()
        except PromptError as e:
            _bad(str(e))
        # count_tokens answers a prompt of any length: it is how a client finds out
        if not count and prompt.total > self.context_window:
            _bad(f"prompt is too long: {prompt.total} tokens > {self.context_window} maximum")
        return prompt

    @staticmethod
    def _parse(raw):
        def no_constant(name):
            raise ValueError(f"{name} is not valid JSON")
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=no_constant)
            json.dumps(body, ensure_ascii=False).encode("utf-8")   # lone surrogates
        except (UnicodeError, ValueError, RecursionError) as e:
            _bad(f"The request body is not valid JSON: {e}")
        return body

    def _next_reply(self, body):
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
        if self.auto is None:
            return None
        last = body["messages"][-1]
        after_tool = isinstance(last["content"], list) and any(
            b.get("type") == "tool_result" for b in last["content"])
        if self.auto == "bash" and not after_tool:
            return {"content": [{"type": "tool_use", "name": "bash",
                                 "input": {"command": self.auto_command}}]}
        return {"content": [{"type": "text", "text": _last_user_text(body)}]}

    def _run_assert(self, rec, reply):
        hook = reply.get("assert")
        if not hook:
            return
        try:
            ok = hook(rec)
        except Exception as e:                  # noqa: BLE001 - any failure of the hook
            ok, why = False, f"{type(e).__name__}: {e}"
        else:
            why = "predicate returned false"
        if ok is not None and not ok:           # None (a plain assert-style hook) passes
            self._violation(rec, f"assert failed: {why}")

    @staticmethod
    def _is_http_error(reply, streaming):
        if reply.get("status", 200) >= 400:
            return True
        return "error" in reply and not (streaming and "stream_error_after" in reply)

    @staticmethod
    def _scripted_error(reply):
        err = dict(reply.get("error") or {})
        status = reply.get("status") or ERROR_TYPE_STATUS.get(err.get("type"), 500)
        etype = err.get("type") or error_type_for(status)
        message = err.get("message") or etype.replace("_", " ")
        return ApiError(status, message, etype, reply.get("headers"))

    def _build_message(self, reply, body, rec):
        blocks = []
        if "thinking" in reply:
            blocks.append({"type": "thinking", "thinking": reply["thinking"],
                           "signature": reply.get("signature") or new_id("Eq", 120)})
        if "content" in reply:
            blocks += copy.deepcopy(reply["content"])
        elif "text" in reply:
            blocks.append({"type": "text", "text": reply["text"]})
        for i, b in enumerate(blocks):
            if b["type"] == "tool_use":
                blocks[i] = {"type": "tool_use", "id": b.get("id") or new_id("toolu_01"),
                             "name": b["name"], "input": b.get("input", {})}
            elif b["type"] == "thinking":
                b.setdefault("signature", new_id("Eq", 120))
        tool_ids = {b["id"] for b in blocks if b["type"] == "tool_use"}
        with self._lock:
            for b in blocks:
                if b["type"] == "thinking":
                    self._signatures[b["signature"]] = b["thinking"]
                    self._thinking_ids |= tool_ids
        usage = dict(usage_for(rec["cache"]), output_tokens=output_tokens_for(blocks))
        usage.update(reply.get("usage") or {})
        rec["usage"] = usage
        return {"id": new_id("msg_01"), "type": "message", "role": "assistant",
                "model": reply.get("model") or body["model"], "content": blocks,
                "stop_reason": reply.get("stop_reason") or ("tool_use" if tool_ids else "end_turn"),
                "stop_sequence": reply.get("stop_sequence"), "usage": usage}

    @staticmethod
    def _block_events(index, block, chunk):
        start = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {"type": "tool_use", "id": block.get("id"),
                              "name": block.get("name"), "input": {}},
                 }.get(block["type"], block)
        if block["type"] == "text":
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], chunk)]
        elif block["type"] == "tool_use":
            raw = _compact(block["input"]) if block["input"] else ""
            deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                {"type": "input_json_delta", "partial_json": p} for p in _pieces(raw, chunk) if p]
        elif block["type"] == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": p}
                      for p in _pieces(block["thinking"], chunk)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            deltas = []
        yield "content_block_start", {"type": "content_block_start", "index": index,
                                      "content_block": start}
        if index == 0:
            yield "ping", {"type": "ping"}
        for d in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": d}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}

    def _events(self, message, reply):
        """The SSE events of a streamed message: [(event name, data), ...]."""
        chunk = reply.get("chunk_chars", 12)
        usage = message["usage"]
        shell = dict(message, content=[], stop_reason=None, stop_sequence=None,
                     usage=dict(usage, output_tokens=1))
        core = [("message_start", {"type": "message_start", "message": shell})]
        for i, block in enumerate(message["content"]):
            core += self._block_events(i, block, chunk)
        core.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"],
                      "stop_sequence": message["stop_sequence"]},
            "usage": dict(usage)}))
        core.append(("message_stop", {"type": "message_stop"}))
        every = reply.get("ping_every")
        events, since_ping = [], 0
        for name, data in core:
            events.append((name, data))
            if reply.get("unknown_events") and name in ("message_start", "content_block_stop"):
                events.append(("mock_future_event", {"type": "mock_future_event",
                                                     "detail": {"ignore": "me"}}))
            since_ping += name != "ping"
            if every and since_ping >= every and name != "message_stop":
                events.append(("ping", {"type": "ping"}))
                since_ping = 0
        return events


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512           # load tests open many connections at once

    def process_request(self, request, client_address):
        # accepted, in the order of the listen queue: which connection this is, and since
        # when (a client may open one ahead of its first request)
        self.mock._connection_opened(client_address)
        with self.mock._lock:
            self._peers[request] = client_address
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        # closed: the client sees the hang-up from here on
        with self.mock._lock:
            peer = self._peers.pop(request, None)
        super().shutdown_request(request)
        if peer is not None:
            self.mock._connection_closed(peer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "mock-anthropic/1"

    def setup(self):
        self.conn_id, self.t_connected = self.server.mock._connection_of(self.client_address)
        self.timeout = self.server.mock.idle_timeout     # None: wait for ever
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.mock.verbose:
            sys.stderr.write("mock-anthropic: " + (fmt % args) + "\n")

    def handle_expect_100(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if length > self.server.mock.max_body:
            self.server.mock.reject(self, ApiError(413, _TOO_LARGE))
            return False
        return super().handle_expect_100()

    def parse_request(self):
        # The request line is in: from here on the time is the mock's own (parsing the
        # headers included), not its client's.
        self.t_arrived = time.monotonic()
        return super().parse_request()

    def _dispatch(self):
        if self.path.startswith("/_mock/"):
            self._control()
        else:
            self.server.mock.serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    # -- reading

    def read_body(self, limit):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "invalid Content-Length header") from None
        if length > limit:
            self.close_connection = True
            raise ApiError(413, _TOO_LARGE)
        data = self.rfile.read(length)
        if len(data) != length:
            self.close_connection = True
            raise ApiError(400, "request body shorter than its Content-Length")
        return data

    def _read_chunked(self, limit):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise ApiError(413, _TOO_LARGE)
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)

    # -- writing

    def _start(self, rec, status, ctype, headers, length=None):
        rec["status"] = status
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", ctype)
        self.send_header("request-id", rec["request_id"])
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        chunked = length is None and self.request_version == "HTTP/1.1"
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        return chunked

    def _finish(self, rec, writer):
        rec["chunks"] = writer.sizes
        rec["t_done"] = time.monotonic()

    def send_json(self, rec, status, obj, headers=None, reply=None):
        data = _compact(obj).encode("utf-8")
        self._start(rec, status, "application/json", headers, len(data))
        reply = reply or {}
        writer = _Writer(self.wfile, False, reply.get("dribble"), reply.get("delay_ms", 0),
                         reply.get("seed"))
        rec["chunks"] = writer.sizes      # before the bytes: a client may read them all first
        writer.write(data)
        self._finish(rec, writer)

    def send_error_reply(self, rec, err):
        body = {"type": "error", "error": {"type": err.etype, "message": err.message},
                "request_id": rec["request_id"]}
        self.send_json(rec, err.status, body, err.headers)

    def send_stream(self, rec, reply, events):
        headers = {"Cache-Control": "no-cache"}
        headers.update(reply.get("headers") or {})
        chunked = self._start(rec, 200, "text/event-stream; charset=utf-8", headers)
        writer = _Writer(self.wfile, chunked, reply.get("dribble"), reply.get("delay_ms", 0),
                         reply.get("seed"))
        rec["events"], rec["chunks"] = [], writer.sizes
        error_after, cut_after = reply.get("stream_error_after"), reply.get("disconnect_after")
        for n, (name, data) in enumerate(events):
            if cut_after is not None and n >= cut_after:
                self.drop(rec)
                return
            if error_after is not None and n >= error_after:
                err = MockAnthropic._scripted_error(reply)
                name, data = "error", {"type": "error", "error": {
                    "type": err.etype, "message": err.message}}
            writer.write(f"event: {name}\ndata: {_compact(data)}\n\n".encode("utf-8"))
            rec["events"].append(name)
            if name == "error":
                break
        writer.finish()
        self._finish(rec, writer)

    def drop(self, rec):
        """Close the connection abruptly, mid-response or before any."""
        rec["dropped"] = True
        rec["t_done"] = time.monotonic()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- control endpoints for script mode (not part of the API, never validated)

    def _control(self):
        mock = self.server.mock
        route = (self.command, self.path.split("?")[0])
        status, out = 200, None
        try:
            if route == ("GET", "/_mock/state"):
                out = {"requests": len(mock.requests), "pending": mock.pending(),
                       "violations": list(mock.violations)}
            elif route == ("GET", "/_mock/requests"):
                with mock._lock:
                    out = json.loads(json.dumps(mock.requests, default=repr))
            elif route == ("POST", "/_mock/enqueue"):
                replies = json.loads(self.read_body(mock.max_body) or b"null")
                mock.enqueue(*(replies if isinstance(replies, list) else [replies]))
                out = {"pending": mock.pending()}
            elif route == ("POST", "/_mock/reset"):
                mock.reset()
                out = {"ok": True}
            elif route[0] == "POST" and route[1].startswith("/_mock/gate/") and route[1][12:]:
                mock.open_gate(route[1][12:])
                out = {"ok": True}
            else:
                status, out = 404, {"error": "unknown control endpoint"}
        except (ValueError, ApiError) as e:
            status, out = 400, {"error": str(e)}
        data = _compact(out).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


_TOO_LARGE = "Request exceeds the maximum allowed number of bytes."


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default=os.environ.get("MOCK_ANTHROPIC_KEY", "test-key"),
                    help="the x-api-key the server expects")
    ap.add_argument("--models", help="comma-separated list of allowed models")
    ap.add_argument("--script", help="JSON file: a list of scripted replies")
    ap.add_argument("--auto", choices=("echo", "bash"),
                    help="when the queue is empty: echo the user, or one bash call then echo")
    ap.add_argument("--auto-command", default="ls /workspace")
    ap.add_argument("--max-output-tokens", type=int, default=DEFAULT_MAX_OUTPUT)
    ap.add_argument("--cache-min-tokens", type=int, default=DEFAULT_MIN_TOKENS,
                    help="the shortest prefix the prompt cache keeps")
    ap.add_argument("--context-window", type=int, default=DEFAULT_CONTEXT_WINDOW,
                    help="prompt tokens above this get 400 'prompt is too long'")
    ap.add_argument("--log", help="write requests and violations here (JSON) as they happen")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    mock = MockAnthropic(args.key, models=args.models.split(",") if args.models else None,
                         auto=args.auto or False, auto_command=args.auto_command,
                         host=args.host, port=args.port, log_path=args.log,
                         max_output_tokens=args.max_output_tokens, verbose=args.verbose,
                         cache_min_tokens=args.cache_min_tokens,
                         context_window=args.context_window)
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
        mock.enqueue(*(script["replies"] if isinstance(script, dict) else script))

    def on_signal(*_):
        threading.Thread(target=mock._httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"listening on {mock.url}", flush=True)
    mock._httpd.serve_forever(0.02)
    mock._httpd.server_close()
    mock.write_log()
    for v in mock.violations:
        print("VIOLATION " + v, file=sys.stderr)
    return 1 if mock.violations else 0


if __name__ == "__main__":
    sys.exit(main())
