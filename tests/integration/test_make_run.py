"""`make run` and `agentd token`: a token made with the command `make run` prints is
the running daemon's, which then refuses requests without a token; and the CLI says
whether a running agentd uses the state it wrote, never that a token is accepted when
no agentd will see it.

The daemon is started by `make run` itself (the Makefile's own settings and recipe),
with AGENTD_LISTEN=127.0.0.1:0 so that it takes a free port rather than 8080, and
RUN_STATE in a temporary directory; it is stopped as Ctrl-C would, by SIGINT to its
process group."""

import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from conftest import (LISTENING_RE, REPO, Daemon, assert_no_sanitizer_report, clean_env, poll,
                      run_agentd, write_config)

BUILD_TIMEOUT = 600      # make run builds ./agentd first when it is not up to date
TOKEN_CMD_RE = re.compile(r"API tokens for this agentd: (.+ token add NAME.*)$")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


class MakeRun:
    """`make run` in its own process group, its output gathered line by line."""

    def __init__(self, state):
        env = clean_env({"AGENTD_LISTEN": "127.0.0.1:0", "HOME": os.environ.get("HOME", "/root")})
        self.proc = subprocess.Popen(["make", "--no-print-directory", "run", f"RUN_STATE={state}"],
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.decode("utf-8", "backslashreplace").rstrip("\n"))

    def text(self):
        with self._lock:
            return "\n".join(self.lines)

    def find(self, pattern):
        with self._lock:
            for line in self.lines:
                m = pattern.search(line)
                if m:
                    return m
        return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)           # what Ctrl-C sends
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        assert_no_sanitizer_report(self.text())


@pytest.fixture
def make_run(tmp_path):
    runs = []

    def start(state):
        runs.append(MakeRun(state))
        return runs[-1]
    yield start
    for r in runs:
        r.stop()


def http(host, port):
    """A Daemon object used only as an HTTP client of the daemon make started."""
    d = Daemon.__new__(Daemon)
    d.host, d.port = host, port
    return d


def test_a_token_made_with_the_printed_command_is_required_by_the_running_daemon(make_run, tmp_path):
    state = tmp_path / "run-state"
    run = make_run(state)
    listening = poll(lambda: run.find(LISTENING_RE) or run.proc.poll() is not None, BUILD_TIMEOUT, 0.1)
    m = run.find(LISTENING_RE)
    assert m, f"make run did not start agentd:\n{run.text()[-3000:]}"
    assert listening
    d = http(m.group(1).strip("[]"), int(m.group(2)))
    assert d.get("/api/sessions").status == 200            # anonymous on loopback, no token yet

    cmd = run.find(TOKEN_CMD_RE)
    assert cmd, f"make run prints no command for API tokens:\n{run.text()[-3000:]}"
    p = subprocess.run(["sh", "-c", cmd.group(1).replace("NAME", "alice")], cwd=REPO, env=clean_env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert_no_sanitizer_report(p.stderr)
    token = p.stdout.strip()
    assert token.startswith("agt_"), p.stdout
    assert (state / "tokens.json").exists()
    # the CLI says which agentd takes it, and that one is running
    said = re.search(r"the agentd running as pid (\d+) uses (\S+): it accepts it", p.stderr)
    assert said, p.stderr
    assert said.group(2) == str(state)
    with open(f"/proc/{said.group(1)}/cmdline", "rb") as f:
        assert b"agentd" in f.read()

    # and it does: a request without a token is refused now, one with it goes through
    refused = poll(lambda: d.get("/api/sessions").status == 401, 10)
    assert refused, "the running daemon still serves requests without a token"
    r = d.get("/api/sessions", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r


def test_the_cli_does_not_claim_a_token_counts_when_no_daemon_uses_its_state(make_run, tmp_path):
    run = make_run(tmp_path / "run-state")
    assert poll(lambda: run.find(LISTENING_RE) or run.proc.poll() is not None, BUILD_TIMEOUT, 0.1)
    assert run.find(LISTENING_RE), run.text()[-3000:]
    # the CLI with settings of its own: another state directory than the running daemon's
    other = tmp_path / "elsewhere"
    cfg = write_config(tmp_path, {"state_dir": str(other)}, name="cli.json")
    p = run_agentd(["token", "add", "bob", "--config", str(cfg)])
    assert p.returncode == 0, p.stderr
    assert f"no running agentd uses {other}" in p.stderr, p.stderr
    assert "accepts" not in p.stderr, p.stderr
    p = run_agentd(["token", "remove", "bob", "--config", str(cfg)])
    assert p.returncode == 0 and f"no running agentd uses {other}" in p.stderr, p.stderr
    assert "refuses" not in p.stderr, p.stderr


def test_the_lock_goes_with_the_daemon(tmp_path):
    """After the daemon stops, its state directory is nobody's again."""
    d = Daemon(tmp_path / "d")
    d.start()
    try:
        p = run_agentd(["token", "add", "carol", "--config", str(d.config_path)])
        assert p.returncode == 0 and f"the agentd running as pid {d.proc.pid} uses" in p.stderr, p.stderr
    finally:
        d.assert_clean_exit()
    # the kernel drops a record lock when its process exits: at once, no waiting
    p = run_agentd(["token", "remove", "carol", "--config", str(d.config_path)])
    assert p.returncode == 0 and "no running agentd uses" in p.stderr, p.stderr
