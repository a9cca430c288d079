"""The policy from the config file: extra binds (read-only, read-write, refused ones),
the /usr overlay, the environment allow-list."""

import errno
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

import pytest

import sandbox_util as su

UID_BASE = 640000 + su.UID_SHIFT


@pytest.fixture
def bind_dirs():
    """A read-only source with a file, a read-write destination owned by the sandbox's
    host id (uid_count 1 makes it known), both reachable by that id: the sandbox opens
    its bind sources as that id, so they live outside pytest's private (0700) tmp_path."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="agentd-binds-"))
    try:
        ro, rw = base / "ro", base / "rw"
        ro.mkdir()
        rw.mkdir()
        (ro / "hello.txt").write_text("hello from the host\n")
        for d in (base, ro):
            d.chmod(0o755)
        if su.is_root():
            # owned by the sandbox's root: only the read-only mount can refuse a write
            for p in (ro, ro / "hello.txt", rw):
                os.chown(p, UID_BASE, UID_BASE)
        else:
            rw.chmod(0o777)
        yield ro, rw
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_binds_read_only_and_read_write(tmp_path, bind_dirs):
    ro, rw = bind_dirs
    cfg = su.write_config(tmp_path / "c.json", uid_base=UID_BASE, uid_count=1,
                          binds=[f"{ro}:/data", f"{rw}:/out:rw", f"{ro}/hello.txt:/workspace/hello.txt"])
    code = r"""
import json, os
res = {}
def attempt(name, fn):
    try:
        res[name] = fn()
    except OSError as e:
        res[name] = e.errno
attempt("read", lambda: open("/data/hello.txt").read())
attempt("read file bind", lambda: open("/workspace/hello.txt").read())
attempt("write ro", lambda: open("/data/new.txt", "w").write("x"))
attempt("append ro", lambda: open("/data/hello.txt", "a").write("x"))
attempt("write ro file bind", lambda: open("/workspace/hello.txt", "a").write("x"))
attempt("unlink ro", lambda: os.unlink("/data/hello.txt"))
attempt("mkdir ro", lambda: os.mkdir("/data/d"))
attempt("write rw", lambda: open("/out/made-inside.txt", "w").write("from the sandbox\n"))
attempt("mkdir rw", lambda: os.mkdir("/out/dir") or 0)
attempt("remount", lambda: os.system("mount -o remount,rw /data 2>/dev/null") and "failed")
with open("/proc/self/mountinfo") as f:
    res["mounts"] = [l.split()[4] + " " + l.split()[5] for l in f if l.split()[4] in ("/data", "/out", "/workspace/hello.txt")]
print(json.dumps(res))
"""
    res = su.py_json(code, config=cfg)
    assert res["read"] == "hello from the host\n"
    assert res["read file bind"] == "hello from the host\n"
    for k in ("write ro", "append ro", "write ro file bind", "unlink ro", "mkdir ro"):
        assert res[k] == errno.EROFS, (k, res[k])
    assert res["write rw"] == len("from the sandbox\n")
    assert res["remount"] == "failed"
    mounts = dict(m.split() for m in res["mounts"])
    assert mounts["/data"].startswith("ro,") and "nosuid" in mounts["/data"] and "nodev" in mounts["/data"]
    assert mounts["/out"].startswith("rw,") and "nosuid" in mounts["/out"] and "nodev" in mounts["/out"]
    assert mounts["/workspace/hello.txt"].startswith("ro,")
    # the host side
    made = rw / "made-inside.txt"
    assert made.read_text() == "from the sandbox\n"
    if su.is_root():
        assert (made.stat().st_uid, made.stat().st_gid) == (UID_BASE, UID_BASE)
    assert (rw / "dir").is_dir()
    assert sorted(p.name for p in ro.iterdir()) == ["hello.txt"]
    assert (ro / "hello.txt").read_text() == "hello from the host\n"


@pytest.mark.skipif(not su.is_root(), reason="mounts a tmpfs on the host")
def test_read_only_bind_covers_submounts(tmp_path, bind_dirs):
    """A mount below a read-only bind's source is read-only inside as well."""
    ro, _ = bind_dirs
    sub = ro / "sub"
    sub.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "agentd-test", str(sub)],
                       capture_output=True, timeout=10)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {m.stderr.decode().strip()}")
    try:
        cfg = su.write_config(tmp_path / "c.json", uid_base=UID_BASE, uid_count=1, binds=[f"{ro}:/data"])
        p = su.run(["sh", "-c", "ls -d /data/sub && echo x > /data/sub/f"], config=cfg)
        assert p.returncode != 0
        assert "Read-only file system" in p.stderr, p.stderr
        assert not (sub / "f").exists()
    finally:
        subprocess.run(["umount", "-l", str(sub)], timeout=10)


def test_sandbox_mounts_do_not_propagate_to_the_host(tmp_path, bind_dirs):
    """The sandbox's mount table is private: binds do not propagate back to the host."""
    ro, rw = bind_dirs
    before = su.mount_table()
    cfg = su.write_config(tmp_path / "c.json", uid_base=UID_BASE, uid_count=1, binds=[f"{ro}:/data", f"{rw}:/out:rw"])
    su.run_ok(["true"], config=cfg)
    assert su.mount_table() == before


@pytest.mark.parametrize("bind,why", [
    ("relative/dir:/data", "absolute"),
    ("/nonexistent-agentd-{u}:/data", "ENOENT"),
    ("{ro}:/proc/x", "/proc"),
    ("{ro}:/proc", "/proc"),
    ("{ro}:/usr/local/x", "/usr"),
    ("{ro}:/usr", "/usr"),
    ("{ro}:/etc/x", "/etc"),
    ("{ro}:/dev/x", "/dev"),
    ("{ro}:/bin", "/bin"),
    ("{ro}:/lib64/x", "/lib64"),
    ("{ro}:/", "/"),
    ("{ro}:/data/../usr", "normalised"),
    ("{ro}://usr", "normalised"),
    ("{ro}:data", "absolute"),
    ("{ro}", "SRC:DST"),
    ("{ro}:/data:rx", "ro or rw"),
    ("/dev/null:/data", "neither a directory nor a regular file"),
])
def test_bad_binds_are_refused(tmp_path, bind_dirs, bind, why):
    ro, _ = bind_dirs
    spec = bind.format(ro=ro, u=uuid.uuid4().hex)
    cfg = su.write_config(tmp_path / "c.json", binds=[spec])
    p = su.run(["true"], config=cfg)
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert spec in p.stderr, f"the message does not name the bind {spec!r}: {p.stderr}"
    assert why in p.stderr, p.stderr


def test_usr_overlay_is_writable_and_throw_away(tmp_path):
    name = f"agentd-test-{uuid.uuid4().hex}"
    cfg = su.write_config(tmp_path / "c.json", usr_overlay=True)
    host_listing = sorted(os.listdir("/usr/local"))
    p = su.run(["sh", "-c", f"echo inside > /usr/local/{name} && cat /usr/local/{name} && "
                f"mkdir -p /usr/local/lib/{name} && touch /usr/local/lib/{name}/x && "
                f"echo changed >> /usr/share/{name}.txt && grep -c ' /usr ' /proc/self/mountinfo"], config=cfg)
    try:
        assert p.returncode == 0, f"/usr is not writable under usr_overlay: {p.stderr}"
        assert p.stdout.split()[0] == "inside"
    finally:
        # the host's /usr is untouched whatever happened inside
        assert not os.path.lexists(f"/usr/local/{name}")
        assert not os.path.lexists(f"/usr/local/lib/{name}")
        assert not os.path.lexists(f"/usr/share/{name}.txt")
        assert sorted(os.listdir("/usr/local")) == host_listing
    # a second sandbox starts from the host's /usr again
    p = su.run(["sh", "-c", f"test -e /usr/local/{name} && echo present || echo absent"], config=cfg)
    assert p.stdout.strip() == "absent"


def test_usr_overlay_does_not_change_host_files(tmp_path):
    cfg = su.write_config(tmp_path / "c.json", usr_overlay=True)
    st = os.stat("/usr/bin/python3")
    with open("/usr/bin/python3", "rb") as f:
        head = f.read(4096)
    su.run(["sh", "-c", "printf x >> /usr/bin/python3; chmod 777 /usr/bin/python3; rm -f /usr/bin/python3"], config=cfg)
    st2 = os.stat("/usr/bin/python3")
    assert (st2.st_mode, st2.st_size, st2.st_mtime_ns) == (st.st_mode, st.st_size, st.st_mtime_ns)
    with open("/usr/bin/python3", "rb") as f:
        assert f.read(4096) == head


def test_usr_without_overlay_stays_read_only():
    p = su.run(["sh", "-c", "touch /usr/local/agentd-x"])
    assert p.returncode != 0
    assert "Read-only file system" in p.stderr


def test_env_allow_list(tmp_path):
    cfg = su.write_config(tmp_path / "c.json", env_allow=["AGENTD_TEST_ALLOWED", "TZ"])
    env = {"AGENTD_TEST_ALLOWED": "yes-" + uuid.uuid4().hex, "AGENTD_TEST_DENIED": "no-" + uuid.uuid4().hex,
           "LANG": "C.UTF-8", "TZ": "UTC", "SECRET_TOKEN": "tok-" + uuid.uuid4().hex}
    p = su.run(["env"], config=cfg, env=env)       # not python3: it adds LC_CTYPE itself (PEP 538)
    assert p.returncode == 0, p.stderr
    inside = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert inside["AGENTD_TEST_ALLOWED"] == env["AGENTD_TEST_ALLOWED"]
    assert inside["TZ"] == "UTC"
    for name in ("AGENTD_TEST_DENIED", "SECRET_TOKEN", "LANG"):   # LANG: not in this list
        assert name not in inside, f"{name} passed without being allowed"
    assert env["AGENTD_TEST_DENIED"] not in p.stdout and env["SECRET_TOKEN"] not in p.stdout
    assert set(inside) <= {"AGENTD_TEST_ALLOWED", "TZ", "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD"}, inside


def test_env_allow_cannot_be_changed_by_a_request():
    p = su.run(["true"], sets=["env_allow=SECRET_TOKEN"])
    assert p.returncode == 125


def test_dotenv_secrets_do_not_reach_the_sandbox(tmp_path):
    """The .env the launcher reads (the API key's usual place) stays outside."""
    key = "sk-ant-test-" + uuid.uuid4().hex
    (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={key}\nAGENTD_TEST_DOTENV=dotenv-{key}\n")
    p = su.run(["sh", "-c", "env; cat /proc/self/environ"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert key not in p.stdout and "ANTHROPIC_API_KEY" not in p.stdout
