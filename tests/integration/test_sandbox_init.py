"""The sandbox's PID 1: the small static init (src/sandbox/tiny_init) that agentd runs
from a sealed memfd. It reaps orphans, passes the command's status on, holds nothing of
the launcher, and neither the sandbox nor anyone on the host can change its program.
Exit codes 126/127 and the launcher's environment are covered in test_sandbox_limits.py
and test_sandbox_isolation.py; the built-in agent it starts, in test_chat.py."""

import errno
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import sandbox_util as su

ALL_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def test_init_reaps_orphans():
    """A grandchild whose parent is gone becomes init's; when it exits, init must reap
    it, or it stays a zombie for as long as the sandbox lives. The command waits for
    its entry in /proc to go (a long deadline only against a hang)."""
    code = r"""
import os, time
r, w = os.pipe()
out_r, out_w = os.pipe()
child = os.fork()
if child == 0:
    g = os.fork()
    if g == 0:
        os.close(w)
        os.read(r, 1)            # EOF once its parent (holding w) has exited
        os._exit(0)
    os.write(out_w, str(g).encode())
    os._exit(0)
os.close(w); os.close(out_w)
grandchild = int(os.read(out_r, 32))
os.waitpid(child, 0)
deadline = time.monotonic() + 60
state = "?"
while time.monotonic() < deadline:
    try:
        with open(f"/proc/{grandchild}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
    except (FileNotFoundError, ProcessLookupError):     # gone while being read: ESRCH
        print("reaped"); break
    time.sleep(0.01)
else:
    print(f"not reaped: state {state}")
"""
    p = su.py(code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "reaped", p.stdout


def test_init_is_a_small_program_from_a_sealed_memfd():
    """Seen from the host, PID 1 of a running sandbox executes a memfd (not agentd's
    binary), sealed against writes, and that not even host root can open for writing."""
    proc = subprocess.Popen(su.sandbox_args(["sleep", "60"]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=su.clean_env(None))
    try:
        init = su.poll(lambda: next(iter(su.children(proc.pid)), None), 30)
        assert init and su.poll(lambda: su.children(init), 30), "the sandbox's command did not start"
        exe = os.readlink(f"/proc/{init}/exe")
        assert exe.startswith("/memfd:agentd-init"), exe
        with open(f"/proc/{init}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:3] == [b"agentd", b"sandbox-init", b"sleep"]
        fd = os.open(f"/proc/{init}/exe", os.O_RDONLY)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & ALL_SEALS == ALL_SEALS
            assert os.fstat(fd).st_size < 64 * 1024, "init is not the small program"
        finally:
            os.close(fd)
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            try:
                os.close(os.open(f"/proc/{init}/exe", flags))
                raise AssertionError(f"init's program opened for writing ({flags:#o})")
            except OSError as e:
                assert e.errno in (errno.ETXTBSY, errno.EPERM, errno.EACCES), e
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_init_program_is_out_of_reach_inside():
    """Inside, init's program can be neither read nor opened for writing through
    /proc/1/exe or /proc/1/map_files, and no descriptor of it is left to the command."""
    code = r"""
import json, os
res = {}
def attempt(name, fn):
    try:
        fn(); res[name] = "allowed"
    except OSError as e:
        res[name] = e.errno
attempt("exe read", lambda: os.close(os.open("/proc/1/exe", os.O_RDONLY)))
attempt("exe write", lambda: os.close(os.open("/proc/1/exe", os.O_WRONLY)))
attempt("exe readlink", lambda: os.readlink("/proc/1/exe"))
attempt("map_files", lambda: os.listdir("/proc/1/map_files"))
attempt("maps", lambda: open("/proc/1/maps").read())
res["own fds"] = sorted(os.listdir("/proc/self/fd"), key=int)
links = {}
for n in os.listdir("/proc/self/fd"):
    try:
        links[n] = os.readlink(f"/proc/self/fd/{n}")
    except OSError:
        pass                     # the listing's own descriptor, closed by now
res["memfds"] = [l for l in links.values() if "memfd" in l]
print(json.dumps(res))
"""
    p = su.py(code)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    for k in ("exe read", "exe write", "exe readlink", "map_files", "maps"):
        assert res[k] != "allowed", f"/proc/1: {k} allowed: {res}"
    assert res["memfds"] == [], res
    assert res["own fds"] == ["0", "1", "2", "3"], res      # 3: the listing's own


def test_exit_status_and_signal_pass_through_init():
    p = su.run(["sh", "-c", "exit 42"])
    assert p.returncode == 42, p.stderr
    p = su.run(["sh", "-c", "kill -USR1 $$"])
    assert p.returncode == 128 + 10, p.stderr


def test_a_script_without_interpreter_line_runs_with_sh(tmp_path, request):
    """As execvp does: an executable file that is no binary and has no #! line
    (ENOEXEC) is run by /bin/sh, with its arguments."""
    # the sandbox opens bind sources as its own host id: outside pytest's 0700 tmp_path
    bin_dir = pathlib.Path(tempfile.mkdtemp(prefix="agentd-init-"))
    script = bin_dir / "agentd-test-script"
    script.write_text('echo "via-sh $0 $1"\n')
    os.chmod(bin_dir, 0o755)
    os.chmod(script, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(bin_dir, ignore_errors=True))
    config = su.write_config(tmp_path / "c.json", binds=[f"{bin_dir}:/opt/scripts"])
    p = su.run(["/opt/scripts/agentd-test-script", "x"], config=config)
    assert p.returncode == 0 and p.stdout.strip() == "via-sh /opt/scripts/agentd-test-script x", \
        (p.returncode, p.stdout, p.stderr)
