"""A hybrid session's save waits for the disk (fsync) away from the gateway's event
thread (the workspace in the session's supervisor, session.json on the gateway's saver
thread): on a slow disk, the turn's answer waits for its save, and every other session
goes on meanwhile. The daemons here keep workspaces in memory (the tmpfs store), whose
saves are snapshots written by the supervisor.

The slow disk is the gateway's own fsync(2) held for as long as the test says (until it
removes a file), by a library built here and preloaded into the daemon (not into the
sandboxes, whose environment agentd builds itself): the test, not a clock, decides when
the disk is done, so a loaded machine cannot make it pass or fail."""

import contextlib
import glob
import os
import signal
import subprocess
import threading

import pytest

from chat_util import CHAT_TIMEOUT, chat_env, chat_settings, finish, mock  # noqa: F401
from conftest import poll

HOLD_MAX_S = 240      # a hold the test forgot to release ends by itself, at the latest

SLOW_FSYNC_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Whether the file hold names this process (or -1: every process). */
static int held(const char *hold)
{
	int pid = 0;
	FILE *f = fopen(hold, "re");
	if (f != NULL) {
		if (fscanf(f, "%%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid == -1 || pid == (int)getpid();
}

/* While the file MARK.hold names this process, its fsyncs wait; each says it waits by
 * creating MARK.PID. Any other fsync goes straight to the disk. */
static int slow(const char *name, int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
	const char *mark = getenv("SLOW_FSYNC_MARK");
	char hold[4096], path[4096];
	if (mark != NULL && snprintf(hold, sizeof(hold), "%%s.hold", mark) < (int)sizeof(hold) && held(hold) &&
	    snprintf(path, sizeof(path), "%%s.%%d", mark, (int)getpid()) < (int)sizeof(path)) {
		close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		for (int i = 0; i < %d * 100 && held(hold); i++)
			usleep(10000);
	}
	return real(fd);
}

int fsync(int fd) { return slow("fsync", fd); }
int fdatasync(int fd) { return slow("fdatasync", fd); }
"""


def hold_disk(env, pid):
    """From now on the fsyncs of process pid (-1: of every process) wait."""
    hold = env["SLOW_FSYNC_MARK"] + ".hold"
    with open(hold + ".tmp", "w") as f:
        f.write(str(pid))
    os.replace(hold + ".tmp", hold)


@contextlib.contextmanager
def disk_held(env, d, pid=None):
    """The gateway's fsyncs wait while in the with-block (by default; not its
    supervisors': they save the workspace, which comes first)."""
    hold_disk(env, d.proc.pid if pid is None else pid)
    try:
        yield
    finally:
        os.unlink(env["SLOW_FSYNC_MARK"] + ".hold")


def wait_for_fsync(env, d):
    """Until the gateway (not a supervisor, which fsyncs the workspace's snapshot in a
    process of the session's own) is held in an fsync: the session.json of a save."""
    mark = f"{env['SLOW_FSYNC_MARK']}.{d.proc.pid}"
    assert poll(lambda: os.path.exists(mark), CHAT_TIMEOUT), "no fsync came"


@pytest.fixture
def slow_fsync(tmp_path):
    src, lib = tmp_path / "slow_fsync.c", tmp_path / "slow_fsync.so"
    src.write_text(SLOW_FSYNC_C % HOLD_MAX_S)
    p = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src), "-ldl"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # an ASan build must accept a library loaded before its runtime
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": str(lib), "SLOW_FSYNC_MARK": str(tmp_path / "fsync-under-way"),
            "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0" if asan else "verify_asan_link_order=0"}


def test_a_slow_save_holds_its_own_answer_and_nobody_elses(daemon_factory, mock, slow_fsync):
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_SANDBOX_WORKSPACE_STORE="tmpfs", **slow_fsync))
    hybrid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    other = d.post_json("/api/sessions", {"pattern": "long-running"}).json()["id"]

    mock.enqueue({"text": "saved slowly"})
    slow = {}

    def hybrid_turn():
        slow["r"] = d.post_json(f"/api/sessions/{hybrid}/messages", {"message": "one"}, timeout=CHAT_TIMEOUT)

    t = threading.Thread(target=hybrid_turn)
    with disk_held(slow_fsync, d):
        t.start()
        wait_for_fsync(slow_fsync, d)                # the turn is done: its save waits for the disk

        # the other session's whole turn while the save waits for the disk
        mock.enqueue({"text": "not held up"})
        r = d.post_json(f"/api/sessions/{other}/messages", {"message": "two"}, timeout=CHAT_TIMEOUT)
        assert r.status == 200 and r.json()["reply"] == "not held up", r
        assert t.is_alive(), "the hybrid turn answered before its save reached the disk"
        assert d.get(f"/api/sessions/{hybrid}").json()["state"] == "running"

    t.join(CHAT_TIMEOUT)
    assert not t.is_alive()
    assert slow["r"].status == 200 and slow["r"].json()["reply"] == "saved slowly", slow["r"]
    # saved before it answered: the transcript and the workspace are on disk
    saved = os.path.join(d.workdir, "state", "sessions", hybrid)
    assert sorted(os.listdir(saved)) == ["session.json", "workspace.1.tar"], os.listdir(saved)
    assert d.get(f"/api/sessions/{hybrid}").json()["state"] == "idle"
    finish(d, mock)


def test_a_session_deleted_while_its_save_waits_is_not_brought_back(daemon_factory, mock, slow_fsync, tmp_path):
    workdir = str(tmp_path / "d")
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_SANDBOX_WORKSPACE_STORE="tmpfs", **slow_fsync), workdir=workdir)
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    mock.enqueue({"text": "about to go"})
    done = {}
    t = threading.Thread(target=lambda: done.setdefault(
        "r", d.post_json(f"/api/sessions/{sid}/messages", {"message": "one"}, timeout=CHAT_TIMEOUT)))
    with disk_held(slow_fsync, d):
        t.start()
        wait_for_fsync(slow_fsync, d)
        assert d.request("DELETE", f"/api/sessions/{sid}").status == 200
        # the save goes on after the delete; stopped before it is done, the daemon
        # finishes it first, and then takes the files with it
        d.send_signal(signal.SIGTERM)
        assert poll(lambda: "shutting down" in d.stderr, 60), d.stderr[-2000:]
    assert d.wait() == 0, d.stderr[-3000:]
    t.join(CHAT_TIMEOUT)
    assert not t.is_alive()
    assert not os.path.exists(os.path.join(workdir, "state", "sessions", sid))
    d2 = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_SANDBOX_WORKSPACE_STORE="tmpfs"), workdir=workdir)
    assert d2.get(f"/api/sessions/{sid}").status == 404


def wait_for_supervisor_fsync(env, d):
    """Until a process other than the gateway (the session's supervisor, which writes
    the workspace's snapshot) is inside a slow fsync."""
    marks = lambda: [m for m in glob.glob(env["SLOW_FSYNC_MARK"] + ".*")  # noqa: E731
                     if not m.endswith((f".{d.proc.pid}", ".hold", ".tmp"))]
    assert poll(marks, CHAT_TIMEOUT), "no supervisor's fsync came"


def test_a_suspend_that_waits_for_the_disk_holds_turns_and_ops_off(daemon_factory, mock, slow_fsync):
    """While a suspend saves the workspace, nothing may change it: a message or an exec
    is refused with a sentence (409); the suspend answers once it is done, and the next
    message resumes the session with what was saved."""
    d = daemon_factory(settings=chat_settings(), env=chat_env(mock, AGENTD_SANDBOX_WORKSPACE_STORE="tmpfs", **slow_fsync))
    sid = d.post_json("/api/sessions", {"pattern": "hybrid"}).json()["id"]
    r = d.request("PUT", f"/api/sessions/{sid}/files/kept.txt", body=b"kept\n", timeout=CHAT_TIMEOUT)
    assert r.status == 200, r
    done = {}
    t = threading.Thread(target=lambda: done.setdefault(
        "r", d.request("POST", f"/api/sessions/{sid}/suspend", timeout=CHAT_TIMEOUT)))
    with disk_held(slow_fsync, d, pid=-1):
        t.start()
        wait_for_supervisor_fsync(slow_fsync, d)          # the snapshot waits for the disk
        r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "now"}, timeout=CHAT_TIMEOUT)
        assert r.status == 409 and "being suspended" in r.json()["error"]["message"], r
        r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "echo changed > kept.txt"}, timeout=CHAT_TIMEOUT)
        assert r.status == 409 and "being suspended" in r.json()["error"]["message"], r
        hold_disk(slow_fsync, d.proc.pid)                 # the snapshot goes to disk, the gateway's fsyncs wait
        wait_for_fsync(slow_fsync, d)                     # then session.json waits for the disk: still held off
        r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "echo changed > kept.txt"}, timeout=CHAT_TIMEOUT)
        assert r.status == 409 and "being suspended" in r.json()["error"]["message"], r
        assert t.is_alive(), "the suspend answered before its save could have reached the disk"
    t.join(CHAT_TIMEOUT)
    assert not t.is_alive()
    assert done["r"].status == 200 and done["r"].json()["state"] == "suspended", done["r"]
    mock.enqueue({"text": "back"})
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": "again"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "back", r
    r = d.get(f"/api/sessions/{sid}/files/kept.txt", timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.body == b"kept\n", r
    finish(d, mock)
