"""config/agentd.service passes systemd-analyze verify."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import AGENTD_BIN, REPO

UNIT = REPO / "config" / "agentd.service"

pytestmark = pytest.mark.skipif(not UNIT.exists(), reason="config/agentd.service does not exist yet")


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    return settings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path):
    text = UNIT.read_text()
    # The unit names the installed binary; before `make install` it is not there and
    # verify would only complain about that. Point it at the binary under test instead.
    def use_built(m):
        exe = m.group(2)
        return m.group(1) + (exe if os.path.exists(exe) else os.path.abspath(AGENTD_BIN))
    text = re.sub(r"^(ExecStart=[-@:+!]*)(\S+)", use_built, text, flags=re.M)
    unit = tmp_path / "agentd.service"
    unit.write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    # verify also reports on other units it loads (the host's own); only ours count
    ours = [l for l in (p.stdout + p.stderr).splitlines() if "agentd" in l]
    assert not ours, "\n".join(ours)
    assert p.returncode == 0, f"systemd-analyze verify exited {p.returncode}:\n{p.stdout}{p.stderr}"


def test_unit_essentials():
    s = unit_settings(UNIT.read_text())
    assert s.get("Type") == ["notify"], s.get("Type")
    delegate = s.get("Delegate", ["no"])[-1]
    assert delegate not in ("no", "false", "0", "off"), "Delegate= is needed for per-session cgroups"
    assert s.get("User", ["root"])[-1] != "root" or s.get("DynamicUser", ["no"])[-1] in ("yes", "true", "1", "on"), \
        "agentd must run as a dedicated unprivileged user"
    assert "StateDirectory" in s
    exec_start = s.get("ExecStart", [""])[-1].split()
    assert exec_start and os.path.basename(exec_start[0].lstrip("-@:+!")) == "agentd", exec_start
    # user namespaces must stay possible
    assert s.get("RestrictNamespaces", ["no"])[-1] not in ("yes", "true", "1", "on"), s.get("RestrictNamespaces")
