"""Prompt caching and the context window, against the mock's model of the API's cache
(tests/mock/prompt_cache.py): each call of a run reads what the call before wrote, the
turns of a session read each other's prefix, the prefix is re-sent byte for byte, the
lifetime setting is honoured and priced; a task whose tool output outgrows the context
window completes with old results cleared, and a 400 "prompt is too long" is answered
by one clearing and one retry."""

import json

import pytest

from chat_util import (KEY, MODELS, MockAnthropic, assert_cost, bash, calls, chat_ok, check_stream_done,
                       finish, mock_usage, start_chat_daemon, stream_chat, tool_use)

# small enough that the agent's tools and system prompt (about 500 tokens) are cached
MIN_TOKENS = 64


@pytest.fixture
def cmock():
    with MockAnthropic(api_key=KEY, models=MODELS, cache_min_tokens=MIN_TOKENS) as m:
        yield m


def bare(obj):
    """obj without cache_control anywhere: what the cache keys on."""
    if isinstance(obj, dict):
        return {k: bare(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [bare(v) for v in obj]
    return obj


def controls(obj):
    """Every cache_control in obj."""
    if isinstance(obj, dict):
        return ([obj["cache_control"]] if "cache_control" in obj else []) + \
            [c for k, v in obj.items() if k != "cache_control" for c in controls(v)]
    if isinstance(obj, list):
        return [c for v in obj for c in controls(v)]
    return []


def marks(obj):
    return len(controls(obj))


def bash_task(mock, n):
    """n bash calls, then an answer."""
    mock.enqueue(*[calls(bash(f"echo step {i}")) for i in range(n)], {"text": "all done"})


def test_each_call_of_a_run_reads_what_the_call_before_wrote(daemon_factory, cmock):
    d = start_chat_daemon(daemon_factory, cmock)
    bash_task(cmock, 5)
    doc = chat_ok(d, "do the steps")
    assert doc["reply"] == "all done" and doc["model_calls"] == 6
    reqs = cmock.requests
    for k, rec in enumerate(reqs):
        body = rec["body"]
        assert 1 <= marks(body) <= 3, body
        cache = rec["cache"]
        if k == 0:
            assert cache["read"] == 0 and cache["write"] == cache["total"], cache
            continue
        prev = reqs[k - 1]
        # the prefix is what the call before sent, byte for byte (marks aside)
        assert bare(body["tools"]) == bare(prev["body"]["tools"])
        assert bare(body["system"]) == bare(prev["body"]["system"])
        n = len(prev["body"]["messages"])
        assert bare(body["messages"][:n]) == bare(prev["body"]["messages"]), k
        # and all of it is read: only what came since is written
        assert cache["read"] == prev["cache"]["total"], (k, cache, prev["cache"])
        assert cache["write"] == cache["total"] - cache["read"], cache
    usage = mock_usage(cmock)
    assert doc["usage"] == usage
    assert_cost(doc["cost_usd"], usage)
    share = usage["cache_read_input_tokens"] / (usage["input_tokens"] + usage["cache_read_input_tokens"] +
                                                usage["cache_creation_input_tokens"])
    assert share > 0.5, usage
    finish(d, cmock)


def test_the_turns_of_a_session_read_each_other(daemon_factory, cmock):
    d = start_chat_daemon(daemon_factory, cmock)
    sid = d.post_json("/api/sessions", {}).json()["id"]
    for turn in range(3):
        n = len(cmock.requests)
        cmock.enqueue(calls(bash("echo hi")), {"text": f"turn {turn}"})
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": f"turn {turn}"}, timeout=120)
        assert r.status == 200, r
        if turn > 0:      # the turn's first call reads the whole conversation before it
            assert cmock.requests[n]["cache"]["read"] == cmock.requests[n - 1]["cache"]["total"]
    s = d.get(f"/api/sessions/{sid}").json()
    assert s["usage"]["cache_read_input_tokens"] == mock_usage(cmock)["cache_read_input_tokens"] > 0, s
    # a system prompt of the turn's own starts a new cache: only what precedes it is read
    n = len(cmock.requests)
    cmock.enqueue({"text": "arr"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "talk", "system": "You are a pirate."},
                    timeout=120)
    assert r.status == 200, r
    cache = cmock.requests[n]["cache"]
    assert cache["read"] < cmock.requests[n - 1]["cache"]["total"] and cache["write"] > 0, cache
    finish(d, cmock)


@pytest.mark.parametrize("ttl", ["1h", "off"])
def test_the_lifetime_is_a_setting(daemon_factory, cmock, ttl):
    d = start_chat_daemon(daemon_factory, cmock, AGENTD_CACHE_TTL=ttl)
    bash_task(cmock, 2)
    doc = chat_ok(d, "go")
    body = cmock.requests[-1]["body"]
    usage = mock_usage(cmock)
    if ttl == "off":
        assert marks(body) == 0 and usage["cache_read_input_tokens"] == 0, body
    else:
        assert controls(body) == [{"type": "ephemeral", "ttl": "1h"}] * 3, body
        assert usage["cache_creation"]["ephemeral_1h_input_tokens"] == usage["cache_creation_input_tokens"] > 0
        assert usage["cache_read_input_tokens"] > 0
        # the 1-hour writes at their own price
        assert_cost(doc["cost_usd"], usage)
    assert doc["usage"] == usage
    finish(d, cmock)


def test_a_task_past_the_context_window_completes_with_old_results_cleared(daemon_factory, cmock):
    """12 tool results of 6000 bytes each (about 18000 tokens) in a window of 8000: the
    agent clears old results as it goes and the task ends with its answer."""
    d = start_chat_daemon(daemon_factory, cmock, AGENTD_CONTEXT_WINDOW=8000)
    cmock.context_window = 8000
    big = "head -c 6000 /dev/zero | tr '\\0' x"
    cmock.enqueue(*[calls(bash(big)) for _ in range(12)], {"text": "finished"})
    s = stream_chat(d, {"message": "make output", "stream": True}, timeout=240)
    doc = check_stream_done(s)
    assert doc["reply"] == "finished", doc
    compacts = s.of("compact")
    assert compacts and all(e.data["kind"] == "cleared" and e.data["tool_results"] > 0 for e in compacts), s
    assert all(e.data["tokens_after"] < e.data["tokens_before"] for e in compacts)
    last = cmock.requests[-1]["body"]["messages"]
    results = [b for m in last if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert len(results) == 12
    kept = [b for b in results if "cleared to save context" not in json.dumps(b)]
    assert 1 <= len(kept) <= 3 and results[-1] in kept, [json.dumps(b)[:80] for b in results]
    assert all(r["status"] == 200 for r in cmock.requests)      # never too long
    finish(d, cmock)


def test_prompt_is_too_long_is_measured_cleared_and_retried_once(daemon_factory, cmock):
    """The agent believes in a window of 200000; the API's is 6000: its 400 names the
    numbers, the agent clears old results and tries again, once."""
    d = start_chat_daemon(daemon_factory, cmock)
    cmock.context_window = 6000
    big = "head -c 4000 /dev/zero | tr '\\0' y"
    cmock.enqueue(*[calls(bash(big)) for _ in range(6)], {"text": "made it"})
    doc = chat_ok(d, "go", timeout=240)
    assert doc["reply"] == "made it", doc
    refusals = cmock.take_violations()     # the test's doing: the API's window is smaller
    assert refusals and all("prompt is too long" in v for v in refusals), refusals
    # each refusal is followed by an accepted retry: no loop
    for i, r in enumerate(cmock.requests):
        if r["status"] == 400:
            assert cmock.requests[i + 1]["status"] == 200
    finish(d, cmock)


def test_a_reply_cut_by_the_context_window_goes_on_after_a_clearing(daemon_factory, cmock):
    d = start_chat_daemon(daemon_factory, cmock)
    cmock.enqueue(*[calls(bash(f"echo {i}")) for i in range(5)],
                  {"text": "first half", "stop_reason": "model_context_window_exceeded"},
                  {"text": " and the rest"})
    s = stream_chat(d, {"message": "go", "stream": True}, timeout=120)
    doc = check_stream_done(s)
    assert doc["reply"] == "first half and the rest" and doc["stop_reason"] == "end_turn", doc
    [c] = s.of("compact")
    assert c.data["tool_results"] == 2, c.data         # 5 results, the newest 3 kept
    last = cmock.requests[-1]["body"]["messages"]
    assert last[-1]["role"] == "assistant" and "first half" in json.dumps(last[-1]), last[-1]
    finish(d, cmock)


def test_a_conversation_that_outgrows_the_window_is_summarised_and_goes_on(daemon_factory, cmock):
    """Long replies (not tool output) fill a window of 4000 tokens: clearing frees
    nothing, so one call summarises the conversation and the run goes on from the
    summary. Every scripted reply can serve as a step or as the summary."""
    d = start_chat_daemon(daemon_factory, cmock, AGENTD_CONTEXT_WINDOW=4000)
    cmock.context_window = 4000
    steps = [calls(bash(f"echo {i}")) for i in range(14)]
    for i, s in enumerate(steps):
        s["content"].insert(0, {"type": "text", "text": f"Step {i} done. " * 140})
    cmock.enqueue(*steps, {"text": "finished"})
    s = stream_chat(d, {"message": "a long task", "stream": True}, timeout=240)
    [done] = s.of("done")           # (each step's text streams too: not the reply alone)
    assert done.data["reply"] == "finished", done.data
    summaries = [e for e in s.of("compact") if e.data["kind"] == "summary"]
    assert summaries and all(e.data["summary"].startswith("Step ") for e in summaries), s.of("compact")
    assert all(e.data["tokens_after"] < e.data["tokens_before"] for e in summaries)
    asks = [r for r in cmock.requests if r["body"].get("tool_choice") == {"type": "none"}]
    assert len(asks) == len(summaries)
    for ask in asks:      # every tool result cleared, and the request fits
        results = [b for m in ask["body"]["messages"] if isinstance(m["content"], list)
                   for b in m["content"] if b.get("type") == "tool_result"]
        assert all("cleared to save context" in json.dumps(b) for b in results)
    after = cmock.requests[cmock.requests.index(asks[0]) + 1]["body"]["messages"]
    assert after[0]["role"] == "user" and "summary" in json.dumps(after[0]), after[0]
    finish(d, cmock)


def test_extended_thinking_streams_and_round_trips(daemon_factory, cmock):
    """With a thinking budget the requests ask for thinking, its pieces stream as
    thinking events, and a reply's thinking block goes back with its signature (the
    mock checks both) while the tool loop runs; a request may turn it off, or ask for
    a budget of its own within max_tokens."""
    d = start_chat_daemon(daemon_factory, cmock, AGENTD_THINKING_BUDGET=2048, AGENTD_MAX_TOKENS=8192)
    cmock.enqueue(calls(bash("echo hi"), thinking="I should look first."), {"text": "done", "thinking": "Fine."})
    s = stream_chat(d, {"message": "think", "stream": True}, timeout=120)
    doc = check_stream_done(s)
    assert doc["reply"] == "done", doc
    assert "".join(e.data["thinking"] for e in s.of("thinking")) == "I should look first.Fine."
    for rec in cmock.requests:
        assert rec["body"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}, rec["body"]
    back = cmock.requests[1]["body"]["messages"][1]["content"][0]
    assert back["type"] == "thinking" and back["thinking"] == "I should look first." and back["signature"]
    n = len(cmock.requests)
    cmock.enqueue({"text": "plain"})
    assert chat_ok(d, {"message": "no", "thinking": {"type": "disabled"}})["reply"] == "plain"
    assert "thinking" not in cmock.requests[n]["body"]
    cmock.enqueue({"text": "deep", "thinking": "Hmm."})
    chat_ok(d, {"message": "more", "thinking": {"type": "enabled", "budget_tokens": 4096}})
    assert cmock.requests[n + 1]["body"]["thinking"]["budget_tokens"] == 4096
    for bad, words in (({"type": "enabled", "budget_tokens": 100}, "1024"),
                       ({"type": "enabled", "budget_tokens": 9000}, "max_tokens"),
                       ({"type": "sometimes"}, "enabled")):
        r = d.post_json("/api/chat", {"message": "x", "thinking": bad})
        assert r.status == 400 and words in r.json()["error"]["message"], r
    finish(d, cmock)


def test_a_changed_tool_list_starts_a_new_cache(daemon_factory, cmock):
    """A remote MCP server whose tools change during a call: the tools come first in the
    cached prefix, so the next call reads nothing and writes it all again; the call
    after that reads again."""
    from mcp_hostile import serve_http
    srv = serve_http("changing")
    try:
        d = start_chat_daemon(daemon_factory, cmock, settings={"mcp": {"servers": {"changing": {"url": srv.url}}}})
        cmock.enqueue(calls(bash("echo a")), calls(bash("echo b")), calls(tool_use("mcp__changing__grow", {})),
                      calls(bash("echo c")), {"text": "done"})
        assert chat_ok(d, "go")["reply"] == "done"
        caches = [r["cache"] for r in cmock.requests]
        assert caches[2]["read"] > 0 and caches[3]["read"] == 0, caches      # the tools changed
        assert caches[3]["write"] == caches[3]["total"] and caches[4]["read"] == caches[3]["total"], caches
        finish(d, cmock)
    finally:
        srv.stop()
