"""What the chat page needs of the session API: titles (given, changed, kept by a hybrid
session across a restart), a transcript that says up to which event it goes (so that a
page that reloads in the middle of a turn shows everything once), a failed turn's answer
that names its error event, and workspace files that download as files, never as pages."""

import json
import threading

import pytest

from chat_util import (CHAT_TIMEOUT, bash, calls, chat_env, chat_settings, chatd, finish, mock,  # noqa: F401
                       read_events, stream_chat)
from conftest import assert_json_error


def create(d, **body):
    r = d.post_json("/api/sessions", body)
    assert r.status == 201, r
    return r.json()


def patch(d, sid, body, status=200):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = d.request("PATCH", f"/api/sessions/{sid}", body=data, headers={"Content-Type": "application/json"})
    assert r.status == status, r
    return r


# ------------------------------------------------------------------------ titles

def test_a_session_has_the_title_it_was_given_and_can_be_renamed(chatd, mock):
    s = create(chatd, title="Quarterly report")
    assert s["title"] == "Quarterly report", s
    plain = create(chatd)
    assert plain["title"] == "", plain
    assert patch(chatd, s["id"], {"title": "Report, \u00e9dition 2 \U0001F4C8"}).json()["title"] == \
        "Report, \u00e9dition 2 \U0001F4C8"
    listed = {x["id"]: x["title"] for x in chatd.get("/api/sessions").json()["sessions"]}
    assert listed == {s["id"]: "Report, \u00e9dition 2 \U0001F4C8", plain["id"]: ""}, listed
    assert chatd.get(f"/api/sessions/{s['id']}").json()["title"] == "Report, \u00e9dition 2 \U0001F4C8"
    assert patch(chatd, s["id"], {"title": ""}).json()["title"] == ""
    assert patch(chatd, s["id"], {"title": "x" * 200}).json()["title"] == "x" * 200
    finish(chatd, mock)


@pytest.mark.parametrize("body, words", [
    ({"title": "x" * 201}, "201 characters"),
    ({"title": 7}, "title must be a string"),
    ({"title": "a\x1b[31mred"}, "ESC"),
    ({"title": "a\x07b"}, "control character"),
    ({"name": "x"}, 'unknown field "name"'),
    ({}, "nothing to change"),
    (["title"], "JSON object"),
])
def test_a_bad_title_is_refused_and_changes_nothing(chatd, mock, body, words):
    s = create(chatd, title="kept")
    assert_json_error(patch(chatd, s["id"], body, status=400), 400, "invalid_request_error", words)
    assert chatd.get(f"/api/sessions/{s['id']}").json()["title"] == "kept"
    if isinstance(body, dict) and "title" in body:
        r = chatd.post_json("/api/sessions", body)
        assert_json_error(r, 400, "invalid_request_error", words)
    finish(chatd, mock)


def test_renaming_a_session_that_is_not_there(chatd, mock):
    assert_json_error(patch(chatd, "sess_00", {"title": "x"}, status=404), 404, "not_found_error")
    s = create(chatd)
    assert chatd.request("DELETE", f"/api/sessions/{s['id']}").status == 200
    assert_json_error(patch(chatd, s["id"], {"title": "x"}, status=404), 404, "not_found_error")
    r = chatd.request("PUT", f"/api/sessions/{s['id']}", body=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 405 and "PATCH" in r.header("Allow"), r
    finish(chatd, mock)


def test_a_hybrid_session_keeps_its_title_across_restarts(daemon_factory, mock, tmp_path):
    def start():
        return daemon_factory(settings=chat_settings(), env=chat_env(mock), workdir=str(tmp_path / "d"))
    d = start()
    sid = create(d, pattern="hybrid", title="first name")["id"]
    mock.enqueue({"text": "one"})
    assert d.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, timeout=CHAT_TIMEOUT).status == 200
    turns = d.get(f"/api/sessions/{sid}/messages").json()["turns"]
    assert len(turns) == 1 and turns[0]["stop_reason"] == "end_turn", turns
    d.stop()
    d = start()
    assert d.get(f"/api/sessions/{sid}").json()["title"] == "first name"
    assert d.get(f"/api/sessions/{sid}/messages").json()["turns"] == turns
    patch(d, sid, {"title": "second name"})          # renamed while suspended: kept too
    d.stop()
    d = start()
    info = d.get(f"/api/sessions/{sid}").json()
    assert info["title"] == "second name" and info["state"] == "suspended", info
    assert d.request("DELETE", f"/api/sessions/{sid}").status == 200
    finish(d, mock)


# ------------------------------------------------------- transcript, then events

def test_a_page_that_reloads_mid_turn_gets_everything_once(chatd, mock):
    sid = create(chatd)["id"]
    mock.enqueue(calls(bash("sleep 600")))
    answer = []
    t = threading.Thread(target=lambda: answer.append(
        chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "run it"}, timeout=CHAT_TIMEOUT)))
    t.start()
    # the command is running
    seen = stream_chat(chatd, None, path=f"/api/sessions/{sid}/events", method="GET",
                       stop=lambda e: e.event == "tool_start").events
    tool_start = next(int(e.id) for e in seen if e.event == "tool_start")

    # "the page reloads": the transcript so far, and where it ends
    mid = chatd.get(f"/api/sessions/{sid}/messages").json()
    assert [m["role"] for m in mid["messages"]] == ["user", "assistant"], mid
    mark = mid["event_id"]
    by_id = {int(e.id): e for e in seen}
    assert by_id[mark].event == "message" and by_id[mark].data["message"] == mid["messages"][-1], (mark, seen)
    assert mark < tool_start

    assert chatd.request("POST", f"/api/sessions/{sid}/interrupt").status == 202
    t.join(CHAT_TIMEOUT)
    assert answer and answer[0].status == 200 and answer[0].json()["stop_reason"] == "interrupted", answer

    final = chatd.get(f"/api/sessions/{sid}/messages").json()
    rest = read_events(chatd, sid, final["event_id"], last_id=mark)
    # the events after the mark: consecutive, the tool's card whole, the messages not yet shown
    assert [int(e.id) for e in rest] == list(range(mark + 1, final["event_id"] + 1)), rest
    names = [e.event for e in rest]
    assert names[0] == "tool_start" and "tool_end" in names and names[-1] == "done", names
    later = [e.data["message"] for e in rest if e.event == "message"]
    assert mid["messages"] + later == final["messages"], (mid, later, final)
    finish(chatd, mock)


def test_the_transcript_says_what_each_turn_cost(chatd, mock):
    sid = create(chatd)["id"]
    mock.enqueue(calls(bash("echo one")), {"text": "first"})
    first = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "a"}, timeout=CHAT_TIMEOUT).json()
    mock.enqueue({"text": "second"})
    second = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "b"}, timeout=CHAT_TIMEOUT).json()
    doc = chatd.get(f"/api/sessions/{sid}/messages").json()
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    want = [{"first_message": 0, **{k: first[k] for k in ("stop_reason", "model_calls", "usage", "cost_usd")}},
            {"first_message": 4, **{k: second[k] for k in ("stop_reason", "model_calls", "usage", "cost_usd")}}]
    assert doc["turns"] == want, (doc["turns"], want)
    finish(chatd, mock)


def test_a_failed_turn_names_its_error_event(chatd, mock):
    sid = create(chatd)["id"]
    mock.enqueue({"status": 400, "error": {"type": "invalid_request_error", "message": "bad thing"}})
    r = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, timeout=CHAT_TIMEOUT)
    assert r.status >= 400, r
    err = r.json()["error"]
    events = read_events(chatd, sid, err["event_id"])
    assert events[-1].event == "error" and int(events[-1].id) == err["event_id"], events
    assert events[-1].data["error"]["message"] == err["message"]
    assert chatd.get(f"/api/sessions/{sid}/messages").json()["turns"] == []
    # a refusal before any turn began names no event
    busy = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": ""})
    assert busy.status == 400 and "event_id" not in busy.json()["error"], busy
    mock.take_violations()
    finish(chatd, mock)


# ------------------------------------------------------------------ downloads

def test_a_workspace_file_downloads_as_a_file_never_as_a_page(chatd, mock):
    sid = create(chatd)["id"]
    page = b"<script>parent.stolen = localStorage</script>"
    assert chatd.request("PUT", f"/api/sessions/{sid}/files/dir/report%20one.html", body=page).status == 200
    r = chatd.get(f"/api/sessions/{sid}/files/dir/report%20one.html")
    assert r.status == 200 and r.body == page, r
    assert r.header("Content-Type") == "application/octet-stream", r
    assert r.header("Content-Disposition") == "attachment; filename*=UTF-8''report%20one.html", r
    assert r.header("X-Content-Type-Options") == "nosniff", r
    assert "sandbox; default-src 'none'" in r.headers.get_all("Content-Security-Policy"), r
    finish(chatd, mock)


def test_the_page_may_run_only_its_own_scripts(chatd, mock):
    r = chatd.get("/")
    assert r.status == 200
    csp = r.header("Content-Security-Policy")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"], csp
    assert "script-src" not in directives and "style-src" not in directives, csp    # default-src: self only
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"], csp
    assert r.header("X-Content-Type-Options") == "nosniff"
    finish(chatd, mock)
