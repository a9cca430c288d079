"""Shared sessions: the sessions that name the same sandbox share its workspace and its
processes, each with its own agent, shell and conversation; the sandbox goes with the
last of them."""

import json
import pathlib
import shutil
import tempfile
import time

from chat_util import (CHAT_TIMEOUT, HostState, bash, calls, chat_settings, chatd, finish, mock,  # noqa: F401
                       only_result, start_chat_daemon)
from conftest import assert_json_error, poll


def create(d, body):
    r = d.post_json("/api/sessions", body)
    assert r.status == 201, r
    return r.json()["id"]


def burst(d, n, body):
    """n POST /api/sessions of body that reach the daemon as nearly at once as can be:
    each is sent but for its last byte, then the last bytes go together."""
    from conftest import read_response
    data = json.dumps(body).encode()
    req = (f"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data
    socks = [d.connect(timeout=30) for _ in range(n)]
    for s in socks:
        s.sendall(req[:-1])
    time.sleep(0.2)
    for s in socks:
        s.sendall(req[-1:])
    out = []
    for s in socks:
        try:
            out.append(read_response(s, "POST", timeout=30))
        finally:
            s.close()
    return out


def turn(d, sid, text):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def test_two_sessions_share_one_sandbox(chatd, mock):
    host = HostState(chatd)
    a = create(chatd, {"pattern": "shared", "sandbox": "team"})
    b = create(chatd, {"pattern": "shared", "sandbox": "team"})
    other = create(chatd, {"pattern": "shared", "sandbox": "elsewhere"})
    assert len({a, b, other}) == 3

    mock.enqueue(calls(bash("echo from-a > shared.txt; cd /tmp; export WHO=a; "
                            "readlink /proc/self/ns/pid /proc/self/ns/mnt")), {"text": "a wrote"})
    assert turn(chatd, a, "write")["reply"] == "a wrote"
    ns_a, _ = only_result(mock, 0 + 1)
    mock.enqueue(calls(bash("cat /workspace/shared.txt; pwd; echo \"[$WHO]\"; "
                            "readlink /proc/self/ns/pid /proc/self/ns/mnt")), {"text": "b read"})
    assert turn(chatd, b, "read")["reply"] == "b read"
    out_b, _ = only_result(mock, 3)
    lines = out_b.splitlines()
    # the same workspace and namespaces, but a shell of its own (its own cwd and variables)
    assert lines[0] == "from-a" and lines[1] == "/workspace" and lines[2] == "[]", out_b
    assert lines[3:] == ns_a.splitlines(), (ns_a, out_b)
    # each has a conversation of its own
    assert "write" not in json.dumps(mock.requests[2]["body"]["messages"])

    mock.enqueue(calls(bash("cat /workspace/shared.txt 2>&1; readlink /proc/self/ns/pid")), {"text": "apart"})
    turn(chatd, other, "look")
    out_o, _ = only_result(mock, 5)
    assert "No such file" in out_o and out_o.splitlines()[-1] != ns_a.splitlines()[0], out_o

    # one that joins later, once the sandbox is up, gets in at once
    c = create(chatd, {"pattern": "shared", "sandbox": "team"})
    mock.enqueue(calls(bash("cat /workspace/shared.txt")), {"text": "late"})
    turn(chatd, c, "late")
    assert only_result(mock, 7) == ("from-a", False)
    assert "shared" == chatd.get(f"/api/sessions/{c}").json()["pattern"]

    # the sandbox stays while a member is left, and goes with the last one
    assert chatd.request("DELETE", f"/api/sessions/{a}").status == 200
    mock.enqueue(calls(bash("cat /workspace/shared.txt")), {"text": "still"})
    turn(chatd, b, "still there?")
    assert only_result(mock, 9) == ("from-a", False)
    for sid in (b, c, other):
        assert chatd.request("DELETE", f"/api/sessions/{sid}").status == 200
    host.assert_clean()
    finish(chatd, mock)


def test_shared_requests_that_cannot_be(chatd, mock):
    for body, needle in [({"pattern": "shared", "policy": {"pids_max": 64}}, "policy"),
                         ({"sandbox": "team"}, "shared"),
                         ({"pattern": "shared", "sandbox": "no/slash"}, "sandbox must be"),
                         ({"pattern": "shared", "sandbox": ""}, "sandbox must be")]:
        err = assert_json_error(chatd.post_json("/api/sessions", body), 400)
        assert needle in err["message"], (body, err)
    finish(chatd, mock)


def test_another_tokens_sandbox_of_the_same_name_is_another_sandbox(daemon_factory, mock):
    from chat_util import start_chat_daemon
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS="tok-alice-0123456789,tok-bob-0123456789",
                          AGENTD_RATE_PER_MINUTE=0)
    alice = {"Authorization": "Bearer tok-alice-0123456789"}
    bob = {"Authorization": "Bearer tok-bob-0123456789"}
    ids = []
    for who in (alice, bob):
        r = d.post_json("/api/sessions", {"pattern": "shared", "sandbox": "team"}, headers=who)
        assert r.status == 201, r
        ids.append(r.json()["id"])
    ns = []
    for sid, who in zip(ids, (alice, bob)):
        mock.enqueue(calls(bash("ls /workspace; echo mine-$RANDOM > /workspace/x; readlink /proc/self/ns/mnt")),
                     {"text": "ok"})
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "look"}, headers=who, timeout=CHAT_TIMEOUT)
        assert r.status == 200, r
        out, _ = only_result(mock, len(mock.requests) - 1)
        ns.append(out.splitlines())
    # bob's sandbox is empty when he looks, and not the one alice wrote into
    assert ns[1][0] != "x" and ns[0][-1] != ns[1][-1], ns
    finish(d, mock)


def test_many_sessions_of_one_sandbox_made_at_once(daemon_factory, mock):
    """Sessions that name the same sandbox while its host is still being built wait for
    it (or hear a clear 503 past the cap of those waiting); none crashes the daemon."""
    chatd = start_chat_daemon(daemon_factory, mock, AGENTD_HTTP_THREADS=16)
    host = HostState(chatd)
    for _ in range(5):
        results = burst(chatd, 20, {"pattern": "shared", "sandbox": "x"})
        assert chatd.alive(), chatd.stderr[-3000:]
        ids = [r.json()["id"] for r in results if r.status == 201]
        for r in results:
            assert r.status == 201 or (r.status == 503 and "still being built" in r.json()["error"]["message"]), r
        assert ids, results
        # they share one sandbox, and each one works
        mock.enqueue(calls(bash("echo $$ > /workspace/who; cat /workspace/who")), {"text": "first"})
        assert turn(chatd, ids[0], "write")["reply"] == "first"
        mock.enqueue(calls(bash("cat /workspace/who")), {"text": "last"})
        assert turn(chatd, ids[-1], "read")["reply"] == "last"
        n = len(mock.requests)
        assert only_result(mock, n - 1)[0] == only_result(mock, n - 3)[0]
        for sid in ids:
            assert chatd.request("DELETE", f"/api/sessions/{sid}").status == 200
        host.assert_clean()
    finish(chatd, mock)


def test_a_sandbox_that_could_not_be_built_is_built_again(daemon_factory, mock):
    """The host of a shared sandbox fails to build it (a bind's source is gone): the
    sessions waiting for it fail, and the next session of that name builds it anew."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="agentd-shared-"))   # reachable by the sandbox's ids
    base.chmod(0o755)
    src = base / "src"
    src.mkdir(mode=0o755)
    try:
        _build_again(daemon_factory, mock, src)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _build_again(daemon_factory, mock, src):
    settings = chat_settings()
    settings["sandbox"]["binds"] = [f"{src}:/data"]
    d = start_chat_daemon(daemon_factory, mock, settings=settings, AGENTD_HTTP_THREADS=16)
    src.rmdir()                          # every sandbox fails to be built from now on
    ids = burst(d, 10, {"pattern": "shared", "sandbox": "broken"})
    assert d.alive(), d.stderr[-3000:]
    failed = [r.json()["id"] for r in ids if r.status == 201]
    for r in ids:
        assert r.status in (201, 503), r
    # the build fails after the answer: at least the session that started it was made,
    # else nothing below would see a session fail with its sandbox
    assert failed, [(r.status, r.json()) for r in ids]
    for sid in failed:
        assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "failed", 20), \
            d.get(f"/api/sessions/{sid}").json()
    src.mkdir(mode=0o755)                # sandboxes can be built again
    src.chmod(0o755)
    sid = create(d, {"pattern": "shared", "sandbox": "broken"})
    mock.enqueue(calls(bash("echo built")), {"text": "up"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "hi"}, timeout=30)
    assert r.status == 200 and r.json()["reply"] == "up", f"{r}\n{d.stderr[-3000:]}"
    for s in failed + [sid]:
        assert d.request("DELETE", f"/api/sessions/{s}").status == 200
    finish(d, mock)
