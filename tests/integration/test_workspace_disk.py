"""Workspaces on the host's disk (issue 15): /workspace is a directory under
state_dir/sessions/<id>/ with a hard size and file-count limit that ends in ENOSPC,
never in an OOM kill; a hybrid session's suspend keeps it in place and the next
sandbox is built on it, in a time that does not grow with its size."""

import hashlib
import os
import subprocess
import time

import pytest

from chat_util import CHAT_TIMEOUT, bash, calls, chat_env, chat_settings, mock, only_result  # noqa: F401


def start(daemon_factory, mock, settings=None, workdir=None, **env):
    kw = {"workdir": workdir} if workdir else {}
    return daemon_factory(settings=chat_settings(settings), env=chat_env(mock, **env), **kw)


def new_session(d, **body):
    r = d.post_json("/api/sessions", body)
    assert r.status == 201, r.json()
    return r.json()["id"]


def run(d, sid, command, timeout=300):
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": command, "timeout_s": timeout},
                    timeout=timeout + CHAT_TIMEOUT)
    assert r.status == 200, r
    return r.json()


def sdir(d, sid):
    return os.path.join(d.workdir, "state", "sessions", sid)


def test_health_says_where_workspaces_live(daemon_factory, mock):
    d = start(daemon_factory, mock)
    ws = d.health()["workspaces"]
    assert ws["store"] == "loop", ws          # root, no project quotas on this kernel
    sid = new_session(d)
    out = run(d, sid, "stat -c '%u %a' /workspace && df -k /workspace | tail -1 && touch /workspace/x")
    assert out["exit_status"] == 0, out
    owner, mode = out["output"].splitlines()[0].split()
    assert (owner, mode) == ("0", "755"), out
    size_kb = int(out["output"].splitlines()[1].split()[1])
    assert 4.5 * 2**20 < size_kb <= 5 * 2**20, out     # the 5 GiB default
    assert os.path.ismount(os.path.join(sdir(d, sid), "workspace"))
    assert os.path.exists(os.path.join(sdir(d, sid), "workspace", "x"))


def oom_kills(d, sid):
    res = d.get(f"/api/sessions/{sid}").json()["resources"]
    return res.get("oom_kills", 0), res


def test_a_disk_fill_meets_enospc_not_the_oom_killer(daemon_factory, mock):
    """The defaults (memory 1 GiB, workspace 5 GiB): writing until the disk is full ends
    in ENOSPC for the writer, with no OOM kill and the session alive."""
    d = start(daemon_factory, mock)
    sid = new_session(d)
    t0 = time.monotonic()
    out = run(d, sid, "head -c 6G /dev/zero > /workspace/fill; echo status=$?; stat -c %s /workspace/fill")
    took = time.monotonic() - t0
    assert "No space left on device" in out["output"], out
    lines = out["output"].splitlines()
    assert lines[-2] == "status=1", out
    assert int(lines[-1]) > 4.5 * 2**30, out      # less the file system's own blocks
    kills, res = oom_kills(d, sid)
    assert kills == 0, res
    assert res["disk_bytes"] > 4.5 * 2**30, res
    # the space is the workspace's, given back once the file goes
    out = run(d, sid, "rm /workspace/fill && sync && echo ok")
    assert out["output"].strip() == "ok", out
    print(f"filled 5 GiB in {took:.1f} s")


def test_a_file_larger_than_memory(daemon_factory, mock):
    """600 MiB written and read back in a sandbox of 256 MiB: the page cache is the
    sandbox's, and reclaimed; nothing is killed."""
    d = start(daemon_factory, mock)
    sid = new_session(d, policy={"memory_max": "256M"})
    out = run(d, sid, "head -c 600M /dev/urandom > big && sha256sum big && stat -c %s big")
    assert out["exit_status"] == 0, out
    digest, size = out["output"].split()[0], int(out["output"].split()[-1])
    assert size == 600 * 2**20
    with open(os.path.join(sdir(d, sid), "workspace", "big"), "rb") as f:
        h = hashlib.sha256()
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == digest
    assert oom_kills(d, sid)[0] == 0


def test_the_file_count_limit(daemon_factory, mock):
    d = start(daemon_factory, mock)
    sid = new_session(d, policy={"workspace_files": 64, "workspace_size": "64M"})
    out = run(d, sid, "for i in $(seq 1 1000); do : > f$i || break; done; ls | wc -l")
    assert "No space left on device" in out["output"], out
    made = int(out["output"].splitlines()[-1])
    assert 64 <= made < 200, out     # mkfs rounds the inode count up to a whole group
    res = d.get(f"/api/sessions/{sid}").json()["resources"]
    assert res["disk_files"] == made, res
