"""README.md documents every setting: its table is `agentd --help-config`, row for row."""
import os
import subprocess

from conftest import AGENTD_BIN, REPO


def test_readme_lists_every_setting_as_the_binary_describes_it():
    rows = subprocess.run([AGENTD_BIN, "--help-config"], capture_output=True, text=True,
                          check=True, timeout=10).stdout.splitlines()
    assert len(rows) > 10
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read().splitlines()
    missing = [r for r in rows if r not in readme]
    assert not missing, "README.md is out of date; paste `agentd --help-config`:\n" + "\n".join(missing)


def test_config_file_in_the_tree_sets_only_known_settings_and_is_valid():
    r = subprocess.run([AGENTD_BIN, "--check-config", "--config", os.path.join(REPO, "config", "agentd.json")],
                       capture_output=True, text=True, timeout=10, env={"PATH": os.environ["PATH"]})
    assert r.returncode == 0, r.stderr
