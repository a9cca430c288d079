"""The sandbox's way out: agentd's egress proxy (network.allow, network.hosts), checked
against a test host in a network namespace of the test's own (nethost.py). Nothing here
sends a packet anywhere but to loopback and to that test host: refusals are decided
before any connection is made, and a direct connection from the sandbox has no route."""

import json

import pytest

from chat_util import (CHAT_TIMEOUT, calls, chat_ok, chatd, finish, mock, only_result,  # noqa: F401
                       start_chat_daemon, tool_use)
from conftest import assert_json_error, poll
from nethost import module_nethost  # noqa: F401
import sandbox_util as su


@pytest.fixture(scope="module")
def host(module_nethost):
    return module_nethost


def net_settings(host, allow=("allowed.test", "*.wild.test"), **more):
    network = {
        "allow": list(allow) + ["loopy.test", "meta.test"],
        # denied.test is the same test host, but not on the list: it must never see it
        "hosts": [f"allowed.test:{host.addr}", f"denied.test:{host.addr}", f"a.wild.test:{host.addr}",
                  "loopy.test:127.0.0.1", "meta.test:169.254.169.254"],
    }
    network.update(more)
    return {"network": network}


@pytest.fixture
def netd(daemon_factory, mock, host):
    return start_chat_daemon(daemon_factory, mock, settings=net_settings(host))


def create(d, body=None, status=201):
    r = d.post_json("/api/sessions", body if body is not None else {})
    assert r.status == status, r
    return r.json()["id"] if status == 201 else r


def sh(d, sid, command, timeout_s=60):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, "timeout_s": timeout_s},
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-2000:]}"
    return r.json()


def curl(d, sid, args, before=""):
    """curl in the sandbox: (HTTP status, or the proxy's answer to a CONNECT that failed,
    or 0; the body, or curl's error when there is none; curl's exit status)."""
    out = sh(d, sid, f"{before}rm -f /tmp/body; curl -sS -m 30 -o /tmp/body -w '%{{http_code}} %{{http_connect}}' {args} "
                     ">/tmp/code 2>/tmp/err; echo \" $?\" >>/tmp/code; cat /tmp/code; "
                     "cat /tmp/body 2>/dev/null || cat /tmp/err")["output"]
    first, _, body = out.partition("\n")
    code, connect, rc = first.split()
    code = int(code) if int(code) else int(connect)
    return code, body, int(rc)


def egress_history(d, sid, n):
    def got():
        h = d.get(f"/api/sessions/{sid}/history").json()["history"]
        e = [x for x in h if x["kind"] == "egress"]
        return e if len(e) >= n else None
    found = poll(got, su.HOST_WAIT)
    assert found, d.get(f"/api/sessions/{sid}/history").json()
    return found


def seen(host, part):
    return [r for r in host.requests() if part in r["path"]]


def test_an_allowed_name_is_reached_through_the_proxy(netd, mock, host):
    sid = create(netd)
    env = sh(netd, sid, "env | grep -i _proxy | sort")["output"].split()
    assert "HTTP_PROXY=http://127.0.0.1:3128" in env and "https_proxy=http://127.0.0.1:3128" in env, env
    assert "NO_PROXY=localhost,127.0.0.1,::1" in env, env
    code, body, rc = curl(netd, sid, "http://allowed.test/hello?plain")
    assert (code, rc) == (200, 0) and body.startswith("hello from"), (code, body)
    req = seen(host, "/hello?plain")
    assert req and req[-1]["host"] == "allowed.test", req
    # CONNECT: a tunnel, here to plain HTTP on 443 (no certificates in a test)
    code, body, rc = curl(netd, sid, "-p http://allowed.test:443/hello?tunnel")
    assert (code, rc) == (200, 0) and body.startswith("hello from"), (code, body)
    assert seen(host, "/hello?tunnel")
    # a wildcard's name
    code, body, rc = curl(netd, sid, "http://a.wild.test/hello?wild")
    assert code == 200, (code, body)
    hist = egress_history(netd, sid, 3)
    plain = [e for e in hist if e["tool"] == "GET"][0]
    assert plain["decision"] == "allowed" and plain["input"] == {"host": "allowed.test", "port": 80}, plain
    assert plain["address"] == host.addr and plain["bytes_in"] > 0 and plain["bytes_out"] > 0, plain
    assert plain["is_error"] is False
    tunnel = [e for e in hist if e["tool"] == "CONNECT"][0]
    assert tunnel["input"] == {"host": "allowed.test", "port": 443} and tunnel["decision"] == "allowed", tunnel
    # the session says what its network is
    s = netd.get(f"/api/sessions/{sid}").json()
    assert s["network"]["proxy"] == "http://127.0.0.1:3128", s
    assert "allowed.test" in s["network"]["allow"], s
    assert "egress allowed GET allowed.test:80 at " + host.addr in netd.stderr
    finish(netd, mock)


def test_names_off_the_list_are_refused_with_a_reason(netd, mock, host):
    sid = create(netd)
    for args in ("http://denied.test/hello?off", "-p http://denied.test:443/hello?off"):
        code, body, rc = curl(netd, sid, args)
        assert code == 403, (args, code, body)
    code, body, _ = curl(netd, sid, "http://denied.test/hello?off")
    assert "denied.test is not on this session's allow-list (network.allow)" in body, body
    assert not seen(host, "?off"), host.requests()
    # an allowed name whose address is loopback or the metadata service: refused before
    # any connection, with what the address is
    code, body, _ = curl(netd, sid, "http://loopy.test:8080/")
    assert code == 403 and "loopy.test resolves to 127.0.0.1, which is loopback" in body, body
    code, body, _ = curl(netd, sid, "http://meta.test/latest/meta-data/")
    assert code == 403 and "the cloud metadata service" in body, body
    hist = egress_history(netd, sid, 4)
    assert all(e["decision"] == "refused" and e["is_error"] for e in hist), hist
    assert "egress refused GET denied.test:80" in netd.stderr
    finish(netd, mock)


def test_nothing_gets_out_around_the_proxy(netd, mock, host):
    sid = create(netd)
    # the test host's own address, the proxy ignored: the sandbox has no route
    code, body, rc = curl(netd, sid, f"--noproxy '*' http://{host.addr}/hello?direct")
    assert code == 0 and rc != 0, (code, body, rc)
    assert "unreachable" in body.lower() or "connect" in body.lower(), body
    # and the proxy will not go to an address it was given instead of a name
    code, body, rc = curl(netd, sid, f"http://{host.addr}/hello?direct")
    assert code == 403 and "not on this session's allow-list" in body, body
    assert not seen(host, "?direct")
    devs = sh(netd, sid, "cat /proc/net/dev")["output"].splitlines()[2:]
    assert [line.split(":")[0].strip() for line in devs] == ["lo"], devs
    finish(netd, mock)


def test_a_redirect_to_a_refused_name_is_refused(netd, mock, host):
    sid = create(netd)
    code, body, rc = curl(netd, sid, "-L 'http://allowed.test/redirect?to=http://denied.test/hello?hop'")
    assert code == 403 and "denied.test" in body, (code, body)
    assert seen(host, "/redirect?to=http://denied.test/hello?hop") and not [r for r in host.requests() if r["path"] == "/hello?hop"]
    finish(netd, mock)


def test_a_session_narrows_the_list_and_may_not_widen_it(netd, mock, host):
    sid = create(netd, {"network": {"allow": ["a.wild.test"]}})
    code, body, _ = curl(netd, sid, "http://allowed.test/hello?narrow")
    assert code == 403, (code, body)
    code, body, _ = curl(netd, sid, "http://a.wild.test/hello?narrow2")
    assert code == 200, (code, body)
    assert netd.get(f"/api/sessions/{sid}").json()["network"]["allow"] == ["a.wild.test"]
    for bad, words in (({"allow": ["example.com"]}, "not within agentd's network.allow"),
                       ({"allow": ["*.test"]}, "not within"),
                       ({"allow": "allowed.test"}, "network must be"),
                       ({"allow": ["bad name"]}, "is not a host name"),
                       ({"allow": [], "x": 1}, "network must be")):
        r = create(netd, {"network": bad}, status=400)
        assert_json_error(r, 400, "invalid_request_error", [words])
    r = netd.post_json("/api/chat", {"message": "hi", "network": {"allow": ["example.com"]}})
    assert_json_error(r, 400, "invalid_request_error", ["not within"])
    finish(netd, mock)


def test_no_allow_list_means_no_proxy(chatd, mock):
    sid = create(chatd)
    assert "PROXY" not in sh(chatd, sid, "env")["output"].upper()
    code, body, rc = curl(chatd, sid, "-x http://127.0.0.1:3128 http://allowed.test/")
    assert code == 0 and rc == 7, (code, body, rc)     # nothing listens
    assert chatd.get(f"/api/sessions/{sid}").json()["network"] == {"allow": []}
    finish(chatd, mock)


def test_connections_at_once_and_bytes_per_turn_are_limited(daemon_factory, mock, host):
    d = start_chat_daemon(daemon_factory, mock, settings=net_settings(
        host, max_connections=1, max_bytes_per_turn="64K"))
    sid = create(d)
    # one connection held open by a slow answer (once the sandbox sees it established, to
    # the proxy's port 3128); the next is refused while it lasts
    hold = ("curl -s -m 60 http://allowed.test/slow?s=30 >/dev/null & "
            "until grep -q '0100007F:0C38 01' /proc/net/tcp; do sleep 0.05; done; ")
    code, body, _ = curl(d, sid, "http://allowed.test/hello?second", before=hold)
    assert code == 429 and "network.max_connections" in body, (code, body)
    # the budget: a large answer is cut, and the next request refused, until a turn
    assert poll(lambda: curl(d, sid, "http://allowed.test/hello?free")[0] == 200, su.HOST_WAIT)
    code, body, rc = curl(d, sid, "http://allowed.test/big?bytes=1000000")
    assert rc != 0 and len(body) < 1000000, (code, len(body), rc)
    code, body, _ = curl(d, sid, "http://allowed.test/hello?after")
    assert code == 403 and "network.max_bytes_per_turn" in body, (code, body)
    hist = egress_history(d, sid, 4)
    assert any("max_bytes_per_turn" in (e.get("reason") or "") and e["decision"] == "allowed" for e in hist), hist
    finish(d, mock)


def tool_names(mock, i=0):
    return [t["name"] for t in mock.requests[i]["body"]["tools"]]


def fetch(d, mock, tool, url, i=1, **body):
    """One chat whose model calls tool on url: the tool's result (text, is_error)."""
    n = len(mock.requests)
    mock.enqueue(calls(tool_use(tool, {"url": url})), {"text": "read"})
    chat_ok(d, {"message": f"fetch {url}", **body})
    return only_result(mock, n + 1)


def test_fetch_url_gives_the_page_as_readable_text(netd, mock, host):
    text, err = fetch(netd, mock, "fetch_url", "http://allowed.test/")
    assert "fetch_url" in tool_names(mock) and "fetch_html" in tool_names(mock)
    assert not err, text
    head, _, body = text.partition("\n\n")
    assert "URL: http://allowed.test/" in head and "Status: 200" in head and "text/html" in head, head
    assert "Title: " in head, head
    assert "# " in body and "<" not in body, body            # headings kept, markup gone
    assert "](" in body, body                                 # links kept
    page = host.requests()[-1]
    assert page["path"] == "/" and page["host"] == "allowed.test", page
    # the same page as served
    html, err = fetch(netd, mock, "fetch_html", "http://allowed.test/")
    assert not err and "<script>" in html and "<title>" in html, html
    finish(netd, mock)


def test_fetch_follows_redirects_and_checks_each_hop(netd, mock, host):
    text, err = fetch(netd, mock, "fetch_url", "http://allowed.test/redirect?to=http://a.wild.test/hello")
    assert not err and "URL: http://a.wild.test/hello" in text and "hello from" in text, text
    text, err = fetch(netd, mock, "fetch_html", "http://allowed.test/redirect?to=http://denied.test/hello?fhop")
    assert err and "refused: denied.test is not on this session's allow-list" in text, text
    assert not [r for r in host.requests() if r["path"] == "/hello?fhop"]
    for url, words in (("http://loopy.test:8080/", "which is loopback"),
                       ("http://meta.test/latest/", "cloud metadata"),
                       ("file:///etc/passwd", "only http:// and https://"),
                       ("http://other.example/", "not on this session's allow-list")):
        text, err = fetch(netd, mock, "fetch_url", url)
        assert err and words in text, (url, text)
    finish(netd, mock)


def test_fetch_caps_size_and_says_so(daemon_factory, mock, host):
    d = start_chat_daemon(daemon_factory, mock, settings=net_settings(host, fetch_max_bytes="4K"))
    text, err = fetch(d, mock, "fetch_html", "http://allowed.test/big?bytes=100000")
    assert not err and "cut at 4096 bytes (network.fetch_max_bytes)" in text, text[-300:]
    assert len(text) < 6000
    text, err = fetch(d, mock, "fetch_url", "http://allowed.test/nothing-here")
    assert err and "Status: 404" in text, text
    finish(d, mock)


def test_no_network_no_fetch_tools(chatd, mock):
    mock.enqueue({"text": "hi"})
    chat_ok(chatd, "hello")
    assert "fetch_url" not in tool_names(mock) and "bash" in tool_names(mock)
    finish(chatd, mock)


def test_an_interrupt_abandons_a_fetch(netd, mock, host):
    import threading
    sid = create(netd)
    mock.enqueue(calls(tool_use("fetch_url", {"url": "http://allowed.test/slow?s=100&interrupted"})))
    out = {}
    t = threading.Thread(target=lambda: out.__setitem__("r", netd.post_json(
        f"/api/sessions/{sid}/messages", {"message": "slow"}, timeout=CHAT_TIMEOUT)))
    t.start()
    try:
        assert poll(lambda: seen(host, "&interrupted"), su.HOST_WAIT), host.requests()
        assert netd.request("POST", f"/api/sessions/{sid}/interrupt").status == 202
    finally:
        t.join(CHAT_TIMEOUT)
    assert out["r"].status == 200 and out["r"].json()["stop_reason"] == "interrupted", out["r"]
    hist = egress_history(netd, sid, 1)
    assert hist[-1]["tool"] == "fetch_url" and hist[-1]["reason"] == "cancelled", hist
    # the session goes on
    text, err = fetch(netd, mock, "fetch_url", "http://allowed.test/hello?after", session_id=sid)
    assert not err and "hello from" in text, text
    finish(netd, mock)
