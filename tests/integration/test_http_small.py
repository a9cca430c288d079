"""POST /api/sessions with no body means the defaults; a form-encoded body gets a hint."""
import http.client

from chat_util import chatd, finish, mock  # noqa: F401


def raw_post(d, path, body, content_type):
    conn = http.client.HTTPConnection(d.host, d.port, timeout=30)
    headers = {"Content-Length": str(len(body))}
    if content_type:
        headers["Content-Type"] = content_type
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def test_no_body_means_defaults_and_a_form_body_gets_a_hint(chatd, mock):
    import json
    status, body = raw_post(chatd, "/api/sessions", b"", None)
    assert status == 201 and json.loads(body)["pattern"] == "long-running", body
    status, body = raw_post(chatd, "/api/chat", b"message=hello", "application/x-www-form-urlencoded")
    assert status == 400, body
    assert 'send JSON like {"message": "..."}' in json.loads(body)["error"]["message"], body
    # a JSON body sent as curl -d sends it still works; bad JSON as JSON still says where
    status, body = raw_post(chatd, "/api/sessions", b'{"pattern": "long-running"}', "application/x-www-form-urlencoded")
    assert status == 201, body
    status, body = raw_post(chatd, "/api/sessions", b'{"pattern": ', "application/json")
    assert status == 400 and "malformed JSON body" in json.loads(body)["error"]["message"], body
    status, body = raw_post(chatd, "/api/chat", b"", "application/json")
    assert status == 400 and "required" in json.loads(body)["error"]["message"], body
    finish(chatd, mock)
