"""Tests of the mock's prompt cache, count_tokens and context window (prompt_cache.py).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/mock

Expectations are computed with prefix_tokens()/prompt_tokens(): the tokens of the
prompt's prefixes, block by block (tools, then system, then the messages' blocks).
Lifetimes pass with advance_clock() or an injected clock, never by sleeping.
"""

import copy
import http.client
import json
import pathlib
import signal
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from anthropic_server import MockAnthropic, prompt_tokens  # noqa: E402
from prompt_cache import prefix_tokens  # noqa: E402
from test_anthropic_server import HEADERS, KEY, parse_sse  # noqa: E402

MIN = 300                 # cache_min_tokens here: tools + system alone are above it
MODEL = "claude-test"
COUNT = "/v1/messages/count_tokens"
TOOLS = [{"name": "grep", "description": "Search the workspace's files for a pattern. " * 15,
          "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}},
                           "required": ["pattern"]}},
         {"type": "bash_20250124", "name": "bash"}]
SYSTEM = "You are an agent in a Linux sandbox; work in /workspace and answer briefly. " * 30
SYS = 2                   # the system block's index: after the two tools


@pytest.fixture
def mock():
    m = MockAnthropic(KEY, cache_min_tokens=MIN).start()
    yield m
    m.stop()


def cc(ttl=None):
    return {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}


def mark(block, ttl=None):
    return dict(block, cache_control=cc(ttl))


def prompt(messages, system_cc=cc(), tools=TOOLS, **over):
    """A request with the tools, the system prompt (marked with system_cc unless None)
    and messages."""
    system = [{"type": "text", "text": SYSTEM}]
    if system_cc:
        system[0]["cache_control"] = system_cc
    b = {"model": MODEL, "max_tokens": 1024, "tools": copy.deepcopy(tools), "system": system,
         "messages": messages}
    b.update(over)
    return b


def turns(n, marked=True, note="Look around the workspace."):
    """The agent loop's messages after n tool calls: user, then (assistant text + tool_use,
    user tool_result) n times; the breakpoint on the last block (the Claude Code pattern)."""
    msgs = [{"role": "user", "content": [{"type": "text", "text": note}]}]
    for k in range(n):
        msgs.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Step {k}."},
            {"type": "tool_use", "id": f"toolu_{k}", "name": "bash",
             "input": {"command": f"ls /workspace/{k}"}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{k}", "content": f"file{k}.txt\n" * 20}]})
    if marked:
        msgs[-1]["content"][-1]["cache_control"] = cc()
    return msgs


def notes(n, marked_at=()):
    """One user message of n text blocks, the ones at marked_at with a breakpoint."""
    blocks = [{"type": "text", "text": f"Note {k}: " + "detail " * 5} for k in range(n)]
    for k in marked_at:
        blocks[k] = mark(blocks[k])
    return [{"role": "user", "content": blocks}]


def post(m, b, path="/v1/messages", port=None, key=KEY):
    c = http.client.HTTPConnection("127.0.0.1", port or m.port, timeout=10)
    c.request("POST", path, json.dumps(b).encode(), dict(HEADERS, **{"x-api-key": key}))
    r = c.getresponse()
    status, data = r.status, r.read()
    c.close()
    return status, data


def ask(m, b):
    """One answered /v1/messages request: its usage."""
    m.enqueue({"text": "ok"})
    status, data = post(m, b)
    assert status == 200, data
    return json.loads(data)["usage"]


def count(m, b):
    status, data = post(m, {k: v for k, v in b.items() if k != "max_tokens"}, COUNT)
    assert status == 200, data
    return json.loads(data)["input_tokens"]


def refused(m, b, path="/v1/messages"):
    """The message of a 400 invalid_request_error; the request took no scripted reply and
    was recorded as a violation."""
    m.enqueue({"text": "not for this one"})
    status, data = post(m, b, path)
    assert status == 400, data
    err = json.loads(data)["error"]
    assert err["type"] == "invalid_request_error"
    assert m.pending() == 1 and len(m.take_violations()) == 1
    m.reset()
    return err["message"]


def split(u):
    return u["cache_read_input_tokens"], u["cache_creation_input_tokens"], u["input_tokens"]


# --------------------------------------------------------------------------- reads and writes

def test_no_breakpoint_no_cache(mock):
    b = prompt(turns(1, marked=False), system_cc=None)
    for _ in range(2):
        u = ask(mock, b)
        assert split(u) == (0, 0, prompt_tokens(b))
        assert u["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    assert mock.requests[-1]["cache"]["breakpoints"] == []


def test_a_system_breakpoint_writes_tools_and_system_then_reads_them(mock):
    b = prompt(turns(0, marked=False))
    pre, total = prefix_tokens(b), prompt_tokens(b)
    assert split(ask(mock, b)) == (0, pre[SYS], total - pre[SYS])
    assert split(ask(mock, b)) == (pre[SYS], 0, total - pre[SYS])
    rec = mock.requests[-1]["cache"]
    assert (rec["breakpoints"], rec["read"], rec["read_at"]) == ([SYS], pre[SYS], SYS)
    assert (rec["write"], rec["total"], rec["blocks"]) == (0, total, SYS + 2)


def test_a_breakpoint_moved_to_the_newest_block_reads_the_last_prefix(mock):
    """The Claude Code pattern: each call puts its breakpoint on its last block; the
    previous call's whole prompt is read, only the new blocks are written."""
    last = None
    for n in range(4):
        b = prompt(turns(n))
        pre = prefix_tokens(b)
        u = ask(mock, b)
        assert mock.requests[-1]["cache"]["breakpoints"] == [SYS, len(pre) - 1]
        read = 0 if last is None else pre[last]
        assert split(u) == (read, pre[-1] - read, 0)
        assert u["cache_creation"]["ephemeral_5m_input_tokens"] == pre[-1] - read
        last = len(pre) - 1


@pytest.mark.parametrize("gap, bridge, hit", [(20, None, True), (21, None, False), (30, 15, True)])
def test_the_lookback_reaches_20_blocks_back(gap, bridge, hit):
    first = prompt(notes(5, [4]), system_cc=None)
    marks = [4 + gap] + ([4 + bridge] if bridge else [])
    second = prompt(notes(5 + gap, marks), system_cc=None)
    written, pre = prefix_tokens(first)[-1], prefix_tokens(second)
    with MockAnthropic(KEY, cache_min_tokens=MIN) as m:
        assert split(ask(m, first)) == (0, written, 0)
        read = written if hit else 0
        assert split(ask(m, second)) == (read, pre[-1] - read, 0)
        assert m.requests[-1]["cache"]["read_at"] == (SYS + 5 if hit else None)


def test_automatic_caching_puts_the_breakpoint_on_the_last_block(mock):
    one = prompt(turns(1, marked=False), system_cc=None, cache_control=cc())
    two = prompt(turns(2, marked=False), system_cc=None, cache_control=cc())
    p1, p2 = prefix_tokens(one), prefix_tokens(two)
    assert split(ask(mock, one)) == (0, p1[-1], 0)
    assert mock.requests[-1]["cache"]["breakpoints"] == [len(p1) - 1]
    assert split(ask(mock, two)) == (p1[-1], p2[-1] - p1[-1], 0)


def test_a_marker_inside_a_tool_result_is_a_breakpoint_at_that_result(mock):
    msgs = turns(1, marked=False)
    msgs[-1]["content"][0]["content"] = [mark({"type": "text", "text": "file0.txt"})]
    b = prompt(msgs, system_cc=None)
    u = ask(mock, b)
    assert mock.requests[-1]["cache"]["breakpoints"] == [len(prefix_tokens(b)) - 1]
    assert split(u) == (0, prompt_tokens(b), 0)


def test_a_scripted_usage_still_overrides(mock):
    b = prompt(turns(0))
    mock.enqueue({"text": "x", "usage": {"input_tokens": 5, "cache_read_input_tokens": 7}})
    u = json.loads(post(mock, b)[1])["usage"]
    assert (u["input_tokens"], u["cache_read_input_tokens"]) == (5, 7)
    assert u["cache_creation_input_tokens"] == prompt_tokens(b)     # what the mock computed


# --------------------------------------------------------------------------- refused breakpoints

def test_at_most_four_breakpoints(mock):
    assert refused(mock, prompt(notes(4, [0, 1, 2, 3]))) == \
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    # the automatic breakpoint is one of them; a marker inside a tool_result too
    assert refused(mock, prompt(notes(4, [0, 1, 2]), cache_control=cc())) == \
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    msgs = turns(1)
    msgs[-1]["content"][0]["content"] = [mark({"type": "text", "text": t}) for t in "ab"]
    assert refused(mock, prompt(msgs, tools=[mark(TOOLS[0]), mark(TOOLS[1])])).endswith("Found 6.")
    u = ask(mock, prompt(notes(4, [0, 1, 2])))
    assert mock.requests[-1]["cache"]["breakpoints"] == [SYS, SYS + 1, SYS + 2, SYS + 3]
    assert u["cache_creation_input_tokens"] > 0


def test_a_1h_breakpoint_after_a_5m_one_is_refused(mock):
    msgs = [{"role": "user", "content": [mark({"type": "text", "text": "hi"}, "1h")]}]
    assert refused(mock, prompt(msgs, system_cc=cc("5m"))) == (
        "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come "
        "after a ttl='5m' cache_control block. Note that blocks are processed in the following "
        "order: `tools`, `system`, `messages`.")
    # no ttl is 5m; the order is tools, system, messages; the automatic one counts too
    b = prompt(turns(0, marked=False), system_cc=cc("1h"), tools=[TOOLS[0], mark(TOOLS[1])])
    assert refused(mock, b).startswith("system.0.cache_control.ttl: a ttl='1h'")
    b = prompt(turns(0), cache_control=cc("1h"))
    assert refused(mock, b).startswith("cache_control.ttl: a ttl='1h'")


def test_1h_before_5m_is_written_at_each_ttl(mock):
    b = prompt(turns(1), system_cc=cc("1h"), tools=[TOOLS[0], mark(TOOLS[1], "1h")])
    pre = prefix_tokens(b)
    u = ask(mock, b)
    assert u["cache_creation"] == {"ephemeral_1h_input_tokens": pre[SYS],
                                   "ephemeral_5m_input_tokens": pre[-1] - pre[SYS]}
    assert u["cache_creation_input_tokens"] == pre[-1]


# --------------------------------------------------------------------------- what is cached, how long

def test_a_prefix_below_the_minimum_is_not_cached():
    b = prompt(turns(0, marked=False))
    pre = prefix_tokens(b)[SYS]
    with MockAnthropic(KEY, cache_min_tokens=pre + 1) as m:
        for _ in range(2):
            assert split(ask(m, b)) == (0, 0, prompt_tokens(b))
        assert m.violations == []
    with MockAnthropic(KEY, cache_min_tokens=pre) as m:
        assert split(ask(m, b))[:2] == (0, pre)
        assert split(ask(m, b))[:2] == (pre, 0)
    m = MockAnthropic(KEY)
    assert m.cache.min_tokens == 1024 and m.context_window == 200_000
    m.stop()


def test_an_entry_lives_5_minutes_from_its_last_use(mock):
    b = prompt(turns(0))
    total = prompt_tokens(b)
    assert split(ask(mock, b)) == (0, total, 0)
    for _ in range(2):              # each hit starts the 5 minutes anew: 598 s in all
        mock.advance_clock(299)
        assert split(ask(mock, b)) == (total, 0, 0)
    mock.advance_clock(301)
    assert split(ask(mock, b)) == (0, total, 0)


def test_1h_entries_outlive_5m_ones(mock):
    b = prompt(turns(1), system_cc=cc("1h"))
    pre = prefix_tokens(b)
    ask(mock, b)
    mock.advance_clock(301)
    u = ask(mock, b)
    assert split(u) == (pre[SYS], pre[-1] - pre[SYS], 0)
    assert u["cache_creation"] == {"ephemeral_5m_input_tokens": pre[-1] - pre[SYS],
                                   "ephemeral_1h_input_tokens": 0}
    mock.advance_clock(3599)        # the hit at 301 s refreshed the hour
    assert split(ask(mock, b))[0] == pre[SYS]
    mock.advance_clock(3601)
    assert split(ask(mock, b))[0] == 0


def test_the_clock_can_be_injected():
    now = [1000.0]
    b = prompt(turns(0))
    with MockAnthropic(KEY, cache_min_tokens=MIN, clock=lambda: now[0]) as m:
        ask(m, b)
        now[0] += 299
        assert split(ask(m, b))[0] == prompt_tokens(b)
        now[0] += 301
        assert split(ask(m, b))[0] == 0


def test_reset_and_clear_cache_forget_the_entries(mock):
    b = prompt(turns(0))
    ask(mock, b)
    mock.reset()
    assert split(ask(mock, b))[0] == 0
    mock.clear_cache()
    assert split(ask(mock, b))[0] == 0


def _change_tool(b):
    b["tools"][0]["description"] += " Faster."


def _change_system(b):
    b["system"][0]["text"] += " Be kind."


def _change_message(b):
    b["messages"][1]["content"][0]["text"] = "Step zero."


@pytest.mark.parametrize("change, still_read", [
    (lambda b: None, "all"),
    (_change_tool, None),
    (_change_system, None),
    (lambda b: b.update(model="claude-other"), None),
    (_change_message, SYS),
    # documented: tool_choice and thinking settings key the messages, not tools and system
    (lambda b: b.update(tool_choice={"type": "any"}), SYS),
    (lambda b: b.update(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024}), SYS),
    # what is not prompt keys nothing
    (lambda b: b.update(max_tokens=10, temperature=0.5, metadata={"user_id": "u"}), "all"),
])
def test_a_change_before_a_breakpoint_misses(mock, change, still_read):
    b = prompt(turns(2))
    ask(mock, b)
    changed = copy.deepcopy(b)
    change(changed)
    pre = prefix_tokens(changed)
    want = 0 if still_read is None else pre[-1] if still_read == "all" else pre[still_read]
    assert split(ask(mock, changed))[0] == want


# --------------------------------------------------------------------------- count_tokens

def test_count_tokens_counts_what_messages_bills(mock):
    b = prompt(turns(2))
    mock.enqueue({"text": "kept for later"})
    n = count(mock, b)
    rec = mock.requests[-1]
    assert rec["path"] == COUNT and rec["status"] == 200 and rec["count_tokens"] == n
    assert "usage" not in rec and mock.pending() == 1          # no scripted reply taken
    assert split(ask(mock, b)) == (0, n, 0)                     # and the cache untouched
    unmarked = prompt(turns(2, marked=False), system_cc=None)
    assert count(mock, unmarked) == n == prompt_tokens(b)       # markers count nothing
    for over in ({"max_tokens": 1}, {"max_tokens": 64000}, {"stream": False, "top_k": 5}):
        assert sum(split(ask(mock, dict(unmarked, **over)))) == n
    assert mock.violations == []


@pytest.mark.parametrize("over, fragment", [
    ({"max_tokens": 1024}, "max_tokens: Extra inputs are not permitted"),
    ({"stream": True}, "stream: Extra inputs are not permitted"),
    ({"temperature": 0.5}, "temperature: Extra inputs are not permitted"),
    ({"stop_sequences": ["x"]}, "stop_sequences: Extra inputs are not permitted"),
    ({"tool_choice": {"type": "auto"}}, "tool_choice may only be specified while providing tools."),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 'first message must use the "user" role'),
    ({"system": [mark({"type": "text", "text": "s"}, "1h")], "cache_control": cc()}, None),
])
def test_count_tokens_validates_like_messages(mock, over, fragment):
    b = {"model": MODEL, "messages": turns(0, marked=False), **over}
    if fragment is None:            # a 1h breakpoint before the automatic 5m one is fine
        status, data = post(mock, b, COUNT)
        assert status == 200 and json.loads(data) == {"input_tokens": prompt_tokens(b)}
        return
    assert fragment in refused(mock, b, COUNT)


def test_count_tokens_checks_auth_and_the_breakpoints(mock):
    b = {"model": MODEL, "messages": turns(0, marked=False)}
    status, data = post(mock, b, COUNT, key="wrong")
    assert status == 401 and json.loads(data)["error"]["type"] == "authentication_error"
    mock.take_violations()
    assert refused(mock, dict(b, messages=notes(5, range(5))), COUNT).startswith("A maximum of 4")
    assert refused(mock, {"messages": b["messages"]}, COUNT) == "model: Field required"
    thinking = dict(b, thinking={"type": "enabled", "budget_tokens": 1024})   # no max_tokens
    assert post(mock, thinking, COUNT)[0] == 200


# --------------------------------------------------------------------------- the context window

def test_a_prompt_over_the_context_window_is_refused():
    b = prompt(turns(1))
    n = prompt_tokens(b)
    with MockAnthropic(KEY, context_window=n) as m:
        assert sum(split(ask(m, b))) == n          # at the limit: fine
    with MockAnthropic(KEY, context_window=n - 1) as m:
        assert refused(m, b) == f"prompt is too long: {n} tokens > {n - 1} maximum"
        assert count(m, b) == n                    # count_tokens tells how long it is


def test_the_default_window_is_200000_tokens(mock):
    b = {"model": MODEL, "max_tokens": 1024,
         "messages": [{"role": "user", "content": "many words " * 80_000}]}
    n = prompt_tokens(b)
    assert 200_000 < n < 250_000
    assert refused(mock, b) == f"prompt is too long: {n} tokens > 200000 maximum"


# --------------------------------------------------------------------------- streaming and script mode

def test_a_stream_carries_the_same_usage(mock):
    b = prompt(turns(1))
    plain = ask(mock, b)
    mock.clear_cache()
    for read in (0, prompt_tokens(b)):
        mock.enqueue({"text": "streamed"})
        status, data = post(mock, dict(b, stream=True))
        assert status == 200, data
        events = parse_sse(data)
        start = events[0][1]["message"]["usage"]
        delta = next(d for n, d in events if n == "message_delta")["usage"]
        for u in (start, delta):
            assert split(u) == ((0, plain["cache_creation_input_tokens"], 0) if read == 0 else (read, 0, 0))
            assert set(u) == set(plain)
        assert delta == mock.requests[-1]["usage"]


def test_script_mode_takes_the_cache_and_window_options():
    b = prompt(turns(0))
    n = prompt_tokens(b)
    proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "anthropic_server.py"), "--port", "0",
                             "--key", KEY, "--auto", "echo", "--cache-min-tokens", str(n),
                             "--context-window", str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        for read, write in ((0, n), (n, 0)):
            status, data = post(None, b, port=port)
            assert status == 200 and split(json.loads(data)["usage"]) == (read, write, 0), data
        status, data = post(None, prompt(turns(1)), port=port)
        assert status == 400 and b"prompt is too long" in data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 1 and "prompt is too long" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
