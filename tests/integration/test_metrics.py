"""GET /metrics: the Prometheus text format (promtool checks it), counters that move by
exactly what happened (model calls, tokens, spend, retries, tools, HTTP requests,
sessions, sandboxes built or failed, OOM kills), who may read it, and label sets that
stay bounded whatever clients send."""

import concurrent.futures
import os
import re
import subprocess
import tempfile
import time

import pytest

import sandbox_util as su
from chat_util import (KEY, MODEL, bash, calls, chat_ok, expected_cost, finish, mock, mock_usage,  # noqa: F401
                       chat_settings, post_chat, start_chat_daemon)
from conftest import poll
from metrics_util import moved, parse, promtool_check, scrape, series, value
from nethost import nethost  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes need root here")

OVERLOADED = {"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}}


def counted(d, want, name, **labels):
    """A scrape once the sample is want: a request is counted as its answer ends, which
    may be just after its client has read it."""
    got = poll(lambda: value(parse(scrape(d)), name, **labels) == want, su.HOST_WAIT)
    assert got, (name, labels, value(parse(scrape(d)), name, **labels), want)


def test_a_chat_moves_each_counter_by_what_happened(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock)
    first = scrape(d)
    assert promtool_check(first) == "", promtool_check(first)
    before = parse(first)
    assert value(before, "agentd_build_info", version=d.health()["version"]) == 1
    # one tool call, then an overloaded answer that is tried again, then the reply
    mock.enqueue(calls(bash("echo hi")), OVERLOADED, {"text": "done"})
    doc = chat_ok(d, "say hi")
    assert doc["reply"] == "done"
    counted(d, 1, "agentd_http_requests_total", method="POST", route="/api/chat", code="200")
    # a scrape is counted as its answer ends, just after its client may have read it:
    # the last one is taken once the ones before it are in
    scrapes = {"method": "GET", "route": "/metrics", "code": "200"}

    def with_earlier_scrapes():
        t = scrape(d)
        return t if value(parse(t), "agentd_http_requests_total", **scrapes) - \
            value(before, "agentd_http_requests_total", **scrapes) >= 2 else None
    text = poll(with_earlier_scrapes, su.HOST_WAIT)
    assert text, "the scrapes before were never counted"
    assert promtool_check(text) == "", promtool_check(text)
    after = parse(text)
    delta = moved(before, after)

    def moved_by(name, **labels):
        return delta.get((name, frozenset(labels.items())), 0.0)

    assert moved_by("agentd_api_requests_total", model=MODEL, outcome="ok") == 2
    assert moved_by("agentd_api_retries_total", reason="overloaded") == 1
    usage = mock_usage(mock)
    for kind, field in (("input", "input_tokens"), ("output", "output_tokens"),
                        ("cache_write", "cache_creation_input_tokens"), ("cache_read", "cache_read_input_tokens")):
        assert moved_by("agentd_api_tokens_total", model=MODEL, kind=kind) == usage[field], kind
    assert moved_by("agentd_api_cost_usd_total", model=MODEL) == pytest.approx(expected_cost(usage), rel=1e-9)
    assert moved_by("agentd_api_cost_usd_total", model=MODEL) == pytest.approx(doc["cost_usd"], rel=1e-9)
    assert moved_by("agentd_api_request_seconds_count", model=MODEL, phase="total") == 2
    assert moved_by("agentd_api_request_seconds_count", model=MODEL, phase="first_byte") == 2
    assert moved_by("agentd_tool_calls_total", tool="bash", outcome="ok") == 1
    assert moved_by("agentd_tool_seconds_count", tool="bash") == 1
    assert moved_by("agentd_sessions_created_total", pattern="ephemeral") == 1
    assert moved_by("agentd_sandbox_start_seconds_count") == 1
    assert moved_by("agentd_http_requests_total", method="POST", route="/api/chat", code="200") == 1
    # the scrapes before this one counted, once each was answered
    assert moved_by("agentd_http_requests_total", method="GET", route="/metrics", code="200") >= 2
    assert moved_by("agentd_sandbox_failures_total", step="rootfs") == 0
    # nothing else of the API moved: no error outcome, no other model
    api = {k: v for k, v in delta.items() if k[0] == "agentd_api_requests_total"}
    assert list(api.values()) == [2], api
    finish(d, mock)


def test_errors_are_counted_by_outcome_and_route(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_API_MAX_RETRIES=1)
    before = parse(scrape(d))
    mock.enqueue(OVERLOADED, OVERLOADED)
    r = post_chat(d, {"message": "hi"})
    assert r.status == 503, r
    assert d.get("/api/sessions/sess_nonesuch").status == 404
    assert post_chat(d, {"message": ""}).status == 400
    after = parse(scrape(d))
    assert value(after, "agentd_api_requests_total", model=MODEL, outcome="overloaded") - \
        value(before, "agentd_api_requests_total", model=MODEL, outcome="overloaded") == 1
    assert value(after, "agentd_api_retries_total", reason="overloaded") - \
        value(before, "agentd_api_retries_total", reason="overloaded") == 1
    counted(d, 1, "agentd_http_requests_total", method="POST", route="/api/chat", code="503")
    counted(d, 1, "agentd_http_requests_total", method="POST", route="/api/chat", code="400")
    # the route is the template: the id never becomes a label
    counted(d, 1, "agentd_http_requests_total", method="GET", route="/api/sessions/{id}", code="404")
    assert "sess_nonesuch" not in scrape(d)
    finish(d, mock)


def test_a_sandbox_that_cannot_be_built_counts_its_step(daemon_factory, mock):
    with tempfile.TemporaryDirectory(prefix="agentd-metrics-hidden-") as hidden:
        os.mkdir(os.path.join(hidden, "data"))
        os.chmod(hidden, 0o700)         # root's: the sandbox's ids cannot reach the bind's source
        settings = chat_settings()
        settings["sandbox"]["binds"] = [f"{hidden}/data:/data"]
        d = start_chat_daemon(daemon_factory, mock, settings)
        r = post_chat(d, {"message": "hi"})
        assert r.status >= 500, r
        samples = parse(scrape(d))
        assert value(samples, "agentd_sandbox_failures_total", step="rootfs") == 1, \
            series(samples, "agentd_sandbox_failures_total")
        assert value(samples, "agentd_sandbox_start_seconds_count") == 0
        d.assert_serving()


def test_oom_kills_are_counted(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock)
    r = d.post_json("/api/sessions", {"pattern": "long-running", "policy": {"memory_max": "64M"}})
    assert r.status == 201, r
    sid = r.json()["id"]
    # tail keeps the whole "line" of /dev/zero: it grows until the kernel kills it
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "tail /dev/zero", "timeout_s": 60}, timeout=90)
    assert r.status == 200, r
    assert r.json()["signal"] == 9, r.json()
    got = poll(lambda: value(parse(scrape(d)), "agentd_oom_kills_total") >= 1, su.HOST_WAIT)
    assert got, parse(scrape(d)).get(("agentd_oom_kills_total", frozenset()))
    assert value(parse(scrape(d)), "agentd_oom_kills_total") == 1
    assert d.request("DELETE", f"/api/sessions/{sid}").status == 200
    finish(d, mock)


def test_who_may_read(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_METRICS_TOKEN="metrics-secret-1")
    assert d.get("/metrics").status == 200                       # loopback
    assert d.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"}).status == 200
    for wrong in ("Bearer nope", "Basic bWV0cmljczp4", "Bearer " + KEY):
        r = d.get("/metrics", headers={"Authorization": wrong})
        assert r.status == 401, (wrong, r)
        assert r.header("WWW-Authenticate", "").startswith("Bearer"), r
    off = start_chat_daemon(daemon_factory, mock, AGENTD_METRICS="false")
    r = off.get("/metrics")
    assert r.status == 404 and "metrics.enabled" in r.json()["error"]["message"], r
    # the token is a secret: never in the config file
    d.assert_serving()


def test_a_programs_calls_through_the_sandbox_api_are_counted(daemon_factory, mock):
    from test_sandbox_api import create, message, probe
    d = start_chat_daemon(daemon_factory, mock)
    sid = create(d)
    before = parse(scrape(d))
    mock.enqueue({"text": "counted"})
    ok, refused = probe(d, sid, {"path": "/v1/messages", "body": message()},
                        {"path": "/v1/messages", "body": message(model="claude-not-allowed")})
    assert ok["status"] == 200 and refused["status"] == 400, (ok, refused)

    def delta(name, **labels):
        return value(parse(scrape(d)), name, **labels) - value(before, name, **labels)
    assert poll(lambda: delta("agentd_api_requests_total", model=MODEL, outcome="ok") == 1, su.HOST_WAIT)
    assert poll(lambda: delta("agentd_api_requests_total", model="other", outcome="refused") == 1, su.HOST_WAIT)
    usage = mock_usage(mock)
    assert delta("agentd_api_tokens_total", model=MODEL, kind="input") == usage["input_tokens"]
    assert delta("agentd_api_tokens_total", model=MODEL, kind="output") == usage["output_tokens"]
    assert delta("agentd_api_request_seconds_count", model=MODEL, phase="first_byte") == 1
    assert delta("agentd_api_request_seconds_count", model=MODEL, phase="total") == 1
    finish(d, mock)


def remote_get(host, d, path, token=None):
    """GET path of d from the test host's namespace: a client beyond loopback."""
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    p = subprocess.run(host.exec_args(argv + [f"http://{d.host}:{d.port}{path}"]), capture_output=True, timeout=60)
    return int(p.stdout.decode() or 0)


@pytest.mark.parametrize("metrics_token", [None, "metrics-secret-2"])
def test_beyond_loopback_only_the_metrics_token_reads(daemon_factory, mock, nethost, metrics_token):
    api_token = "agt_" + "a" * 64
    env = {"AGENTD_TOKENS": api_token}
    if metrics_token:
        env["AGENTD_METRICS_TOKEN"] = metrics_token
    settings = chat_settings({"listen": f"{nethost.host_addr}:0"})
    d = start_chat_daemon(daemon_factory, mock, settings, **env)
    assert remote_get(nethost, d, "/api/health") == 200        # the namespace reaches agentd
    assert remote_get(nethost, d, "/metrics") == (401 if metrics_token else 403)
    assert remote_get(nethost, d, "/metrics", api_token) == 401  # an API token reads no metrics
    if metrics_token:
        assert remote_get(nethost, d, "/metrics", metrics_token) == 200
    d.assert_serving()


def test_spend_by_token_is_opt_in(daemon_factory, mock):
    tokens = ["agt_" + "b" * 64, "agt_" + "c" * 64]
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS=",".join(tokens), AGENTD_METRICS_PER_TOKEN="true")
    names = []
    for t in tokens:
        mock.enqueue({"text": "hi"})
        chat_ok(d, "hello", headers={"Authorization": f"Bearer {t}"})
        names.append(d.get("/api/whoami", headers={"Authorization": f"Bearer {t}"}).json()["name"])
    samples = parse(scrape(d))
    cost = {s["token"]: value(samples, "agentd_api_cost_usd_total", **s)
            for s in series(samples, "agentd_api_cost_usd_total")}
    assert set(cost) == set(names), cost
    for i, name in enumerate(names):
        assert cost[name] == pytest.approx(expected_cost(mock_usage(mock, [i])), rel=1e-9)
    finish(d, mock)


def test_labels_stay_bounded(daemon_factory, mock):
    """Ids in paths, hostile methods and a model's made-up tool names never grow the
    label sets past their caps."""
    d = start_chat_daemon(daemon_factory, mock, {"session": {"max_sessions": 2000}})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: d.get(f"/api/sessions/sess_{i:040d}/files/x{i}").status, range(1000)))
    for i in range(20):
        d.raw(f"BREW{i} /api/sessions/sess_{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    # a reply with 400 tool calls of 400 names the agent does not have
    mock.enqueue(calls(*[{"type": "tool_use", "name": f"made_up_{i}", "input": {}} for i in range(400)]),
                 {"text": "ok"})
    chat_ok(d, "go")
    samples = parse(scrape(d))
    http = series(samples, "agentd_http_requests_total")
    assert len(http) < 40, http
    assert not any(re.search(r"sess_\d", v) for s in http for v in s.values()), http
    tools = series(samples, "agentd_tool_calls_total")
    assert len(tools) <= 301, len(tools)
    assert {"tool": "other", "outcome": "other"} in tools or {"tool": "other", "outcome": "error"} in tools \
        or any(s["tool"] == "other" for s in tools), tools
    assert sum(value(samples, "agentd_tool_calls_total", **s) for s in tools) == 400
    finish(d, mock)


def test_1000_sessions_keep_the_label_sets_small(daemon_factory, mock):
    settings = chat_settings({"session": {"max_sessions": 2000, "max_per_token": 2000}})
    settings["sandbox"]["workspace_store"] = "tmpfs"
    d = start_chat_daemon(daemon_factory, mock, settings)

    def one(i):
        # faster than the host forks supervisors, a client meets 503 and Retry-After
        while (r := d.post_json("/api/sessions", {"pattern": "long-running"}, timeout=60)).status == 503:
            assert r.header("Retry-After"), r
            busy.append(r)
            time.sleep(0.05)            # a client's backoff, shortened: the test waits for no state
        assert r.status == 201, r
        sid = r.json()["id"]
        assert d.request("DELETE", f"/api/sessions/{sid}", timeout=60).status == 200
        return sid

    busy = []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(one, range(1000)))
    text = scrape(d)
    samples = parse(text)
    assert value(samples, "agentd_sessions_created_total", pattern="long-running") == 1000
    assert len(samples) < 600, len(samples)
    assert not any(sid in text for sid in ids[:50])
    finish(d, mock)
