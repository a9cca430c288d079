"""The listening address: IPv4, IPv6, a port already taken."""

import socket

import pytest

from conftest import base_settings, has_ipv6_loopback, make_static, run_agentd, write_config


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_ipv6_loopback(daemon_factory):
    d = daemon_factory(settings={"listen": "[::1]:0"})
    assert d.host == "::1"
    assert d.health()["status"]
    r = d.get("/nope")
    assert r.status == 404
    rec = d.wait_access("/nope")
    assert rec is not None and rec["status"] == 404 and rec["remote"] == "::1", rec


def test_ipv4_loopback_address_reported(daemon):
    assert daemon.host == "127.0.0.1"
    assert 0 < daemon.port < 65536


def test_port_in_use_fails_with_message(tmp_path):
    make_static(tmp_path / "static")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        settings = base_settings(tmp_path, tmp_path / "static")
        settings["listen"] = f"127.0.0.1:{port}"
        cfg = write_config(tmp_path, settings)
        p = run_agentd(["--config", str(cfg)], cwd=tmp_path, timeout=20)
    assert p.returncode == 1, p.stderr
    assert "listening on" not in p.stderr
    # which address, that it is in use, and how to choose another
    assert f"127.0.0.1:{port}" in p.stderr and "already in use" in p.stderr, p.stderr
    assert '"listen" setting' in p.stderr and "AGENTD_LISTEN" in p.stderr, p.stderr


def test_missing_static_dir_fails_at_start(tmp_path):
    settings = base_settings(tmp_path, tmp_path / "no-such-static")
    cfg = write_config(tmp_path, settings)
    p = run_agentd(["--config", str(cfg)], cwd=tmp_path, timeout=20)
    assert p.returncode == 1, p.stderr
    assert "static_dir" in p.stderr and "no-such-static" in p.stderr, p.stderr
    assert "listening on" not in p.stderr


def test_state_dir_is_created_private(daemon_factory, tmp_path):
    state = tmp_path / "deep" / "state"
    d = daemon_factory(settings={"state_dir": str(state)})
    assert state.is_dir()
    assert state.stat().st_mode & 0o077 == 0, oct(state.stat().st_mode)
    d.assert_serving()
