"""A session's event log is the whole session: GET /api/sessions/{id}/events sends every
event with consecutive ids (the sandbox's ready, each turn's start and the user's
message, the replies, tool calls, usage, the end, and the execs between turns), so that
a page that reattaches can rebuild the conversation from the events alone and can tell
when it missed something."""

import threading

from chat_util import (CHAT_TIMEOUT, bash, calls, chatd, check_stream_done, finish, mock,  # noqa: F401
                       read_events, stream_chat)


def create(d):
    r = d.post_json("/api/sessions", {})
    assert r.status == 201, r
    return r.json()["id"]


def test_the_event_log_has_every_event_and_the_whole_conversation(chatd, mock):
    sid = create(chatd)
    # turn 1, with a tool call; an exec; turn 2, text only
    mock.enqueue(calls(bash("echo tool-said-this")), {"text": "first answer"})
    t1 = stream_chat(chatd, {"message": "first question", "stream": True}, path=f"/api/sessions/{sid}/messages")
    check_stream_done(t1)
    ex = stream_chat(chatd, {"command": "echo exec-said-this; exit 4", "stream": True},
                     path=f"/api/sessions/{sid}/exec")
    assert ex.status == 200, ex
    mock.enqueue({"text": "second answer"})
    t2 = stream_chat(chatd, {"message": "second question", "stream": True}, path=f"/api/sessions/{sid}/messages")
    check_stream_done(t2)
    last = int(t2.events[-1].id)

    events = read_events(chatd, sid, last)
    ids = [int(e.id) for e in events]
    assert ids == list(range(1, last + 1)), [(e.id, e.event) for e in events]
    names = [e.event for e in events]
    assert names.count("ready") == 1, names

    # what the turns' and the exec's own streams sent is in the log, with the same ids
    # (a turn's done there is the whole reply; the log's has the agent's fields of it)
    by_id = {int(e.id): e for e in events}
    for s in (t1, ex, t2):
        for e in s.events:
            logged = by_id[int(e.id)]
            assert logged.event == e.event, (e, logged)
            assert {k: e.data[k] for k in logged.data} == logged.data if e.event == "done" else \
                logged.data == e.data, (e, logged)

    # each turn starts with its session event and the user's message
    for text in ("first question", "second question"):
        i = next(i for i, e in enumerate(events) if e.event == "message" and e.data["message"]["role"] == "user"
                 and text in str(e.data["message"]["content"]))
        before = [e for e in events[:i] if e.event != "ready"][-1]      # the sandbox may come up between
        assert before.event == "session" and before.data == {"session_id": sid}, events[:i]

    # the exec, in the words of a tool call
    xs = [e for e in events if e.data.get("name") == "exec" or str(e.data.get("id", "")).startswith("exec_")]
    assert [e.event for e in xs][0] == "tool_start" and xs[-1].event == "tool_end", xs
    assert xs[0].data["input"]["command"] == "echo exec-said-this; exit 4", xs[0]
    assert "".join(e.data["output"] for e in xs if e.event == "tool_output") == "exec-said-this\n", xs
    end = xs[-1].data
    assert end["exit_status"] == 4 and end["is_error"] is True and end["timed_out"] is False, end
    assert {e.data["id"] for e in xs} == {xs[0].data["id"]}, xs
    assert [e.event for e in ex.events] == ["tool_start"] + ["tool_output"] * (len(ex.events) - 2) + ["tool_end"]

    # the bash call of turn 1 and its output
    tool = [e for e in events if e.event.startswith("tool_") and e.data["id"] != xs[0].data["id"]]
    assert [e.event for e in tool] == ["tool_start", "tool_output", "tool_end"], tool
    assert tool[1].data["output"] == "tool-said-this" and tool[2].data["exit_status"] == 0, tool

    # the conversation, rebuilt from the events alone, is the transcript
    rebuilt = [e.data["message"] for e in events if e.event == "message"]
    transcript = chatd.get(f"/api/sessions/{sid}/messages").json()["messages"]
    assert rebuilt == transcript, (rebuilt, transcript)
    assert [m["role"] for m in rebuilt] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert names.count("done") == 2 and names.count("usage") == 3, names

    # a reader that comes back after any event gets the rest, with no gap
    for k in (1, ids[len(ids) // 2], last - 1):
        again = read_events(chatd, sid, last, last_id=k)
        assert [int(e.id) for e in again] == list(range(k + 1, last + 1)), (k, again)
    finish(chatd, mock)


def test_one_event_stream_follows_a_hybrid_session_across_a_suspend(chatd, mock):
    """A suspend ends the sandbox, not the session: a reader attached before it gets the
    resumed turn's events on the same stream."""
    sid = chatd.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue({"text": "one"})
    assert chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "a"}).status == 200
    got, opened = [], threading.Event()

    def follow():
        got.append(stream_chat(chatd, None, path=f"/api/sessions/{sid}/events", method="GET",
                               headers={"Last-Event-ID": "0"}, opened=opened.set,
                               stop=lambda e: e.event == "done" and e.data.get("reply") == "two"))
    t = threading.Thread(target=follow)
    t.start()
    assert opened.wait(CHAT_TIMEOUT)
    assert chatd.request("POST", f"/api/sessions/{sid}/suspend").status == 200
    mock.enqueue({"text": "two"})
    assert chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "b"}).json()["reply"] == "two"
    t.join(CHAT_TIMEOUT)
    assert got and not t.is_alive(), "the stream ended at the suspend, or never brought the resumed turn"
    assert [e.data.get("reply") for e in got[0].events if e.event == "done"] == ["one", "two"]
    finish(chatd, mock)


def test_a_resumed_hybrid_session_keeps_its_ids_consecutive(chatd, mock):
    """The turn that resumes a suspended session logs its start like any other."""
    sid = chatd.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue({"text": "one"})
    assert chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "a"}).status == 200
    assert chatd.request("POST", f"/api/sessions/{sid}/suspend").status == 200
    mock.enqueue({"text": "two"})
    st = stream_chat(chatd, {"message": "b", "stream": True}, path=f"/api/sessions/{sid}/messages")
    assert check_stream_done(st)["reply"] == "two"
    last = int(st.events[-1].id)
    assert [int(e.id) for e in read_events(chatd, sid, last)] == list(range(1, last + 1))
    finish(chatd, mock)
