"""make install into a staging directory: the files, the paths written into the unit and
the config, and an operator's config never overwritten."""
import json
import shutil
import subprocess

import pytest

from conftest import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make missing")
def test_install_stages_everything_and_keeps_an_existing_config(tmp_path):
    def install():
        return subprocess.run(["make", "-s", "--no-print-directory", "install", f"DESTDIR={tmp_path}",
                               "PREFIX=/usr", "SYSCONFDIR=/etc", "UNITDIR=/lib/systemd/system"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    p = install()
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "usr/bin/agentd").stat().st_mode & 0o111
    assert (tmp_path / "usr/share/agentd/static/index.html").is_file()
    unit = (tmp_path / "lib/systemd/system/agentd.service").read_text()
    assert "ExecStart=/usr/bin/agentd --config /etc/agentd/agentd.json" in unit
    assert "Delegate=yes" in unit and "Type=notify" in unit
    conf = tmp_path / "etc/agentd/agentd.json"
    assert json.loads(conf.read_text())["static_dir"] == "/usr/share/agentd/static"

    conf.write_text('{"listen": "127.0.0.1:9999"}\n')       # the operator's own
    p = install()
    assert p.returncode == 0, p.stderr
    assert "keeping existing" in p.stdout + p.stderr
    assert json.loads(conf.read_text()) == {"listen": "127.0.0.1:9999"}
    assert (tmp_path / "etc/agentd/agentd.json.new").is_file()
