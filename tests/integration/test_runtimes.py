"""Other runtimes in agentd's sandboxes: the real Claude Code CLI (tests/runtime, pinned
in its package.json) as a session's runtime, and a program of the user's own (the
command runtime: here an Agent SDK program, run with the host's node). Their API calls
go through the Messages API the supervisor serves in the sandbox (test_sandbox_api.py):
the mock sees the real key, the sandbox holds none; their output becomes agentd's run
events; the session's budget stops a runaway one; an interrupt stops one at once."""

import json
import os
import pathlib
import shutil
import tempfile
import threading

import pytest

from chat_util import (CHAT_TIMEOUT, KEY, calls, chatd, finish, mock, mock_usage,  # noqa: F401
                       sandbox_processes, start_chat_daemon, stream_chat, tool_use)
from conftest import assert_json_error, poll
from anthropic_server import MockAnthropic
from test_key_isolation import _key_in_memory, _read
import sandbox_util as su

RUNTIME_DIR = pathlib.Path(__file__).resolve().parents[1] / "runtime"
MODULES = RUNTIME_DIR / "node_modules"
CLI = MODULES / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
TURN_TIMEOUT = 120
# A model the CLI knows: for names it does not, it sends what newer models take (system
# messages inside the conversation), which this mock, as the API for such a model,
# refuses.
CC_MODEL = "claude-sonnet-4-5"


@pytest.fixture
def ccmock():
    with MockAnthropic(api_key=KEY, models=[CC_MODEL]) as m:
        yield m


def start(daemon_factory, mock, tree, more=None, **env):
    return start_chat_daemon(daemon_factory, mock, settings(tree, **(more or {})), AGENTD_MODEL=CC_MODEL, **env)


@pytest.fixture(scope="module")
def tree():
    """The CLI, the Agent SDK and sdk_app.mjs where a sandbox may read them (a bind's
    source must be reachable by the sandbox's ids along its whole path; a clone may sit
    in a 0700 directory): hard links, not copies, of 400 MB binaries."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: `make deps` installs it (npm ci in tests/runtime)")
    root = pathlib.Path(tempfile.mkdtemp(prefix="agentd-runtime-"))
    try:
        os.chmod(root, 0o755)
        shutil.copytree(MODULES, root / "node_modules", symlinks=True, copy_function=os.link)
        shutil.copy(RUNTIME_DIR / "sdk_app.mjs", root / "sdk_app.mjs")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def settings(tree, **more):
    cli = "/opt/runtime/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
    return {"sandbox": {"binds": [f"{tree}:/opt/runtime"]}, "runtime": {"claude_code": cli}, **more}


def create(d, body):
    r = d.post_json("/api/sessions", {"pattern": "long-running", **body})
    assert r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle", "failed"), su.HOST_WAIT)
    return sid


def turn(d, sid, message, status=200):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": message}, timeout=TURN_TIMEOUT)
    assert r.status == status, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def bash_call(command):
    return calls(tool_use("Bash", {"command": command, "description": "a command"}))


def test_claude_code_works_in_the_workspace_and_keeps_its_conversation(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    sid = create(d, {"runtime": "claude-code"})
    assert d.get(f"/api/sessions/{sid}").json()["runtime"] == "claude-code"
    ccmock.enqueue(bash_call("echo made by claude code > /workspace/cc.txt; echo wrote it"), {"text": "I wrote cc.txt."})
    doc = turn(d, sid, "write cc.txt")
    assert doc["reply"] == "I wrote cc.txt." and doc["stop_reason"] == "end_turn", doc
    assert doc["model_calls"] == 2 and [c["name"] for c in doc["tool_calls"]] == ["Bash"], doc
    assert doc["usage"] == mock_usage(ccmock), doc      # the turn's, counted from the API's stream
    assert d.get(f"/api/sessions/{sid}/files/cc.txt").body == b"made by claude code\n"
    # the CLI's requests: the real key added outside, its betas passed on, agentd's model
    assert len(ccmock.requests) == 2, (ccmock.violations, [r["path"] for r in ccmock.requests])
    for r in ccmock.requests:
        assert r["path"].startswith("/v1/messages") and r["headers"]["x-api-key"] == KEY
        assert "claude-code-" in r["headers"].get("anthropic-beta", ""), r["headers"]
        assert r["body"]["model"] == CC_MODEL
    results = [b for m in ccmock.requests[1]["body"]["messages"] for b in m["content"]
               if isinstance(b, dict) and b.get("type") == "tool_result"]
    assert results and "wrote it" in json.dumps(results), results
    # its stream as agentd's events: the tool call and its output, the text, the usage
    events = stream_chat(d, None, path=f"/api/sessions/{sid}/events", method="GET",
                         stop=lambda e: e.event == "done")
    for k in ("message", "tool_start", "tool_output", "tool_end", "text", "usage", "done"):
        assert k in events.names, events.names
    began = events.of("tool_start")[0].data
    assert began["name"] == "Bash" and "cc.txt" in began["input"]["command"], began
    assert "wrote it" in events.of("tool_output")[0].data["output"], events.of("tool_output")
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["usage"] == mock_usage(ccmock), su.HOST_WAIT)

    # the next turn continues the same conversation
    ccmock.enqueue({"text": "still here"})
    doc = turn(d, sid, "and now?")
    assert doc["reply"] == "still here", doc
    sent = json.dumps(ccmock.requests[2]["body"]["messages"])
    assert "write cc.txt" in sent and "I wrote cc.txt." in sent and "and now?" in sent
    finish(d, ccmock)


def test_the_key_is_nowhere_in_a_claude_code_sandbox(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    sid = create(d, {"runtime": "claude-code"})
    fifo = f"/tmp/go.{su.marker()}"
    # the CLI's Bash tool holds the sandbox still (cat on a fifo) until the test has looked
    ccmock.enqueue(bash_call(f"mkfifo {fifo} && timeout 100 cat {fifo}; echo released $?"), {"text": "done"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("doc", turn(d, sid, "hold still")))
    t.start()
    cat, seen = None, {}
    try:
        cat = su.poll(lambda: [p for p, c in su.processes_with(fifo).items() if c.startswith("cat ")], 60)
        assert cat, f"the sandbox's cat never showed:\n{d.stderr}"
        for pid in sandbox_processes(d.proc.pid):
            seen[pid] = (_read(f"/proc/{pid}/cmdline"), _read(f"/proc/{pid}/environ"), _key_in_memory(pid))
    finally:
        if cat:
            su.write_fifo(f"/proc/{cat[0]}/root{fifo}")
        t.join(TURN_TIMEOUT + 30)
    assert any(isinstance(c, bytes) and b"claude" in c for c, _, _ in seen.values()), seen.keys()
    for pid, (cmd, env, mem) in seen.items():
        assert isinstance(env, bytes) and KEY.encode() not in env, (pid, cmd)
        assert b"ANTHROPIC_API_KEY=" not in env or b"placeholder" in env, (pid, cmd, env)
        assert isinstance(cmd, bytes) and KEY.encode() not in cmd, (pid, cmd)
        assert mem == [], f"the key is in the memory of sandbox process {pid} ({cmd!r}): {mem}"
    assert out.get("doc", {}).get("reply") == "done", out
    assert all(r["headers"]["x-api-key"] == KEY for r in ccmock.requests)
    finish(d, ccmock)


def test_the_session_budget_stops_a_runaway_claude_code(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree, AGENTD_SESSION_MAX_REQUESTS=3)
    sid = create(d, {"runtime": "claude-code"})
    ccmock.enqueue(*[bash_call(f"echo step {i}") for i in range(10)])
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "loop forever"}, timeout=TURN_TIMEOUT)
    assert len(ccmock.requests) == 3, len(ccmock.requests)
    assert r.status != 200 or r.json().get("stop_reason") != "end_turn", r
    doc = r.json()
    text = json.dumps(doc)
    assert "session.max_requests" in text, doc
    ccmock.reset()
    d.assert_serving()


def test_an_interrupt_stops_claude_code_and_what_it_started(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    sid = create(d, {"runtime": "claude-code"})
    mark = su.marker()
    # (the CLI refuses a plain long sleep in the foreground)
    ccmock.enqueue(bash_call(f"python3 -c 'import time; time.sleep(300)' {mark}"), {"text": "never"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", d.post_json(
        f"/api/sessions/{sid}/messages", {"message": "sleep"}, timeout=TURN_TIMEOUT)))
    t.start()
    assert su.poll(lambda: su.processes_with(mark), 60), d.stderr
    r = d.post_json(f"/api/sessions/{sid}/interrupt", {})
    assert r.status == 202, r
    t.join(60)
    assert out["r"].status == 200 and out["r"].json()["stop_reason"] == "interrupted", out["r"]
    assert su.poll(lambda: not su.processes_with(mark), su.HOST_WAIT), su.processes_with(mark)
    assert su.poll(lambda: not [c for c in su.processes_with("claude-code-linux-x64").values()], su.HOST_WAIT)
    ccmock.reset()
    d.assert_serving()


def test_an_agent_sdk_program_runs_as_the_command_runtime(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    cli = "/opt/runtime/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
    sid = create(d, {"runtime": "command",
                     "command": f'CLAUDE_CODE_PATH={cli} ANTHROPIC_MODEL={CC_MODEL} node /opt/runtime/sdk_app.mjs '
                                '"$AGENTD_MESSAGE"'})
    ccmock.enqueue(bash_call("echo from the sdk > /workspace/sdk.txt"), {"text": "SDK done."})
    doc = turn(d, sid, "use the sdk")
    assert doc["reply"] == "SDK done." and doc["stop_reason"] == "end_turn", doc
    assert d.get(f"/api/sessions/{sid}/files/sdk.txt").body == b"from the sdk\n"
    assert len(ccmock.requests) == 2 and all(r["headers"]["x-api-key"] == KEY for r in ccmock.requests)
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["usage"] == mock_usage(ccmock), su.HOST_WAIT)
    finish(d, ccmock)


def test_the_command_runtime_gets_the_message_and_reports_a_failure(daemon_factory, mock, tree):
    d = start_chat_daemon(daemon_factory, mock, settings(tree))
    sid = create(d, {"runtime": "command", "command": 'echo "stdin: $(cat)"; echo "env: $AGENTD_MESSAGE"'})
    doc = turn(d, sid, "héllo")
    assert doc["reply"] == "stdin: héllo\nenv: héllo\n", doc
    sid = create(d, {"runtime": "command", "command": "echo partial; echo it broke >&2; exit 3"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "go"}, timeout=TURN_TIMEOUT)
    text = json.dumps(r.json())
    assert "exited with status 3" in text and "it broke" in text, r
    assert mock.requests == []
    finish(d, mock)


@pytest.mark.parametrize("body, words", [
    ({"runtime": "gpt"}, "runtime must be agentd, claude-code or command"),
    ({"runtime": "command"}, "needs \"command\""),
    ({"command": "ls"}, "command goes with"),
    ({"runtime": "claude-code", "command": "ls"}, "command goes with"),
    ({"runtime": "command", "command": ""}, "must not be empty"),
    ({"runtime": 7}, "runtime must be a string"),
])
def test_a_bad_runtime_is_refused_with_a_reason(chatd, mock, body, words):
    assert_json_error(chatd.post_json("/api/sessions", body), 400, message_contains=(words,))
    assert_json_error(chatd.post_json("/api/chat", {"message": "hi", **body}), 400, message_contains=(words,))


def test_runtimes_the_operator_did_not_allow_are_refused(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, {"runtime": {"allow": ["agentd"]}})
    assert_json_error(d.post_json("/api/sessions", {"runtime": "claude-code"}), 400,
                      message_contains=("not allowed here", "runtime.allow"))
    assert_json_error(d.post_json("/api/chat", {"message": "hi", "runtime": "claude-code",
                                                "history": []}), 400)
    r = d.post_json("/api/sessions", {"runtime": "agentd"})
    assert r.status == 201, r
    d.assert_serving()


def _sent_text(request):
    return json.dumps(request["body"]["messages"])


def test_claude_code_sessions_sharing_a_sandbox_keep_their_own_conversations(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    a = create(d, {"pattern": "shared", "runtime": "claude-code"})
    b = create(d, {"pattern": "shared", "runtime": "claude-code"})
    ccmock.enqueue({"text": "A1"})
    assert turn(d, a, "alpha speaks")["reply"] == "A1"
    ccmock.enqueue({"text": "B1"})
    assert turn(d, b, "bravo speaks")["reply"] == "B1"
    ccmock.enqueue({"text": "A2"})
    assert turn(d, a, "alpha again")["reply"] == "A2"
    last = _sent_text(ccmock.requests[-1])
    assert "alpha speaks" in last and "A1" in last and "bravo" not in last, last
    finish(d, ccmock)


def test_a_hybrid_claude_code_session_goes_on_with_its_conversation_after_a_suspend(daemon_factory, ccmock, tree):
    d = start(daemon_factory, ccmock, tree)
    sid = create(d, {"pattern": "hybrid", "runtime": "claude-code"})
    ccmock.enqueue({"text": "remembered"})
    assert turn(d, sid, "remember the word heron")["reply"] == "remembered"
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "idle", su.HOST_WAIT)
    r = d.post_json(f"/api/sessions/{sid}/suspend", {}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and d.get(f"/api/sessions/{sid}").json()["state"] == "suspended", r
    ccmock.enqueue({"text": "heron"})
    assert turn(d, sid, "which word?")["reply"] == "heron"
    last = _sent_text(ccmock.requests[-1])
    assert "remember the word heron" in last and "which word?" in last, last
    finish(d, ccmock)
