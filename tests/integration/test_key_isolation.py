"""The Anthropic API key stays out of the sandbox: a command run by the model finds it
in no environment, no /proc file and no file of the sandbox; the host, looking at every
process of a live sandbox (environ, cmdline, memory), finds it nowhere either; and it
is in neither the daemon's log, its state directory nor any reply. Only the supervisor
puts it on the wire, as x-api-key."""

import json
import os
import re
import threading

from chat_util import (CHAT_TIMEOUT, KEY, bash, calls, chat_ok, descendants, finish, mock,  # noqa: F401
                       only_result, sandbox_processes, start_chat_daemon, stream_chat, check_stream_done,
                       wait_pool_ready)
import sandbox_util as su

HALF = len(KEY) // 2
# The key never appears whole in the command: a subshell joins its halves for grep.
SNOOP = ("env; echo ENV-END; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; echo PROC-ENV-END; "
         "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done; echo CMDLINE-END; "
         # in a subshell, so that the persistent shell never holds the joined key (its
         # memory is searched later); /usr is the host's, read-only: not where a key
         # handed to the sandbox would be
         f"(K1='{KEY[:HALF]}'; K2='{KEY[HALF:]}'; "
         "grep -rIlF -D skip --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr \"$K1$K2\" / 2>/dev/null); "
         "echo GREP-END $?")


def _key_in_memory(pid, needle=KEY.encode()):
    """Where in pid's readable memory the key is ([] when nowhere); None if unreadable."""
    found = []
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError:
        return None
    with mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if "r" not in perms:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if hi - lo > 256 << 20:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, OverflowError, ValueError):
                continue
            if data and needle in data:
                found.append(line)
    return found


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        return e


# How long the sandbox's second command waits for the test to let it go on: generous (the
# test reads every process's memory first, slow under ASan on a loaded machine); the
# test's assertions check that the test, not this deadline, released it.
HOLD_S = 240


def test_the_key_is_nowhere_in_the_sandbox(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_LOG_LEVEL="debug")
    mark = su.marker()
    fifo = f"/tmp/go.{mark}"
    # the second command holds the sandbox (bash, timeout, cat) still until the test has
    # looked at it: cat waits on a fifo that the test writes to through /proc/PID/root
    mock.enqueue(calls(bash(SNOOP)), calls(bash(f"mkfifo {fifo} && timeout {HOLD_S} cat {fifo}; echo released $?")),
                 {"text": "nothing found"})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("doc", chat_ok(d, "look for secrets", timeout=HOLD_S + 60)))
    t.start()
    released, cat = False, None
    try:
        # while the sandbox waits, look at each of its processes from the host
        cat = su.poll(lambda: [p for p, c in su.processes_with(fifo).items() if c.startswith("cat ")], 60)
        assert cat, f"the sandbox's cat never showed:\n{d.stderr}"
        procs = sandbox_processes(d.proc.pid)
        seen = {}
        for pid in procs:
            env, cmd = _read(f"/proc/{pid}/environ"), _read(f"/proc/{pid}/cmdline")
            mem = _key_in_memory(pid)
            seen[pid] = (cmd, env, mem)
    finally:
        if cat:
            released = su.write_fifo(f"/proc/{cat[0]}/root{fifo}")
        t.join(HOLD_S + 90)
    assert released, f"could not write to the sandbox's fifo {fifo}:\n{d.stderr}"
    assert len(procs) >= 4, f"found only {procs} in the sandbox (init, agent, bash, timeout, cat expected)"
    assert any(isinstance(c, bytes) and c.startswith(b"cat\0" + fifo.encode()) for c, _, _ in seen.values()), seen
    for pid, (cmd, env, mem) in seen.items():
        assert isinstance(env, bytes), f"could not read /proc/{pid}/environ as root: {env}"
        assert KEY.encode() not in env, f"the key is in the environment of sandbox process {pid} ({cmd!r})"
        assert isinstance(cmd, bytes), f"could not read /proc/{pid}/cmdline as root: {cmd}"
        assert KEY.encode() not in cmd, f"the key is in the cmdline of {pid}"
        assert mem is not None, f"could not read the memory of sandbox process {pid} ({cmd!r})"
        assert mem == [], f"the key is in the memory of sandbox process {pid} ({cmd!r}): {mem}"

    doc = out.get("doc")
    assert doc is not None, f"the run did not finish:\n{d.stderr}"
    # the hold ended because the test wrote to the fifo, not at its deadline
    held, _ = only_result(mock, 2)
    assert held.splitlines() == ["go", "released 0"], held
    text, is_error = only_result(mock, 1)
    # the snoop ran and saw things: an environment, processes, a grep that finished
    assert "PATH=" in text and "ENV-END" in text and "PROC-ENV-END" in text and "CMDLINE-END" in text, text
    assert re.search(r"GREP-END [12]\b", text), f"grep did not finish cleanly: {text[-500:]}"
    listed = text.split("CMDLINE-END", 1)[1].split("GREP-END", 1)[0].strip()
    assert listed == "", f"files in the sandbox hold the key: {listed}"
    assert KEY not in text and KEY[:HALF] + KEY[HALF:] not in text

    # the key only ever went out as the x-api-key header, never in a request body
    for req in mock.requests:
        assert req["headers"]["x-api-key"] == KEY
        assert KEY not in json.dumps(req["body"], ensure_ascii=False)
    assert KEY not in json.dumps(doc, ensure_ascii=False)
    finish(d, mock)             # not in the log either (debug level)


def test_the_key_is_not_in_the_state_directory_or_the_stream(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_LOG_LEVEL="debug")
    mock.enqueue(calls(bash("cat /proc/self/environ | tr '\\0' '\\n'; echo; ls -la /proc/1/")), {"text": "done"})
    s = stream_chat(d, "stream it")
    check_stream_done(s)
    assert KEY.encode() not in s.raw
    hits = []
    for top, _dirs, files in os.walk(d.workdir):
        for f in files:
            data = _read(os.path.join(top, f))
            if isinstance(data, bytes) and KEY.encode() in data:
                hits.append(os.path.join(top, f))
    assert hits == [], f"files under the daemon's directory hold the key: {hits}"
    finish(d, mock)


def test_the_commands_the_model_runs_cannot_reach_the_supervisor(daemon_factory, mock):
    """The agent's socket to its supervisor is close-on-exec: no process it starts holds
    it, so a command cannot send model requests or events of its own."""
    d = start_chat_daemon(daemon_factory, mock)
    mock.enqueue(calls(bash("for p in /proc/[0-9]*; do for f in $p/fd/*; do "
                            "echo \"$(cat $p/comm 2>/dev/null) $(readlink $f 2>/dev/null)\"; done; done")),
                 {"text": "done"})
    chat_ok(d, "list descriptors")
    text, _ = only_result(mock, 1)
    lines = [line.split(" ", 1) for line in text.splitlines()]
    # the shell and the command were seen, with their descriptors (agentd's own
    # processes, not dumpable, show none): none of them is a socket
    assert any(c == "bash" and "/dev/null" in f for c, f in lines), text
    assert [c for c, f in lines if "socket:" in f and c != "agentd"] == [], text
    finish(d, mock)


def test_secrets_leave_the_environment_of_agentd_once_read(daemon_factory, mock):
    """The key and AGENTD_TOKENS are read once into agentd's memory and scrubbed from its
    environment: /proc/PID/environ of the daemon and of every process it forked (the
    spawner, the supervisors) shows neither, so no child it execs could inherit them."""
    token = "tok-env-" + "9" * 24
    d = start_chat_daemon(daemon_factory, mock, AGENTD_TOKENS=token, AGENTD_POOL_SIZE=1)
    assert wait_pool_ready(d, 1)["ready"] >= 1
    procs = [d.proc.pid] + [int(p) for p in descendants(d.proc.pid)]
    assert len(procs) >= 3, procs          # the daemon, its spawner, the pooled supervisor
    for pid in procs:
        env = _read(f"/proc/{pid}/environ")
        if not isinstance(env, bytes):
            continue                           # gone meanwhile
        assert KEY.encode() not in env, f"the key is in the environment of {pid}"
        assert token.encode() not in env, f"AGENTD_TOKENS is in the environment of {pid}"
    # and it works: the key is used, the token is accepted
    mock.enqueue({"text": "still works"})
    r = d.post_json("/api/chat", {"message": "hi"}, headers={"Authorization": f"Bearer {token}"},
                    timeout=CHAT_TIMEOUT)
    assert r.status == 200 and r.json()["reply"] == "still works", r
    finish(d, mock)
