"""A launcher (a session's supervisor) killed while it was killing its sandbox leaves the
sandbox's cgroup frozen: its processes cannot even die of their parent's death. The
next sweep (any launcher's start, the daemon's spawner) must thaw, kill and remove such
an orphan, whose owner is gone, and leave frozen cgroups of live owners alone."""

import os
import subprocess
import time

import pytest

import sandbox_util as su

CONTROLLERS = ("pids", "freezer", "memory", "cpu")


def _dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _frozen_cgroup(owner, mark):
    """agentd-<owner>-1 in every controller, a sleeping process in it, frozen."""
    dirs = []
    for c in CONTROLLERS:
        base = su.own_v1_dir(c)
        if base is None:
            pytest.skip(f"needs a cgroup v1 {c} hierarchy")
        d = base / f"agentd-{owner}-1"
        d.mkdir()
        dirs.append(d)
    sleeper = subprocess.Popen(["sleep", f"300.{mark}"])
    for d in dirs:
        (d / "cgroup.procs").write_text(str(sleeper.pid))
    freezer = dirs[CONTROLLERS.index("freezer")]
    (freezer / "freezer.state").write_text("FROZEN")
    assert su.poll(lambda: (freezer / "freezer.state").read_text().startswith("FROZEN"), 10)
    return dirs, sleeper


def _cleanup(dirs, sleeper):
    state = dirs[CONTROLLERS.index("freezer")] / "freezer.state"
    if state.exists():
        state.write_text("THAWED")
    sleeper.kill()
    sleeper.wait(10)
    for d in dirs:
        if d.exists():
            su.wait_gone(lambda: d.exists() and os.rmdir(d), 5)


def test_a_frozen_orphan_is_thawed_killed_and_removed():
    if not su.is_root():
        pytest.skip("needs root to make cgroups")
    mark = su.marker()
    dirs, sleeper = _frozen_cgroup(_dead_pid(), mark)
    try:
        made = time.monotonic()
        # the sweep takes a cgroup for a leftover once it is 2 s old (cgroup_end.c)
        assert su.poll(lambda: time.monotonic() - made > 2.2, 5, interval=0.1)
        su.run_ok(["true"])
        assert sleeper.wait(10) == -9, "the frozen orphan's process was not killed"
        assert not [d for d in dirs if d.exists()], "the frozen orphan's cgroups were not removed"
    finally:
        _cleanup(dirs, sleeper)


def test_a_frozen_cgroup_whose_owner_lives_is_left_alone():
    if not su.is_root():
        pytest.skip("needs root to make cgroups")
    mark = su.marker()
    owner = subprocess.Popen(["sleep", "300"])
    dirs, sleeper = _frozen_cgroup(owner.pid, mark)
    try:
        made = time.monotonic()
        assert su.poll(lambda: time.monotonic() - made > 2.2, 5, interval=0.1)
        su.run_ok(["true"])
        assert sleeper.poll() is None and all(d.exists() for d in dirs)
    finally:
        _cleanup(dirs, sleeper)
        owner.kill()
        owner.wait(10)
