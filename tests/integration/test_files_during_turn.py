"""The workspace can be listed and read while a turn runs (a client follows what the
turn's tools change): the supervisor reads it from the host, beneath the workspace and on
its file system only. Everything that would change it, or reach past it, still waits or
is refused; a sandbox that plants links, FIFOs or races cannot make the host-side reader
hand out anything else."""

import atexit
import json
import os
import pathlib
import shutil
import tempfile
import threading

from chat_util import (CHAT_TIMEOUT, bash, calls, chat_settings, chatd, finish, mock,  # noqa: F401
                       only_result, start_chat_daemon)
from conftest import assert_json_error, poll
import sandbox_util as su

# How long a held command waits for the test: the test, not this, releases it.
HOLD_S = 240


class HeldTurn:
    """A session turn whose bash call first runs setup, then waits on a FIFO until the
    test lets it go: the test works on the session while the turn is certainly running."""

    def __init__(self, d, mock, sid, setup):
        self.d, self.sid = d, sid
        self.fifo = f"/tmp/go.{su.marker()}"
        mock.enqueue(calls(bash(f"{setup}\nmkfifo {self.fifo} && timeout {HOLD_S} cat {self.fifo}; echo released $?")),
                     {"text": "done"})
        self.out = {}
        self.thread = threading.Thread(target=lambda: self.out.setdefault("r", d.post_json(
            f"/api/sessions/{sid}/messages", {"message": "work"}, timeout=HOLD_S + 60)))
        self.thread.start()
        self.cat = su.poll(lambda: [p for p, c in su.processes_with(self.fifo).items() if c.startswith("cat ")],
                           su.HOST_WAIT)
        assert self.cat, f"the turn's command never reached its wait:\n{d.stderr[-3000:]}"

    def release(self):
        released = su.write_fifo(f"/proc/{self.cat[0]}/root{self.fifo}")
        self.thread.join(HOLD_S + 90)
        assert released and not self.thread.is_alive(), "the held turn did not end"
        r = self.out["r"]
        assert r.status == 200 and r.json()["reply"] == "done", f"{r}\n{self.d.stderr[-3000:]}"
        return r.json()


def create(d, body=None):
    r = d.post_json("/api/sessions", body or {})
    assert r.status == 201, r
    return r.json()["id"]


def listing(d, sid, path=""):
    r = d.get(f"/api/sessions/{sid}/files/{path}")
    assert r.status == 200, r
    return {e["name"]: e for e in r.json()["entries"]}


def test_a_running_turn_s_files_can_be_listed_and_read(chatd, mock):
    sid = create(chatd)
    held = HeldTurn(chatd, mock, sid, "mkdir -p out && printf 'made by the turn\\n' > out/made.txt")
    try:
        assert chatd.get(f"/api/sessions/{sid}").json()["state"] == "running"
        top = listing(chatd, sid)
        assert top["out"]["type"] == "dir", top
        assert listing(chatd, sid, "out/")["made.txt"]["size"] == len("made by the turn\n")
        r = chatd.get(f"/api/sessions/{sid}/files/out/made.txt")
        assert r.status == 200 and r.body == b"made by the turn\n", r
        # an absolute path below /workspace is the same file
        r = chatd.get(f"/api/sessions/{sid}/files//workspace/out/made.txt")
        assert r.status in (200, 400, 404), r
        # a missing file is a 404, as between turns
        assert_json_error(chatd.get(f"/api/sessions/{sid}/files/out/nope.txt"), 404)
        # what changes the workspace, or runs in it, waits for the turn
        for method, path, body in (("PUT", "files/x.txt", b"x"), ("DELETE", "files/out/made.txt", None)):
            err = assert_json_error(chatd.request(method, f"/api/sessions/{sid}/{path}", body=body), 409)
            assert "turn" in err["message"], err
        err = assert_json_error(chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "true"}), 409)
        assert "turn" in err["message"], err
    finally:
        held.release()
    # the turn was not disturbed: its command saw the FIFO's line, and the file is as it was
    out, _ = only_result(mock, 1)
    assert out.splitlines() == ["go", "released 0"], out
    assert chatd.get(f"/api/sessions/{sid}/files/out/made.txt").body == b"made by the turn\n"
    finish(chatd, mock)


# What the sandbox plants in its workspace for the host-side reader.
PLANTS = ("ln -s /etc/passwd abs && ln -s ../../../../../etc/passwd rel && ln -s /proc/1/root/etc/passwd proc "
          "&& mkdir -p d && ln -s /etc d/up && ln -s / root && mkfifo pipe && printf 'ok\\n' > plain")


def test_links_and_fifos_planted_by_the_sandbox_lead_nowhere_during_a_turn(chatd, mock):
    sid = create(chatd)
    held = HeldTurn(chatd, mock, sid, PLANTS)
    try:
        for path in ("abs", "rel", "proc", "d/up/passwd", "root/etc/passwd", "root/proc/1/environ",
                     "../etc/passwd", "%2e%2e/etc/passwd", "d/../../etc/passwd"):
            r = chatd.get(f"/api/sessions/{sid}/files/{path}")
            assert r.status in (400, 404), (path, r)
            assert b"root:" not in r.body and b"PATH=" not in r.body, (path, r.body[:200])
        for path in ("root/", "d/up/", "root/etc/"):
            r = chatd.get(f"/api/sessions/{sid}/files/{path}")
            assert r.status in (400, 404), (path, r)
            assert b"passwd" not in r.body, (path, r.body[:200])
        # a FIFO is not read (a reader would wait for a writer): answered at once
        err = assert_json_error(chatd.get(f"/api/sessions/{sid}/files/pipe"), 400)
        assert "not a regular file" in err["message"], err
        # the links are listed as links, not followed
        top = listing(chatd, sid)
        assert {n: top[n]["type"] for n in ("abs", "rel", "proc", "root", "pipe", "plain")} == {
            "abs": "link", "rel": "link", "proc": "link", "root": "link", "pipe": "other", "plain": "file"}, top
        assert chatd.get(f"/api/sessions/{sid}/files/plain").body == b"ok\n"
    finally:
        held.release()
    finish(chatd, mock)


def test_a_sandbox_that_swaps_a_directory_for_a_link_never_gets_past_the_workspace(chatd, mock):
    """A loop in the sandbox turns d into a link to /etc and back as fast as it can while
    the host reads d/passwd and lists d/ again and again: each answer is the workspace's
    own file, a 404 or a refusal, never the host's (nor the sandbox's) /etc."""
    sid = create(chatd)
    swap = ("(while :; do rm -rf d; mkdir d; printf 'inside\\n' > d/passwd; rm -rf d; ln -s /etc d; "
            "done) >/dev/null 2>&1 </dev/null &")
    held = HeldTurn(chatd, mock, sid, swap)
    try:
        seen = set()
        for _ in range(150):
            r = chatd.get(f"/api/sessions/{sid}/files/d/passwd")
            assert r.status in (200, 400, 404), r
            if r.status == 200:
                assert r.body in (b"", b"inside\n"), r.body[:200]   # (maybe caught before printf)
            seen.add(r.status)
            r = chatd.get(f"/api/sessions/{sid}/files/d/")
            assert r.status in (200, 400, 404), r
            if r.status == 200:
                assert set(listing_names(r)) <= {"passwd"}, r.body[:300]
        assert seen, seen
    finally:
        held.release()
    finish(chatd, mock)


def listing_names(r):
    return [e["name"] for e in r.json()["entries"]]


def test_a_bind_inside_the_workspace_is_not_followed_by_the_host_side_reader(daemon_factory, mock):
    """The operator binds a host file the sandbox may not read (root's, mode 0600) into
    the workspace: the supervisor, root on the host, could read it, so during a turn it
    refuses to cross the bind; between turns the agent answers, as the sandbox sees it."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="agentd-bind-"))   # reachable by the sandbox's ids
    os.chmod(top, 0o711)
    secret, public = top / "secret.txt", top / "public.txt"
    secret.write_text("host secret\n")
    os.chmod(secret, 0o600)
    public.write_text("for all\n")
    os.chmod(public, 0o644)
    atexit.register(shutil.rmtree, top, True)
    d = start_chat_daemon(daemon_factory, mock, settings=chat_settings(
        {"sandbox": {"binds": [f"{secret}:/workspace/secret.txt", f"{public}:/workspace/public.txt"]}}))
    sid = create(d)
    held = HeldTurn(d, mock, sid, "true")
    try:
        for name in ("secret.txt", "public.txt"):
            r = d.get(f"/api/sessions/{sid}/files/{name}")
            assert r.status == 400 and b"host secret" not in r.body, r
            assert "file system" in json.loads(r.body)["error"]["message"], r
    finally:
        held.release()
    # between turns the agent answers: what the sandbox may read, and nothing else
    r = d.get(f"/api/sessions/{sid}/files/secret.txt")
    assert r.status in (400, 404) and b"host secret" not in r.body, r
    r = d.get(f"/api/sessions/{sid}/files/public.txt")
    assert r.status == 200 and r.body == b"for all\n", r
    finish(d, mock)


def test_a_file_listing_during_a_turn_does_not_hold_up_the_next_message(chatd, mock):
    """Listing while the turn ends: the turn's end, the listing's answer and the next
    message each go their way (a listing is not an op that a message must wait for)."""
    sid = create(chatd)
    held = HeldTurn(chatd, mock, sid, "echo a > a.txt")
    stop = threading.Event()
    errors = []

    def lister():
        while not stop.is_set():
            r = chatd.get(f"/api/sessions/{sid}/files/")
            if r.status != 200:
                errors.append(r)

    t = threading.Thread(target=lister)
    t.start()
    try:
        assert poll(lambda: "a.txt" in listing(chatd, sid), su.HOST_WAIT)
        held.release()
        mock.enqueue({"text": "second"})
        r = chatd.post_json(f"/api/sessions/{sid}/messages", {"message": "again"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200 and r.json()["reply"] == "second", r
    finally:
        stop.set()
        t.join(CHAT_TIMEOUT)
    assert not errors, errors[:3]
    finish(chatd, mock)


def test_listing_during_a_model_call_leaves_the_call_alone(chatd, mock):
    """The supervisor relays a model call while a client lists and reads the workspace:
    each is answered (while a call streams, within about a second: the relay looks at the
    gateway between libcurl's progress callbacks), and the call ends with its reply (a
    request from the gateway abandons a call only when it is a cancel)."""
    sid = create(chatd)
    mock.enqueue(calls(bash("echo x > x.txt")), {"text": "the reply", "gate": "reply"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", chatd.post_json(
        f"/api/sessions/{sid}/messages", {"message": "go"}, timeout=CHAT_TIMEOUT)))
    t.start()
    try:
        mock.wait_for_requests(2, timeout=su.HOST_WAIT)      # the second call is held
        for _ in range(3):
            assert "x.txt" in listing(chatd, sid)
            assert chatd.get(f"/api/sessions/{sid}/files/x.txt").body == b"x\n"
    finally:
        mock.open_gate("reply")
        t.join(CHAT_TIMEOUT)
    r = out["r"]
    assert r.status == 200 and r.json()["reply"] == "the reply" and r.json()["stop_reason"] == "end_turn", r
    # a cancel during a held call still ends it at once
    mock.enqueue({"text": "never", "gate": "never"})
    t = threading.Thread(target=lambda: out.__setitem__("r", chatd.post_json(
        f"/api/sessions/{sid}/messages", {"message": "again"}, timeout=CHAT_TIMEOUT)))
    t.start()
    mock.wait_for_requests(3, timeout=su.HOST_WAIT)
    assert "x.txt" in listing(chatd, sid)
    assert chatd.request("POST", f"/api/sessions/{sid}/interrupt").status == 202
    t.join(CHAT_TIMEOUT)
    mock.open_gate("never")
    assert out["r"].status == 200 and out["r"].json()["stop_reason"] == "interrupted", out["r"]
    finish(chatd, mock)
