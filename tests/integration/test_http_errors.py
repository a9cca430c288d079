"""Error responses: every bad request gets its status and a JSON body
{"error": {"type", "message"}} with a useful message, and the daemon keeps serving."""

import json
import socket

import pytest

from conftest import assert_json_error

MAX_BODY = 4096
MAX_CHARS = 50


@pytest.fixture(scope="module")
def srv(module_daemon_factory):
    """No API key; small caps so that the limits are cheap to reach."""
    return module_daemon_factory(settings={"http.max_body_bytes": MAX_BODY,
                                           "anthropic.max_message_chars": MAX_CHARS})


@pytest.fixture(scope="module")
def srv_with_key(module_daemon_factory):
    # An API that cannot be reached: a loopback port nothing listens on (never a remote one).
    return module_daemon_factory(env={"ANTHROPIC_API_KEY": "sk-ant-test-key",
                                      "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{closed_port()}",
                                      "AGENTD_API_MAX_RETRIES": "0"},
                                 settings={"anthropic.max_message_chars": MAX_CHARS})


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def still_serving(request):
    """After every test here, each daemon it used still answers /api/health."""
    yield
    for name in ("srv", "srv_with_key"):
        if name in request.fixturenames:
            request.getfixturevalue(name).assert_serving()


def chat_raw(srv, body, content_type="application/json", extra=b""):
    """POST /api/chat with exactly these body bytes."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    head = (f"POST /api/chat HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode() + extra + b"\r\n"
    return srv.raw(head + body, method="POST")


# --------------------------------------------------------------------------- 404 / 405

@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/api/health/extra", "/nope.html",
                                  "/no/such/dir/", "/api//health"])
def test_unknown_route_404(srv, path):
    r = srv.get(path)
    assert_json_error(r, 404)


def test_unknown_api_route_names_the_path(srv):
    err = assert_json_error(srv.get("/api/nope"), 404)
    assert "/api/nope" in err["message"]


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/api/health", {"GET"}),
    ("DELETE", "/api/health", {"GET"}),
    ("GET", "/api/chat", {"POST"}),
    ("PUT", "/api/chat", {"POST"}),
    ("HEAD", "/api/chat", {"POST"}),
    ("POST", "/", {"GET"}),
    ("DELETE", "/index.html", {"GET"}),
])
def test_wrong_method_405_with_allow(srv, method, path, allowed):
    r = srv.request(method, path, body=b"" if method in ("POST", "PUT") else None)
    assert r.status == 405, r
    allow = {m.strip() for m in r.header("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, r.headers
    assert method not in allow
    if method != "HEAD":
        err = assert_json_error(r, 405)
        assert method in err["message"]


# --------------------------------------------------------------------------- 413

def test_content_length_over_limit_413(srv):
    # headers only: the daemon must answer without waiting for the body
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1), method="POST")
    err = assert_json_error(r, 413)
    assert str(MAX_BODY) in err["message"]


def test_body_over_limit_sent_in_full_413(srv):
    body = json.dumps({"message": "a" * (MAX_BODY + 100)})
    r = srv.post_json("/api/chat", body)
    assert_json_error(r, 413)


def test_chunked_body_over_limit_413(srv):
    body = json.dumps({"message": "a" * (MAX_BODY * 2)}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                      for i in range(0, len(body), 1000))
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n", method="POST")
    err = assert_json_error(r, 413)
    assert str(MAX_BODY) in err["message"]


def test_chunked_body_within_limit_is_read(srv):
    body = json.dumps({"message": "hello"}).encode()
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
                method="POST")
    assert_json_error(r, 503)  # got past body and validation: only the key is missing


def test_body_exactly_at_limit_is_accepted(srv):
    body = json.dumps({"message": "hi"})
    body += " " * (MAX_BODY - len(body))
    assert len(body) == MAX_BODY
    assert_json_error(srv.post_json("/api/chat", body), 503)


def test_absurd_content_length_refused(srv):
    r = srv.raw(b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: 99999999999999999999999\r\n\r\n", method="POST")
    assert r.status in (400, 413), r


def test_body_on_get_over_limit_413(srv):
    r = srv.raw(b"GET /api/health HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    assert_json_error(r, 413)


# --------------------------------------------------------------------------- oversized headers

def test_64k_header_refused(srv):
    r = srv.raw(b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    assert r.status in (413, 431), r


def test_many_headers_over_limit_refused(srv):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(400))
    r = srv.raw(b"GET /api/health HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    assert r.status in (413, 431), r


def test_header_within_limit_is_fine(srv):
    r = srv.get("/api/health", headers={"X-Filler": "c" * 8000})
    assert r.status == 200, r


# --------------------------------------------------------------------------- 400 malformed JSON

MALFORMED = [
    ("truncated", b'{"message": "hi"'),
    ("truncated-string", b'{"message": "hi'),
    ("trailing-garbage", b'{"message": "hi"} x'),
    ("two-documents", b'{"message": "hi"}{"message": "hi"}'),
    ("invalid-utf8", b'{"message": "\xff\xfe"}'),
    ("overlong-utf8", b'{"message": "\xc0\xaf"}'),
    ("utf8-surrogate", b'{"message": "\xed\xa0\x80"}'),
    ("truncated-utf8", b'{"message": "\xe2\x82"}'),
    ("raw-control-char", b'{"message": "a\x01b"}'),
    ("raw-newline-in-string", b'{"message": "a\nb"}'),
    ("raw-nul", b'{"message": "a\x00b"}'),
    ("nul-escape", b'{"message": "a\\u0000b"}'),
    ("lone-surrogate-escape", b'{"message": "\\ud800"}'),
    ("bad-escape", b'{"message": "\\q"}'),
    ("single-quotes", b"{'message': 'hi'}"),
    ("trailing-comma", b'{"message": "hi",}'),
    ("nan", b'{"message": "hi", "x": NaN}'),
    ("deep-nesting", b'{"message": "hi", "x": ' + b"[" * 150 + b"]" * 150 + b"}"),
    ("deep-nesting-objects", b'{"message": "hi", "x": ' + b'{"a":' * 120 + b"1" + b"}" * 120 + b"}"),
    ("whitespace-only", b"   "),
]


@pytest.mark.parametrize("body", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_json_400(srv, body):
    err = assert_json_error(chat_raw(srv, body), 400)
    assert "json" in err["message"].lower() or "utf-8" in err["message"].lower(), err


def test_empty_body_400(srv):
    err = assert_json_error(chat_raw(srv, b""), 400)
    assert "body" in err["message"].lower()


@pytest.mark.parametrize("body", [b"[]", b'"hi"', b"42", b"null"])
def test_json_not_an_object_400(srv, body):
    assert_json_error(chat_raw(srv, body), 400)


def test_valid_utf8_is_accepted(srv):
    r = chat_raw(srv, '{"message": "h\u00e9llo \u4e16\u754c \U0001f600 \\ud83d\\ude00"}')
    assert_json_error(r, 503)


# --------------------------------------------------------------------------- 415

@pytest.mark.parametrize("ctype", ["text/plain", "multipart/form-data; boundary=xyz",
                                   "application/xml", "text/html; charset=utf-8"])
def test_wrong_content_type_415(srv, ctype):
    err = assert_json_error(chat_raw(srv, b'{"message": "hi"}', content_type=ctype), 415)
    assert "json" in err["message"].lower()


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8",
                                   "APPLICATION/JSON", "application/x-www-form-urlencoded"])
def test_json_content_types_accepted(srv, ctype):
    # the form type is what curl -d sends by default: taken as JSON
    assert_json_error(chat_raw(srv, b'{"message": "hi"}', content_type=ctype), 503)


# --------------------------------------------------------------------------- /api/chat input

@pytest.mark.parametrize("doc,words", [
    ({}, ["message"]),
    ({"history": []}, ["message"]),
    ({"message": ""}, ["message"]),
    ({"message": 42}, ["message"]),
    ({"message": None}, ["message"]),
    ({"message": "hi", "bogus": 1}, ["bogus"]),
    ({"message": "hi", "stream": "yes"}, ["stream"]),
    ({"message": "hi", "session_id": "../x"}, ["session_id"]),
])
def test_chat_bad_fields_400(srv, doc, words):
    err = assert_json_error(srv.post_json("/api/chat", doc), 400)
    for w in words:
        assert w in err["message"], err


def test_chat_message_too_long_400(srv):
    err = assert_json_error(srv.post_json("/api/chat", {"message": "x" * (MAX_CHARS + 1)}), 400)
    assert str(MAX_CHARS) in err["message"] and "message" in err["message"], err


def test_chat_message_limit_counts_characters_not_bytes(srv):
    # MAX_CHARS two-byte characters: over the limit in bytes, at it in characters
    assert_json_error(srv.post_json("/api/chat", {"message": "\u00e9" * MAX_CHARS}), 503)
    assert_json_error(srv.post_json("/api/chat", {"message": "\u00e9" * (MAX_CHARS + 1)}), 400)


@pytest.mark.parametrize("text", ["hi \u001b[31m red", "\u001b", "a\u001bb"])
def test_chat_esc_character_400(srv, text):
    err = assert_json_error(srv.post_json("/api/chat", {"message": text}), 400)
    assert "ESC" in err["message"], err


@pytest.mark.parametrize("text", ["a\u0007b", "a\u007fb", "a\u0008b"])
def test_chat_other_control_characters_400(srv, text):
    assert_json_error(srv.post_json("/api/chat", {"message": text}), 400)


def test_chat_tab_and_newline_are_fine(srv):
    assert_json_error(srv.post_json("/api/chat", {"message": "line 1\n\tline 2\r\n"}), 503)


@pytest.mark.parametrize("history", [
    "not a list",
    {"role": "user"},
    [1, 2],
    [{"role": "user"}, {"role": "assistant", "content": "hi"}],
    [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "hi"}],
    [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "hi"}],
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 5}],
    [{"role": "user", "content": "a\u001bb"}, {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": "hi", "extra": 1}, {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": []}, {"role": "assistant", "content": "ok"}],
], ids=["string", "object", "numbers", "no-content", "bad-role", "starts-with-assistant",
        "odd-length", "content-number", "esc-in-history", "unknown-field", "empty-blocks"])
def test_chat_bad_history_400(srv, history):
    err = assert_json_error(srv.post_json("/api/chat", {"message": "hi", "history": history}), 400)
    assert "history" in err["message"], err


def test_chat_good_history_accepted(srv):
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}]
    assert_json_error(srv.post_json("/api/chat", {"message": "again", "history": history}), 503)


def test_chat_without_api_key_503(srv):
    err = assert_json_error(srv.post_json("/api/chat", {"message": "hello"}), 503)
    assert "ANTHROPIC_API_KEY" in err["message"], err


def test_chat_with_an_unreachable_api_is_a_502_that_says_so(srv_with_key):
    err = assert_json_error(srv_with_key.post_json("/api/chat", {"message": "hello"}), 502)
    assert "cannot reach the Anthropic API" in err["message"], err


def test_chat_validation_comes_before_key_check(srv_with_key):
    err = assert_json_error(srv_with_key.post_json("/api/chat", {"message": "a\u001bb"}), 400)
    assert "ESC" in err["message"]


def test_curl_default_form_type_with_json_body(srv_with_key):
    r = srv_with_key.request("POST", "/api/chat", body=b'{"message": "hello"}',
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(r, 502)   # taken as JSON and run; the API is unreachable here


@pytest.mark.parametrize("request_line", [
    b"GET /api/x\xff\xfe HTTP/1.1",
    b"GET /api/\xc0\xaf HTTP/1.1",
    b"GET /x\xffy/ HTTP/1.1",
    b"GET\xff /api/chat HTTP/1.1",
    b"POST /api/\xed\xa0\x80 HTTP/1.1",
], ids=["api-path-ff-fe", "api-path-overlong", "static-path-ff", "method-ff", "api-path-surrogate"])
def test_error_body_is_valid_json_for_non_utf8_requests(srv, request_line):
    """Error messages quote the path or method; bytes that are not UTF-8 must not make
    the body invalid JSON."""
    r = srv.raw(request_line + b"\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert 400 <= r.status < 500, r
    assert_json_error(r, r.status)


def test_moderate_nesting_is_accepted(srv):
    nested = {"type": "text", "text": "hi"}
    inner = []
    for _ in range(10):
        inner = [inner]
    nested["meta"] = inner  # extra data in a content block: 13 levels in all
    history = [{"role": "user", "content": [nested]}, {"role": "assistant", "content": "ok"}]
    # parsed (not refused for its depth), then refused for the field the API would refuse
    err = assert_json_error(srv.post_json("/api/chat", {"message": "hi", "history": history}), 400)
    assert "unknown field \"meta\"" in err["message"] and "deep" not in err["message"], err


# --------------------------------------------------------------------------- keep-alive

def test_errors_do_not_break_keepalive(srv):
    """Several requests, errors among them, over one persistent connection."""
    import http.client
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        for method, path, body, want in [("GET", "/api/health", None, 200),
                                         ("GET", "/api/nope", None, 404),
                                         ("POST", "/api/health", b"", 405),
                                         ("POST", "/api/chat", b'{"message": 1}', 400),
                                         ("GET", "/api/health", None, 200)]:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            assert r.status == want, (method, path, r.status)
            if r.will_close:  # the server may close after an error; that is fine
                conn.close()
                conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    finally:
        conn.close()
