"""The command line and the settings: options, --check-config, validation, the
environment and .env."""

import json
import re
import socket

import pytest

from conftest import (base_settings, free_port, make_static, run_agentd, write_config)

SECRET = "sk-ant-test-DO-NOT-PRINT-0123456789"


@pytest.fixture
def workdir(tmp_path):
    make_static(tmp_path / "static")
    return tmp_path


def config_file(workdir, overrides=None, name="agentd.json"):
    settings = base_settings(workdir, workdir / "static")
    settings.update(overrides or {})
    return write_config(workdir, settings, name)


def check_config(workdir, cfg, env=None):
    p = run_agentd(["--config", str(cfg), "--check-config"], env=env, cwd=workdir)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), p


# --------------------------------------------------------------------------- options

def test_version(tmp_path):
    p = run_agentd(["--version"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"agentd \d+\.\d+\.\d+\S*\n", p.stdout), p.stdout
    assert run_agentd(["-V"], cwd=tmp_path).stdout == p.stdout


def test_help(tmp_path):
    p = run_agentd(["--help"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for opt in ("--config", "--check-config", "--version", "--help"):
        assert opt in p.stdout, p.stdout
    assert run_agentd(["-h"], cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("argv", [["--bogus"], ["-Z"], ["stray-argument"], ["--config"]])
def test_bad_usage_exits_2(tmp_path, argv):
    p = run_agentd(argv, cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.strip(), "bad usage must say what is wrong"
    assert "listening" not in p.stderr


# --------------------------------------------------------------------------- --check-config

def test_check_config_prints_effective_settings(workdir):
    cfg = config_file(workdir, {"http": {"max_body_bytes": "64K", "threads": 3},
                                "log": {"format": "json"}})
    doc, p = check_config(workdir, cfg)
    assert doc["listen"] == "127.0.0.1:0"
    assert doc["state_dir"] == str(workdir / "state")
    assert doc["static_dir"] == str(workdir / "static")
    assert doc["http"]["max_body_bytes"] == 64 * 1024
    assert doc["http"]["threads"] == 3
    assert doc["log"]["format"] == "json"
    # defaults fill what the file leaves out
    assert doc["http"]["max_header_bytes"] == 16 * 1024
    assert doc["anthropic"]["max_message_chars"] == 10000
    assert doc["anthropic"]["api_key"] == "(not set)"
    assert "listening" not in p.stderr


def test_check_config_never_prints_the_api_key(workdir):
    cfg = config_file(workdir)
    doc, p = check_config(workdir, cfg, env={"ANTHROPIC_API_KEY": SECRET})
    assert doc["anthropic"]["api_key"] == "(set)"
    assert SECRET not in p.stdout and SECRET not in p.stderr


def test_check_config_does_not_create_state_or_listen(workdir):
    port = free_port()
    cfg = config_file(workdir, {"listen": f"127.0.0.1:{port}"})
    check_config(workdir, cfg)
    with socket.socket() as s:  # the port is still free: nothing holds it
        s.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- bad settings

# (id, settings overrides or raw file text, words the message must hold, reason regex)
BAD_CONFIGS = [
    ("unknown-key", {"bogus": 1}, ["bogus"], r"unknown"),
    ("unknown-nested-key", {"http": {"max_bodybytes": 5}}, ["max_bodybytes"], r"unknown"),
    ("wrong-type-string", {"listen": 8080}, ["listen"], r"must be|expected|type|string"),
    ("wrong-type-int", {"http": {"threads": "many"}}, ["http.threads"], r"must be|expected|number|integer"),
    ("wrong-type-bool", {"log": {"access": 3}}, ["log.access"], r"must be|expected|true|bool"),
    ("fractional-int", {"http": {"threads": 1.5}}, ["http.threads"], r"whole|integer"),
    ("out-of-range-low", {"http": {"max_connections": 0}}, ["http.max_connections"], r"range|at least|between"),
    ("out-of-range-high", {"http": {"max_body_bytes": "10G"}}, ["http.max_body_bytes"], r"range|at most|between"),
    ("bad-enum", {"log": {"format": "xml"}}, ["log.format", "xml"], r"one of|must be|text"),
    ("bad-cache-ttl", {"anthropic": {"cache_ttl": "2h"}}, ["anthropic.cache_ttl", "2h"], r"one of|must be"),
    ("thinking-below-1024", {"agent": {"thinking_budget": 500}}, ["agent.thinking_budget", "500"], r"1024"),
    ("thinking-past-max-tokens", {"agent": {"thinking_budget": 9000}, "anthropic": {"max_tokens": 8192}},
     ["agent.thinking_budget", "9000", "anthropic.max_tokens"], r"less than"),
    ("bad-listen-host", {"listen": "999.1.1.1:80"}, ["listen", "999.1.1.1"], r"address"),
    ("bad-listen-port", {"listen": "127.0.0.1:99999"}, ["listen", "99999"], r"port"),
    ("listen-without-port", {"listen": "127.0.0.1"}, ["listen"], r"port|HOST:PORT"),
    ("empty-state-dir", {"state_dir": ""}, ["state_dir"], r"empty"),
    ("api-key-in-file", {"anthropic": {"api_key": SECRET}}, ["anthropic.api_key"],
     r"ANTHROPIC_API_KEY|environment|secret"),
    ("malformed-json", '{"listen": "127.0.0.1:0", ', ["agentd.json"], r"(?i)json"),
    ("not-an-object", '[1, 2]', ["agentd.json"], r"(?i)object"),
]


def write_bad_config(workdir, spec, port):
    if isinstance(spec, str):
        path = workdir / "agentd.json"
        path.write_text(spec)
        return path
    overrides = {"listen": f"127.0.0.1:{port}"}
    overrides.update(spec)
    return config_file(workdir, overrides)


@pytest.mark.parametrize("mode", ["run", "check"])
@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_before_binding(workdir, case, mode):
    """A bad setting: exit non-zero, naming the key and the reason, and never get as
    far as the listening socket. The port of the config is held by the test, so a
    daemon that tried to bind before validating would fail on bind instead."""
    _, spec, words, reason = case
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        cfg = write_bad_config(workdir, spec, port)
        args = ["--config", str(cfg)] + (["--check-config"] if mode == "check" else [])
        p = run_agentd(args, cwd=workdir, timeout=10)
    assert p.returncode not in (0, None), p.stderr
    assert "listening" not in p.stderr
    assert not re.search(r"\bbind\b", p.stderr), f"tried to bind before validating:\n{p.stderr}"
    for w in words:
        assert w in p.stderr, f"message should name {w!r}:\n{p.stderr}"
    assert re.search(reason, p.stderr, re.I), f"message should say why ({reason}):\n{p.stderr}"
    assert SECRET not in p.stderr and SECRET not in p.stdout
    assert p.stdout == "", "nothing goes to stdout on failure"


@pytest.mark.parametrize("mode", ["run", "check"])
def test_missing_config_file(workdir, mode):
    missing = workdir / "does-not-exist.json"
    args = ["--config", str(missing)] + (["--check-config"] if mode == "check" else [])
    p = run_agentd(args, cwd=workdir)
    assert p.returncode not in (0, None)
    assert str(missing) in p.stderr
    assert re.search(r"ENOENT|no such file|not found|does not exist", p.stderr, re.I), p.stderr
    assert "listening" not in p.stderr


@pytest.mark.parametrize("var,value,key", [
    ("AGENTD_LISTEN", "nonsense", "AGENTD_LISTEN"),
    ("AGENTD_MAX_BODY_BYTES", "lots", "AGENTD_MAX_BODY_BYTES"),
    ("AGENTD_LOG_LEVEL", "loud", "AGENTD_LOG_LEVEL"),
])
def test_bad_environment_value_is_refused(workdir, var, value, key):
    cfg = config_file(workdir)
    p = run_agentd(["--config", str(cfg)], env={var: value}, cwd=workdir)
    assert p.returncode not in (0, None)
    assert key in p.stderr and value in p.stderr, p.stderr
    assert "listening" not in p.stderr


# --------------------------------------------------------------------------- precedence

def test_environment_overrides_file(workdir, daemon_factory):
    file_port, env_port = free_port(), free_port()
    file_settings = {"listen": f"127.0.0.1:{file_port}",
                     "anthropic": {"max_message_chars": 123, "base_url": "http://file.invalid"}}
    env = {"AGENTD_LISTEN": f"127.0.0.1:{env_port}", "AGENTD_MAX_MESSAGE_CHARS": "456"}
    doc, _ = check_config(workdir, config_file(workdir, file_settings), env=env)
    assert doc["listen"] == env["AGENTD_LISTEN"]
    assert doc["anthropic"]["max_message_chars"] == 456
    assert doc["anthropic"]["base_url"] == "http://file.invalid"  # not overridden: the file's

    d = daemon_factory(settings=file_settings, env=env)
    assert d.port == env_port
    assert d.health()["anthropic"]["base_url"] == "http://file.invalid"


def test_dotenv_in_working_directory_is_read(workdir, daemon_factory):
    wd = workdir / "with-dotenv"
    wd.mkdir()
    dotenv = wd / ".env"
    dotenv.write_text(f"# test\nANTHROPIC_API_KEY={SECRET}\nANTHROPIC_BASE_URL=http://dotenv.invalid\n")
    dotenv.chmod(0o600)
    d = daemon_factory(workdir=wd)
    h = d.health()
    assert h["anthropic"]["api_key_configured"] is True
    assert h["anthropic"]["base_url"] == "http://dotenv.invalid"
    assert SECRET not in d.stderr


def test_real_environment_beats_dotenv(workdir):
    (workdir / ".env").write_text("ANTHROPIC_BASE_URL=http://dotenv.invalid\nAGENTD_MAX_MESSAGE_CHARS=77\n")
    (workdir / ".env").chmod(0o600)
    cfg = config_file(workdir)
    doc, _ = check_config(workdir, cfg, env={"ANTHROPIC_BASE_URL": "http://env.invalid"})
    assert doc["anthropic"]["base_url"] == "http://env.invalid"
    assert doc["anthropic"]["max_message_chars"] == 77  # .env still beats the file


def test_env_file_option(workdir):
    other = workdir / "other.env"
    other.write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    other.chmod(0o600)
    cfg = config_file(workdir)
    doc, _ = check_config(workdir, cfg)
    assert doc["anthropic"]["api_key"] == "(not set)"
    p = run_agentd(["--config", str(cfg), "--env-file", str(other), "--check-config"], cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["anthropic"]["api_key"] == "(set)"
    assert SECRET not in p.stdout + p.stderr
