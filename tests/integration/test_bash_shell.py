"""The bash tool's persistent shell is ready before it is asked for: it runs in a new
sandbox before any bash call, and the first call runs in it; after a timeout, an
interrupt or the shell's own exit a new one starts at once, not at the next command; a
session of another runtime has none (nor keeps a pooled sandbox's). Seen from the host:
the shells are the sandboxes' processes with the shell's command line, each known by
its pid namespace and its pid inside, which `echo $$` prints."""

from chat_util import (CHAT_TIMEOUT, bash, calls, chatd, finish, interrupted_turn, mock, only_result,  # noqa: F401
                       pid_ns, sandbox_processes, start_chat_daemon, wait_pool_ready)
from conftest import poll
import sandbox_util as su

SHELL = b"/bin/bash\0--noprofile\0--norc\0"


def create(d, body=None):
    r = d.post_json("/api/sessions", {"pattern": "long-running", **(body or {})})
    assert r.status == 201, r
    sid = r.json()["id"]
    assert poll(lambda: d.get(f"/api/sessions/{sid}").json()["state"] == "ready", su.HOST_WAIT), \
        d.get(f"/api/sessions/{sid}").json()
    return sid


def message(d, sid, text):
    r = d.post_json(f"/api/sessions/{sid}/messages", {"message": text}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, f"{r}\n{d.stderr[-3000:]}"
    return r.json()


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def live_processes(d):
    """{pid namespace: {pid inside: command line}} of d's sandboxes, zombies left out."""
    out = {}
    for p in sandbox_processes(d.proc.pid):
        status, cmd, ns = _read(f"/proc/{p}/status"), _read(f"/proc/{p}/cmdline", "rb"), pid_ns(p)
        if status is None or cmd is None or ns is None or "\nState:\tZ" in status:
            continue
        nspid = [line for line in status.splitlines() if line.startswith("NSpid:")][0].split()[-1]
        out.setdefault(ns, {})[int(nspid)] = cmd
    return out


def shells(d):
    """{pid namespace: [pids inside of the shells there]}, for the sandboxes that have one."""
    out = {}
    for ns, procs in live_processes(d).items():
        pids = sorted(p for p, cmd in procs.items() if cmd == SHELL)
        if pids:
            out[ns] = pids
    return out


def the_shell(d, ns=None, other_than=None):
    """(pid namespace, pid inside) of the one shell of d's one sandbox (or of ns's), once
    there is one and it is not other_than; None when none came."""
    def one():
        got = shells(d)
        if ns is not None:
            got = {ns: got[ns]} if ns in got else {}
        if len(got) == 1:
            (n, pids), = got.items()
            if len(pids) == 1 and pids[0] != other_than:
                return n, pids[0]
        return None
    return poll(one, su.HOST_WAIT)


def test_the_shell_runs_before_the_first_bash_call_which_runs_in_it(chatd, mock):
    sid = create(chatd)
    # no bash call yet: the shell is there all the same
    got = the_shell(chatd)
    assert got, f"no shell in the new sandbox: {live_processes(chatd)}"
    ns, pid = got
    mock.enqueue(calls(bash("echo $$; mkdir -p sub && cd sub && export GREETING=hi")),
                 calls(bash("echo $$ $PWD $GREETING")), {"text": "done"})
    message(chatd, sid, "run them")
    assert only_result(mock, 1) == (str(pid), False)
    # the same shell, with its cwd and exported variables
    assert only_result(mock, 2) == (f"{pid} /workspace/sub hi", False)
    assert shells(chatd) == {ns: [pid]}
    finish(chatd, mock)


def test_the_shell_warmed_at_each_turn_keeps_its_state_and_prints_nothing(chatd, mock):
    """Each turn warms the running shell again (a command that prints nothing, while the
    model answers): the next turn's command finds the same shell, its cwd and variables,
    and only its own output."""
    sid = create(chatd)
    mock.enqueue(calls(bash("cd /tmp && export KEEP=yes && echo $$")), {"text": "one"})
    message(chatd, sid, "one")
    pid, is_error = only_result(mock, 1)
    assert not is_error and pid.isdigit(), pid
    for i, text in ((3, "two"), (5, "three")):
        mock.enqueue(calls(bash("echo $$ $PWD $KEEP")), {"text": text})
        message(chatd, sid, text)
        assert only_result(mock, i) == (f"{pid} /tmp yes", False)
    finish(chatd, mock)


def test_a_new_shell_starts_at_once_after_a_timeout_an_exit_and_an_interrupt(chatd, mock):
    sid = create(chatd, {"policy": {"command_timeout_s": 1}})
    ns, first = the_shell(chatd)
    mock.enqueue(calls(bash("cd /tmp; sleep 1000")), {"text": "gave up"})
    message(chatd, sid, "wait")
    out, is_error = only_result(mock, 1)
    assert is_error and "timed out after 1 s" in out, out
    assert out.endswith("; a new shell was started: cwd and variables reset]"), out
    # no command since: a new shell runs in its place all the same
    got = the_shell(chatd, ns, other_than=first)
    assert got, f"no new shell after the timeout: {live_processes(chatd)}"
    second = got[1]
    mock.enqueue(calls(bash("echo $$ $PWD; exit 3")), {"text": "it exited"})
    message(chatd, sid, "exit")
    assert only_result(mock, 3) == (f"{second} /workspace\n[the shell exited with status 3; a new shell was "
                                    "started: cwd and variables reset]", True)
    got = the_shell(chatd, ns, other_than=second)
    assert got, f"no new shell after the exit: {live_processes(chatd)}"
    third = got[1]
    # an interrupt: a new shell before the next turn
    mark = su.marker()
    mock.enqueue(calls(bash(f"echo $$; sleep 600.{mark}")), {"text": "after the interrupt"})
    r = interrupted_turn(chatd, sid, f"600.{mark}")
    assert r.status == 200 and r.json()["stop_reason"] == "interrupted", r
    got = the_shell(chatd, ns, other_than=third)
    assert got, f"no new shell after the interrupt: {live_processes(chatd)}"
    mock.reset()
    mock.enqueue(calls(bash("echo $$")), {"text": "ok"})
    message(chatd, sid, "again")
    assert only_result(mock, 1) == (str(got[1]), False)
    finish(chatd, mock)


def test_another_runtime_has_no_shell_nor_keeps_a_pooled_one(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_POOL_SIZE="1")
    assert wait_pool_ready(d, 1)["ready"] == 1
    pooled = the_shell(d)
    assert pooled, f"the pooled sandbox has no shell: {live_processes(d)}"
    # the pooled sandbox goes to a session of the command runtime: its first turn ends the shell
    sid = create(d, {"runtime": "command", "command": "echo ran"})
    assert message(d, sid, "go")["reply"] == "ran\n"
    ns = pooled[0]
    assert poll(lambda: ns in live_processes(d) and ns not in shells(d), su.HOST_WAIT), live_processes(d)
    # one built for such a session (its own policy: not a pooled one) starts none; the
    # pool's new sandbox has its shell first, so as not to be taken for it
    assert wait_pool_ready(d, 1)["ready"] == 1
    assert poll(lambda: len(shells(d)) == 1 and ns not in shells(d), su.HOST_WAIT), live_processes(d)
    assert_no_shell(d, {"runtime": "command", "command": "true", "policy": {"command_timeout_s": 7}})
    finish(d, mock)


def assert_no_shell(d, body):
    """A session made with body has no shell: once its agent serves (an exec answered),
    its sandbox holds the init and the agent only. Returns its id."""
    before = set(live_processes(d))
    sid = create(d, body)
    r = d.post_json(f"/api/sessions/{sid}/exec", {"command": "true"}, timeout=CHAT_TIMEOUT)
    assert r.status == 200, r

    def alone():
        procs = live_processes(d)
        return [procs[n] for n in procs if n not in before and len(procs[n]) == 2]
    assert poll(alone, su.HOST_WAIT), live_processes(d)
    return sid


def test_agent_shell_ahead_false_starts_the_shell_with_the_first_command(daemon_factory, mock):
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SHELL_AHEAD="false")
    sid = assert_no_shell(d, {})
    mock.enqueue(calls(bash("echo $$")), {"text": "done"})
    message(d, sid, "run it")
    ns, pid = the_shell(d)
    assert only_result(mock, 1) == (str(pid), False)
    finish(d, mock)


def test_an_unused_shell_ends_when_idle_and_a_used_one_stays(daemon_factory, mock):
    """agent.shell_rest_s: a shell started ahead that ran nothing ends after so long idle
    (an idle session's process less); the next turn starts one again ahead of its first
    command. A shell that ran a command holds the model's cwd and variables: it stays."""
    d = start_chat_daemon(daemon_factory, mock, AGENTD_SHELL_REST_S="1")
    sid = create(d)
    ns, first = the_shell(d)
    assert poll(lambda: ns in live_processes(d) and ns not in shells(d), su.HOST_WAIT), live_processes(d)
    mock.enqueue(calls(bash("echo $$; cd /tmp && export KEPT=yes")), {"text": "done"})
    message(d, sid, "run it")
    _, pid = the_shell(d, ns)
    assert only_result(mock, 1) == (str(pid), False)
    # a second session's unused shell ends a rest after this turn: by then the first
    # session's shell has been idle as long, and is still there
    create(d)
    both = poll(lambda: len(shells(d)) == 2 and shells(d), su.HOST_WAIT)
    assert both, f"no shell in the second session: {live_processes(d)}"
    other = [n for n in both if n != ns][0]
    assert poll(lambda: other in live_processes(d) and other not in shells(d), su.HOST_WAIT), live_processes(d)
    assert shells(d) == {ns: [pid]}
    mock.reset()
    mock.enqueue(calls(bash("echo $$ $PWD $KEPT")), {"text": "ok"})
    message(d, sid, "again")
    assert only_result(mock, 1) == (f"{pid} /tmp yes", False)
    finish(d, mock)
