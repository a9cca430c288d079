"""A session's workspace as one tar: GET .../workspace.tar streams it out as the agent's
tar makes it (memory bounded however large), PUT .../workspace.tar unpacks a tar into a
new session's /workspace; with the errors of every other route (404, 409, 413, 400)."""

import hashlib
import http.client
import io
import json
import os
import socket
import tarfile
import threading
import time

from chat_util import (CHAT_TIMEOUT, bash, calls, chat_env, chat_settings, chatd, finish, mock,  # noqa: F401
                       start_chat_daemon)
from conftest import assert_json_error, poll
import sandbox_util as su

MIB = 1 << 20


def create(d, body=None, headers=None):
    r = d.post_json("/api/sessions", body if body is not None else {}, headers=headers)
    assert r.status == 201, r
    return r.json()["id"]


def exec_(d, sid, command, headers=None):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command}, headers=headers, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-2000:]}"
    doc = r.json()
    assert doc["exit_status"] == 0, doc
    return doc["output"]


def tar_of(files):
    """A tar in memory of {name: (bytes, mode)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_tar(d, sid, body, headers=None):
    hdrs = {"Content-Type": "application/x-tar", **(headers or {})}
    return d.request("PUT", f"/api/sessions/{sid}/workspace.tar", body=body, headers=hdrs, timeout=CHAT_TIMEOUT)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_export_has_the_files_with_their_modes(chatd, mock):
    sid = create(chatd)
    exec_(chatd, sid, "mkdir -p sub && printf hello > a.txt && printf '#!/bin/sh\\n' > sub/run.sh && "
          "chmod 755 sub/run.sh && chmod 640 a.txt && ln -s a.txt link")
    r = chatd.get(f"/api/sessions/{sid}/workspace.tar", timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/x-tar"
    assert r.header("Content-Disposition") == f'attachment; filename="{sid}.tar"'
    assert r.header("Transfer-Encoding") == "chunked"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        members = {m.name.removeprefix("./"): m for m in t.getmembers()}
        assert t.extractfile(members["a.txt"]).read() == b"hello"
        assert t.extractfile(members["sub/run.sh"]).read() == b"#!/bin/sh\n"
        assert members["a.txt"].mode & 0o777 == 0o640
        assert members["sub/run.sh"].mode & 0o777 == 0o755
        assert members["sub"].isdir() and members["link"].issym() and members["link"].linkname == "a.txt"
    # the session goes on as before
    assert exec_(chatd, sid, "cat a.txt") == "hello"
    finish(chatd, mock)


def test_a_large_export_streams_in_bounded_memory(daemon_factory, mock):
    # an ASan build keeps what is freed in quarantine (256 MiB of it by default), which
    # would count here as if held: a small one (no effect on other builds)
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))
    chatd = start_chat_daemon(daemon_factory, mock, ASAN_OPTIONS=asan)
    sid = create(chatd)
    exec_(chatd, sid, "head -c 200M /dev/urandom > big && sha256sum big | cut -d' ' -f1 > big.sha")
    want = exec_(chatd, sid, "cat big.sha").strip()
    pid = chatd.proc.pid
    before = rss_kib(pid)
    conn = http.client.HTTPConnection(chatd.host, chatd.port, timeout=CHAT_TIMEOUT)
    conn.request("GET", f"/api/sessions/{sid}/workspace.tar")
    resp = conn.getresponse()
    assert resp.status == 200
    peak, total = before, 0
    # read it as tar members, hashing the big one, without keeping it
    with tarfile.open(fileobj=resp, mode="r|") as t:
        for m in t:
            if m.name.removeprefix("./") != "big":
                continue
            h = hashlib.sha256()
            f = t.extractfile(m)
            while chunk := f.read(MIB):
                h.update(chunk)
                total += len(chunk)
                peak = max(peak, rss_kib(pid))
    conn.close()
    assert total == 200 * MIB and h.hexdigest() == want
    # the gateway held a few MiB at most, never the tar (generous: 64 MiB over where it began)
    assert peak - before < 64 * 1024, f"agentd's RSS grew from {before} KiB to {peak} KiB"
    finish(chatd, mock)


def test_import_seeds_a_new_session(chatd, mock):
    big = bytes(range(256)) * 4096 * 3            # 3 MiB
    files = {"seed.txt": (b"seeded\n", 0o600), "dir/tool.sh": (b"echo hi\n", 0o755), "dir/big.bin": (big, 0o644)}
    body = tar_of(files)
    sid = create(chatd)
    r = put_tar(chatd, sid, body)
    assert r.status == 200, f"{r}\n{chatd.stderr[-2000:]}"
    assert r.json() == {"ok": True, "bytes": len(body)}
    for name, (data, mode) in files.items():
        got = chatd.get(f"/api/sessions/{sid}/files/{name}", timeout=CHAT_TIMEOUT)
        assert got.status == 200, got
        assert hashlib.sha256(got.body).hexdigest() == hashlib.sha256(data).hexdigest(), name
    assert exec_(chatd, sid, "stat -c %a dir/tool.sh seed.txt").split() == ["755", "600"]
    # the upload's file is gone from the state directory
    state = chatd.workdir / "state" / "sessions"
    assert not list(state.glob("*/upload.*")) if state.exists() else True
    finish(chatd, mock)


def test_import_of_garbage_is_refused_in_tars_words(chatd, mock):
    sid = create(chatd)
    r = put_tar(chatd, sid, b"this is not a tar archive at all\n" * 100)
    assert_json_error(r, 400)
    assert "tar" in r.json()["error"]["message"], r
    # the session is fine
    assert exec_(chatd, sid, "echo ok").strip() == "ok"
    finish(chatd, mock)


def test_import_too_large(chatd, mock):
    sid = create(chatd, {"policy": {"workspace_size": "1M", "workspace_files": 100}})
    limit = MIB + 100 * 1024 + MIB
    # said in Content-Length: refused before the body
    head = (f"PUT /api/sessions/{sid}/workspace.tar HTTP/1.1\r\nHost: x\r\nContent-Length: {3 * MIB}\r\n"
            "Content-Type: application/x-tar\r\n\r\n").encode()
    r = chatd.raw(head, method="PUT")
    assert_json_error(r, 413, message_contains=(str(limit),))
    # sent chunked: refused once past the limit, the connection closed
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(48)) + b"0\r\n\r\n"
    head = (f"PUT /api/sessions/{sid}/workspace.tar HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/x-tar\r\n\r\n").encode()
    r = chatd.raw(head + body, method="PUT", timeout=CHAT_TIMEOUT)
    assert_json_error(r, 413, message_contains=(str(limit),))
    assert poll(lambda: not list((chatd.workdir / "state").glob("sessions/*/upload.*")), 10)
    assert exec_(chatd, sid, "echo ok").strip() == "ok"
    finish(chatd, mock)


def test_import_while_a_turn_runs(chatd, mock):
    sid = create(chatd)
    fifo = f"/tmp/turn.{su.marker()}"
    # (cat, not the shell's read: a process whose command line names the fifo)
    mock.enqueue(calls(bash(f"mkfifo {fifo}; cat {fifo}")), {"text": "done"})
    replies = []
    t = threading.Thread(target=lambda: replies.append(chatd.post_json(
        f"/api/sessions/{sid}/messages", {"message": "wait"}, timeout=CHAT_TIMEOUT)))
    t.start()
    assert poll(lambda: chatd.get(f"/api/sessions/{sid}").json()["state"] == "running", CHAT_TIMEOUT)
    assert_json_error(put_tar(chatd, sid, tar_of({"x": (b"x", 0o644)})), 409)
    assert_json_error(chatd.get(f"/api/sessions/{sid}/workspace.tar"), 409)
    assert su.write_fifo(lambda: su.in_sandbox_of(fifo, fifo))
    t.join(CHAT_TIMEOUT)
    assert replies and replies[0].status == 200, replies
    finish(chatd, mock)


def test_a_client_that_leaves_mid_download(chatd, mock):
    sid = create(chatd)
    exec_(chatd, sid, "head -c 100M /dev/zero > big")
    sock = chatd.connect(timeout=CHAT_TIMEOUT)
    sock.sendall(f"GET /api/sessions/{sid}/workspace.tar HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = 0
    while got < 4 * MIB:
        data = sock.recv(MIB)
        assert data, "the stream ended early"
        got += len(data)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()

    # the op ends (the rest of the tar dropped) and the session takes work again
    def works():
        r = chatd.post_json(f"/api/sessions/{sid}/exec", {"command": "echo alive"}, timeout=CHAT_TIMEOUT)
        assert r.status in (200, 409), r
        return r.status == 200 and r.json()["output"] == "alive\n"
    assert poll(works, CHAT_TIMEOUT, interval=0.2)
    assert chatd.get(f"/api/sessions/{sid}").json()["state"] in ("ready", "idle")
    # and a whole download works after it
    r = chatd.get(f"/api/sessions/{sid}/workspace.tar", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and len(r.body) > 100 * MIB
    finish(chatd, mock)


TOKEN_A = "token-a-0123456789abcdef"
TOKEN_B = "token-b-fedcba9876543210"


def test_unknown_and_other_owners_sessions_are_not_found(daemon_factory, mock):
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_TOKENS=f"{TOKEN_A},{TOKEN_B}"))
    a, b = {"Authorization": f"Bearer {TOKEN_A}"}, {"Authorization": f"Bearer {TOKEN_B}"}
    sid = create(d, headers=a)
    exec_(d, sid, "echo mine > mine.txt", headers=a)
    for sess in ("sess_0123456789abcdef", sid):
        assert_json_error(d.get(f"/api/sessions/{sess}/workspace.tar", headers=b), 404)
        assert_json_error(put_tar(d, sess, tar_of({"x": (b"x", 0o644)}), headers=b), 404)
    assert_json_error(d.get(f"/api/sessions/{sid}/workspace.tar"), 401)
    r = d.get(f"/api/sessions/{sid}/workspace.tar", headers=a, timeout=CHAT_TIMEOUT)
    assert r.status == 200
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        names = [m.name.removeprefix("./") for m in t.getmembers()]
    assert "mine.txt" in names and "x" not in names
    finish(d, mock)


def test_json_errors_say_why(chatd, mock):
    sid = create(chatd)
    r = chatd.request("POST", f"/api/sessions/{sid}/workspace.tar", body=b"")
    assert_json_error(r, 405)
    assert json.loads(r.body)["error"]["type"]
    finish(chatd, mock)
