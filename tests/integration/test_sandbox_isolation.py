"""What a command inside `agentd sandbox run` can see and do: capabilities, no_new_privs,
seccomp, the network, processes, ids, host name, the file system, the environment, file
descriptors, cgroups and IPC. Each claim is checked by trying to break it.

The network is judged from interfaces and routes, and from connections to 127.0.0.1
only: nothing here sends a packet to any address outside this machine.
"""

import ctypes
import errno
import json
import os
import pathlib
import socket
import stat
import subprocess
import uuid

import pytest

import sandbox_util as su

CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

# Inside the sandbox: attempt(name, fn) records 0 or the errno of the OSError in res.
ATTEMPT = """res = {}
def attempt(name, fn):
    try:
        fn(); res[name] = 0
    except OSError as e:
        res[name] = e.errno
"""


# ------------------------------------------------------------ privileges

def test_no_capabilities_no_new_privs_seccomp_in_every_process():
    """Every process in the sandbox (init, the shell, a Python child) has no capability
    at all, no_new_privs and a seccomp filter."""
    code = r"""
import json, os, subprocess
procs = {}
child = subprocess.Popen(["sleep", "300"])   # there while /proc is listed, killed after
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/status") as f:
                procs[d] = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            pass
child.kill(); child.wait()
print(json.dumps({p: {k: v.strip() for k, v in s.items()} for p, s in procs.items()}))
"""
    p = su.run(["sh", "-c", 'python3 -c "$1"; exit $?', "sh", code])
    assert p.returncode == 0, p.stderr
    procs = json.loads(p.stdout.strip().splitlines()[-1])
    assert "1" in procs, "init's status is not readable"
    assert len(procs) >= 4, procs.keys()     # init, sh, python3, sleep
    for pid, st in procs.items():
        for field in CAP_FIELDS:
            assert int(st[field], 16) == 0, f"pid {pid} ({st['Name']}): {field} = {st[field]}"
        assert st["NoNewPrivs"] == "1", f"pid {pid} ({st['Name']}): NoNewPrivs = {st['NoNewPrivs']}"
        assert st["Seccomp"] == "2", f"pid {pid} ({st['Name']}): Seccomp = {st['Seccomp']}"


def test_setuid_binary_gains_nothing():
    """A setuid-root binary of the host, run inside, changes nothing: the shell it
    starts still has no capability, and every mount is nosuid."""
    newgrp = "/usr/bin/newgrp"
    try:
        st = os.stat(newgrp)
    except FileNotFoundError:
        pytest.skip("no /usr/bin/newgrp on this host")
    if not st.st_mode & stat.S_ISUID:
        pytest.skip("/usr/bin/newgrp is not setuid on this host")
    # newgrp (setuid root) runs the login shell, which reads the script from stdin
    p = su.run(["sh", "-c", "echo 'cat /proc/self/status; id -u' | /usr/bin/newgrp"])
    assert p.returncode == 0, p.stderr
    status = su.parse_status(p.stdout)
    for field in CAP_FIELDS:
        assert int(status[field], 16) == 0, f"after a setuid exec: {field} = {status[field]}"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    # and every mount refuses setuid bits altogether
    p = su.run_ok(["cat", "/proc/self/mountinfo"])
    for line in p.stdout.splitlines():
        opts = line.split()[5].split(",")
        assert "nosuid" in opts, f"mount without nosuid: {line}"


def test_cannot_chown_to_unmapped_or_gain_ids():
    """Root inside holds one id only: setuid to any other id and chown to it fail."""
    code = r"""
import json, os, errno
""" + ATTEMPT + r"""open("/workspace/f", "w").close()
attempt("chown", lambda: os.chown("/workspace/f", 1000, 1000))
attempt("setgroups", lambda: os.setgroups([0, 1]))
if os.fork() == 0:
    try:
        os.setuid(1000); os._exit(0)
    except OSError as e:
        os._exit(e.errno)
_, st = os.wait()
res["setuid"] = os.WEXITSTATUS(st)
print(json.dumps(res))
"""
    res = su.py_json(code)
    assert res["chown"] in (errno.EPERM, errno.EINVAL), res
    assert res["setgroups"] == errno.EPERM, res
    assert res["setuid"] in (errno.EPERM, errno.EINVAL), res


# ------------------------------------------------------------ network

def test_only_loopback_and_no_route():
    code = r"""
import fcntl, json, socket, struct
with open("/proc/net/dev") as f:
    ifaces = [l.split(":")[0].strip() for l in f.read().splitlines()[2:] if ":" in l]
with open("/proc/net/route") as f:
    route = f.read().splitlines()
with open("/proc/net/ipv6_route") as f:
    route6 = [l.split() for l in f.read().splitlines()]
try:
    with open("/proc/net/if_inet6") as f:
        inet6 = [l.split() for l in f.read().splitlines()]
except FileNotFoundError:
    inet6 = []
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sH", b"lo", 0)))[1]
print(json.dumps({"ifaces": ifaces, "route": route, "route6": route6, "inet6": inet6,
                  "lo_flags": flags, "nameindex": [n for _, n in socket.if_nameindex()]}))
"""
    r = su.py_json(code)
    assert r["ifaces"] == ["lo"], r["ifaces"]
    assert r["nameindex"] == ["lo"], r["nameindex"]
    assert r["lo_flags"] & 0x1, f"lo is not up (flags {r['lo_flags']:#x})"        # IFF_UP
    # IPv4: the main table is empty, only the header line is there
    assert len(r["route"]) == 1 and r["route"][0].split()[0] == "Iface", r["route"]
    # IPv6: the kernel always lists its reject entries and, with lo up, the local
    # route of ::1; anything else (a default route, another destination or device)
    # would be a way out
    for fields in r["route6"]:
        dst, plen, flags, dev = fields[0], fields[1], int(fields[8], 16), fields[9]
        assert dev == "lo", fields
        reject = flags & 0x0200                                             # RTF_REJECT
        own_loopback = dst == "0" * 31 + "1" and plen == "80"              # ::1/128
        assert reject or own_loopback, f"an IPv6 route out of the sandbox: {fields}"
    for fields in r["inet6"]:
        assert fields[-1] == "lo" and fields[0] == "0" * 31 + "1", fields


def test_host_loopback_services_unreachable():
    """A TCP listener on the host's 127.0.0.1 and an abstract Unix socket on the host
    are not reachable: the sandbox has a loopback of its own."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    port = tcp.getsockname()[1]
    abstract = "\0agentd-test-" + uuid.uuid4().hex
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(abstract)
    unix.listen(8)
    try:
        code = r"""
import json, socket, sys
port, name = int(sys.argv[1]), "\0" + sys.argv[2]
res = {}
for key, fam, addr in (("tcp", socket.AF_INET, ("127.0.0.1", port)), ("unix", socket.AF_UNIX, name)):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr); res[key] = "connected"
    except OSError as e:
        res[key] = e.errno
print(json.dumps(res))
"""
        p = su.run(["python3", "-c", code, str(port), abstract[1:]])
        assert p.returncode == 0, p.stderr
        res = json.loads(p.stdout.strip().splitlines()[-1])
        assert res["tcp"] == errno.ECONNREFUSED, res
        assert res["unix"] == errno.ECONNREFUSED, res
    finally:
        tcp.close()
        unix.close()


# ------------------------------------------------------------ processes

def test_no_host_process_visible():
    mark = su.marker()
    host = subprocess.Popen(["sleep", f"300.{mark}"])
    try:
        code = r"""
import json, os, sys
procs = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        with open(f"/proc/{d}/cmdline", "rb") as f:
            procs[d] = f.read().replace(b"\0", b" ").decode()
res = {"procs": procs}
for pid in map(int, sys.argv[1:]):
    try:
        os.kill(pid, 0); res[str(pid)] = 0
    except OSError as e:
        res[str(pid)] = e.errno
print(json.dumps(res))
"""
        p = su.run(["python3", "-c", code, str(os.getpid()), str(host.pid), "1"])
        assert p.returncode == 0, p.stderr
        res = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        host.kill()
        host.wait()
    procs = res["procs"]
    # init (agentd) and python3: nothing else
    assert len(procs) == 2, procs
    assert procs["1"].startswith(os.path.basename(su.AGENTD_BIN)) or "agentd" in procs["1"], procs
    assert all(mark not in cmd for cmd in procs.values()), procs
    for pid in (os.getpid(), host.pid):
        if str(pid) not in procs:
            assert res[str(pid)] == errno.ESRCH, f"host pid {pid} reachable from inside: {res}"


# ------------------------------------------------------------ ids

def _maps(config=None):
    p = su.run_ok(["sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g; "
                   "cat /proc/self/setgroups"], config=config)
    uid_map, gid_map, rest = p.stdout.split("--\n")
    return [l.split() for l in uid_map.splitlines()], [l.split() for l in gid_map.splitlines()], rest.split()


def test_root_inside_maps_to_unprivileged_host_id(tmp_path):
    base = 610000 + su.UID_SHIFT
    cfg = su.write_config(tmp_path / "c.json", uid_base=base, uid_count=1000)
    uid_map, gid_map, rest = _maps(cfg)
    assert rest[:2] == ["0", "0"]
    assert rest[2] == "deny"
    for m in (uid_map, gid_map):
        assert len(m) == 1, m                      # one id, nothing else mapped
        inside, outside, count = map(int, m[0])
        assert (inside, count) == (0, 1)
        assert outside != 0
        if su.is_root():
            assert base <= outside < base + 1000, m
        else:
            assert outside in (os.geteuid(), os.getegid())


def test_default_uid_range():
    uid_map, gid_map, _ = _maps()
    outside = int(uid_map[0][1])
    assert outside != 0
    if su.is_root():
        assert 524288 <= outside < 524288 + 65536, uid_map


def test_host_sees_sandbox_processes_under_unprivileged_ids(tmp_path):
    """Seen from the host, every process of the sandbox (init included) has real,
    effective, saved and fs uids and gids of the mapped id, never 0."""
    mark = su.marker()
    cfg = su.write_config(tmp_path / "c.json", uid_base=620000 + su.UID_SHIFT, uid_count=100)
    with su.Launcher(["sh", "-c", f"sleep 300.{mark}; : {mark}"], config=cfg) as l:
        def sandbox_procs():
            found = set(su.processes_with(f"300.{mark}")) - {l.pid}
            # the sleep's command line carries the marker only once it is exec'd
            return found if any(su.processes_with(f"sleep 300.{mark}")) and len(found) >= 3 else None
        procs = su.poll(sandbox_procs, su.HOST_WAIT)
        assert procs, "the sandbox's processes did not show up"
        assert len(procs) == 3, procs        # init ("agentd sandbox-init sh ..."), sh, sleep
        # init is the launcher's child
        kids = [int(x) for x in pathlib.Path(f"/proc/{l.pid}/task/{l.pid}/children").read_text().split()]
        assert len(kids) == 1 and kids[0] in procs, (kids, procs)
        for pid in procs:
            st = su.parse_status(pathlib.Path(f"/proc/{pid}/status").read_text())
            uids, gids = st["Uid"].split(), st["Gid"].split()
            if su.is_root():
                assert all(620000 + su.UID_SHIFT <= int(u) < 620100 + su.UID_SHIFT for u in uids), (pid, uids)
                assert all(620000 + su.UID_SHIFT <= int(g) < 620100 + su.UID_SHIFT for g in gids), (pid, gids)
            assert "0" not in uids and "0" not in gids, (pid, uids, gids)
            assert int(st["CapEff"], 16) == 0, (pid, st["CapEff"])


# ------------------------------------------------------------ host name

def test_hostname_default_and_configured(tmp_path):
    before = socket.gethostname()
    p = su.run_ok(["sh", "-c", "hostname; cat /etc/hostname; cat /proc/sys/kernel/hostname"])
    assert p.stdout.split() == ["sandbox"] * 3
    p = su.run_ok(["sh", "-c", "hostname; cat /etc/hostname; cat /proc/sys/kernel/hostname"],
                  sets=["hostname=foo"])
    assert p.stdout.split() == ["foo"] * 3
    cfg = su.write_config(tmp_path / "c.json", hostname="cfg-box")
    p = su.run_ok(["sh", "-c", "hostname; grep -c cfg-box /etc/hosts"], config=cfg)
    assert p.stdout.split() == ["cfg-box", "1"]
    # setting it from inside fails, and the host's never changes
    p = su.run(["hostname", "evil"])
    assert p.returncode != 0
    assert socket.gethostname() == before


# ------------------------------------------------------------ file system

def test_system_dirs_root_and_etc_read_only():
    code = r"""
import errno, json, os
""" + ATTEMPT + r"""def create(path):
    return lambda: open(path, "x").close()
for path in ["/usr/agentd-probe", "/usr/bin/agentd-probe", "/usr/local/agentd-probe", "/bin/agentd-probe",
             "/sbin/agentd-probe", "/lib/agentd-probe", "/agentd-probe", "/etc/agentd-probe",
             "/etc/ssl/certs/agentd-probe", "/dev/agentd-probe", "/proc/agentd-probe"]:
    if os.path.isdir(os.path.dirname(path)):
        attempt("create " + path, create(path))
attempt("mkdir /usr/x", lambda: os.mkdir("/usr/x"))
attempt("mkdir /x", lambda: os.mkdir("/x"))
attempt("write /etc/passwd", lambda: open("/etc/passwd", "a").close())
attempt("write /etc/hostname", lambda: open("/etc/hostname", "w").close())
attempt("unlink /etc/hosts", lambda: os.unlink("/etc/hosts"))
attempt("rename /etc/group", lambda: os.rename("/etc/group", "/etc/group2"))
attempt("symlink /x", lambda: os.symlink("/workspace", "/x"))
attempt("chmod /etc/passwd", lambda: os.chmod("/etc/passwd", 0o666))
attempt("rmdir /workspace", lambda: os.rmdir("/workspace"))
# the host's files: not writable, not changeable, whatever the error
attempt("write /usr/bin/python3", lambda: open("/usr/bin/python3", "ab").close())
attempt("chmod /usr/bin/python3", lambda: os.chmod("/usr/bin/python3", 0o777))
attempt("utime /usr/bin/python3", lambda: os.utime("/usr/bin/python3"))
attempt("unlink /usr/bin/python3", lambda: os.unlink("/usr/bin/python3"))
# what is writable
attempt("create /workspace/ok", create("/workspace/ok"))
attempt("create /tmp/ok", create("/tmp/ok"))
attempt("create /dev/shm/ok", create("/dev/shm/ok"))
print(json.dumps(res))
"""
    host_stat = os.stat("/usr/bin/python3")
    res = su.py_json(code)
    erofs = {k: v for k, v in res.items() if not k.startswith(("create /workspace", "create /tmp", "create /dev/shm"))
             and "python3" not in k}
    assert "create /usr/agentd-probe" in erofs and "create /etc/agentd-probe" in erofs
    for name, err in erofs.items():
        if name == "create /proc/agentd-probe":
            assert err != 0, res
            continue
        assert err == errno.EROFS, f"{name}: {errno.errorcode.get(err, err)} instead of EROFS ({res})"
    for name in ("write", "chmod", "utime", "unlink"):
        err = res[f"{name} /usr/bin/python3"]
        assert err in (errno.EROFS, errno.EACCES, errno.EPERM), f"{name} /usr/bin/python3: {err}"
    assert res["create /workspace/ok"] == 0 and res["create /tmp/ok"] == 0 and res["create /dev/shm/ok"] == 0, res
    after = os.stat("/usr/bin/python3")
    assert (after.st_mode, after.st_mtime_ns, after.st_size) == (host_stat.st_mode, host_stat.st_mtime_ns,
                                                                 host_stat.st_size)


@pytest.fixture
def host_secrets(tmp_path):
    """Files holding a secret in places of the host outside the sandbox's binds."""
    secret = "agentd-secret-" + uuid.uuid4().hex
    name = "agentd-probe-" + uuid.uuid4().hex
    tmp_path.chmod(0o755)
    paths = [tmp_path / "secret.txt", pathlib.Path("/tmp") / name]
    if su.is_root():
        paths += [pathlib.Path("/root") / name, pathlib.Path("/etc") / name, pathlib.Path("/var/tmp") / name,
                  pathlib.Path("/var") / name]
    made = []
    try:
        for p in paths:
            try:
                p.write_text(secret + "\n")
                p.chmod(0o644)
                made.append(p)
            except OSError:
                pass
        yield secret, made
    finally:
        for p in made:
            p.unlink(missing_ok=True)


def test_host_files_cannot_be_read(host_secrets):
    secret, paths = host_secrets
    assert len(paths) >= 2
    code = r"""
import json, os, sys
res = {}
for path in sys.argv[1:]:
    for p in (path, "/proc/1/root" + path, "/proc/self/root" + path, "/proc/1/cwd/.." + path):
        try:
            with open(p) as f:
                res[p] = f.read()
        except OSError as e:
            res[p] = e.errno
    res["exists " + path] = os.path.lexists(path)
print(json.dumps(res))
"""
    p = su.run(["python3", "-c", code, *map(str, paths)])
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert secret not in p.stdout, res
    for path in map(str, paths):
        assert res["exists " + path] is False, f"{path} exists inside the sandbox"
        assert isinstance(res[path], int), f"{path} readable inside: {res[path]!r}"


def test_etc_is_minimal():
    p = su.run_ok(["sh", "-c", "ls -A /etc; echo --; ls -A /etc/ssl; echo --; cat /etc/passwd; echo --; "
                   "cat /etc/group; echo --; ls /etc/shadow /etc/machine-id /etc/gshadow /etc/sudoers 2>&1; true"])
    etc, ssl, passwd, group, missing = p.stdout.split("--\n")
    expected = {"passwd", "group", "hosts", "hostname", "resolv.conf", "nsswitch.conf", "ssl", "ld.so.cache",
                "alternatives"}
    assert set(etc.split()) <= expected, set(etc.split()) - expected
    assert {"passwd", "group", "hosts", "hostname", "resolv.conf", "nsswitch.conf"} <= set(etc.split())
    assert set(ssl.split()) <= {"certs"}
    users = [l.split(":")[0] for l in passwd.splitlines() if l]
    assert set(users) <= {"root", "nobody"}, users
    assert "root" in users
    assert set(l.split(":")[0] for l in group.splitlines() if l) <= {"root", "nogroup", "nobody"}
    for f in ("/etc/shadow", "/etc/machine-id", "/etc/gshadow", "/etc/sudoers"):
        assert f"{f}" in missing and "No such file" in missing, missing
    assert missing.count("No such file") == 4, missing


def test_dev_is_minimal():
    code = r"""
import json, os, stat
res = {"entries": sorted(os.listdir("/dev"))}
res["block"] = [n for n in res["entries"] if stat.S_ISBLK(os.lstat("/dev/" + n).st_mode)]
with open("/dev/zero", "rb") as f:
    res["zero"] = f.read(4).hex()
with open("/dev/null", "wb") as f:
    f.write(b"x")
try:
    with open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
    res["full"] = 0
except OSError as e:
    res["full"] = e.errno
for name in ("/dev/mem", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/console", "/sys", "/sys/fs/cgroup"):
    res[name] = os.path.lexists(name)
print(json.dumps(res))
"""
    r = su.py_json(code)
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin", "stdout",
               "stderr"}
    assert set(r["entries"]) <= allowed, set(r["entries"]) - allowed
    assert r["block"] == []
    assert r["zero"] == "00000000"
    assert r["full"] == errno.ENOSPC
    for name in ("/dev/mem", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/console", "/sys", "/sys/fs/cgroup"):
        assert r[name] is False, f"{name} exists inside"


def _expected_system_mounts():
    """(mount point, root) pairs the sandbox may show: its own file systems and the
    read-only system directories it binds."""
    # /, /dev, /tmp and /dev/shm are directories of one tmpfs (rootfs.c)
    own = {"/": "/rootfs", "/proc": "/", "/dev": "/rootfs/dev", "/dev/pts": "/", "/dev/shm": "/shm", "/tmp": "/tmp",
           "/workspace": "/"}
    binds = {}
    for d in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.isdir(d) and not os.path.islink(d):
            binds[d] = d
    for f in ("/etc/ssl/certs", "/etc/ld.so.cache", "/etc/alternatives"):
        if os.path.exists(f):
            binds[f] = f
    for d in ("null", "zero", "full", "random", "urandom", "tty"):
        binds[f"/dev/{d}"] = f"/{d}"
    return own, binds


def test_mountinfo_shows_no_host_paths_beyond_the_system_binds():
    p = su.run_ok(["cat", "/proc/self/mountinfo"])
    own, binds = _expected_system_mounts()
    seen = {}
    for line in p.stdout.splitlines():
        fields = line.split()
        root, mnt, opts = fields[3], fields[4], fields[5].split(",")
        fstype = fields[fields.index("-") + 1]
        seen[mnt] = (root, fstype, opts)
        if mnt in own:
            assert root == own[mnt] and fstype in ("tmpfs", "proc", "devpts"), line
            continue
        if mnt in binds:
            assert root == binds[mnt] or root.endswith(binds[mnt]), line
            assert "ro" in opts or mnt.startswith("/dev/"), f"a system bind is writable: {line}"
            continue
        # submounts of the host's /usr (and the like) come along with the recursive bind
        assert any(mnt.startswith(b + "/") for b in binds if not b.startswith("/dev/")), \
            f"unexpected mount {mnt!r} (root {root!r}): {line}"
        assert "ro" in opts, line
    assert set(own) <= set(seen), set(own) - set(seen)
    # every file system a sandbox mounts costs the kernel a slot in each memory cgroup's
    # shrinker state, host-wide (README, density): the root, /dev, /tmp and /dev/shm share one
    devs = {line.split()[4]: line.split()[2] for line in p.stdout.splitlines()}
    assert len({devs[m] for m in ("/", "/dev", "/tmp", "/dev/shm")}) == 1, devs
    assert seen["/"][2][0] == "ro", seen["/"]
    assert seen["/dev"][2][0] == "ro", seen["/dev"]
    # the host's own mounts are not there
    for host_only in ("/sys", "/sys/fs/cgroup", "/run", "/home", "/root", "/var", "/boot", "/work"):
        assert host_only not in seen


def test_environment_holds_nothing_of_the_launcher_but_the_allowed():
    env = {"SECRET_TOKEN": "tok-" + uuid.uuid4().hex, "ANTHROPIC_API_KEY": "sk-ant-test-" + uuid.uuid4().hex,
           "AWS_SECRET_ACCESS_KEY": "aws-" + uuid.uuid4().hex, "LANG": "C.UTF-8", "HOME": "/root",
           "LD_PRELOAD": "/nonexistent/evil.so"}
    code = r"""
import json, os
res = {"env": dict(os.environ)}
for pid in sorted(d for d in os.listdir("/proc") if d.isdigit()) + ["self"]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            res[pid] = f.read().decode("utf-8", "replace")
    except OSError as e:
        res[pid] = e.errno
try:
    with open("/proc/1/mem", "rb") as f:
        res["mem"] = "open"
except OSError as e:
    res["mem"] = e.errno
print(json.dumps(res))
"""
    p = su.run(["sh", "-c", 'env; python3 -c "$1"', "sh", code], env=env)
    assert p.returncode == 0, p.stderr
    for name in ("SECRET_TOKEN", "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "LD_PRELOAD"):
        assert env[name] not in p.stdout, f"{name} leaked into the sandbox:\n{p.stdout}"
        assert name not in p.stdout
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["env"]["LANG"] == "C.UTF-8"          # in the default env_allow
    assert res["env"]["HOME"] == "/workspace"
    assert "1" in res and "self" in res
    assert isinstance(res["self"], str) and "LANG=C.UTF-8" in res["self"]
    assert res["mem"] != "open", "init's memory (which holds the launcher's environment) is readable"


def test_launcher_file_descriptors_are_not_inherited(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("secret\n")
    fds = [os.open(str(secret), os.O_RDONLY), os.open("/", os.O_RDONLY | os.O_DIRECTORY),
           os.open("/etc", os.O_PATH)]
    try:
        p = su.run(["sh", "-c", "ls /proc/self/fd; echo --; python3 -c 'import os; print(sorted(os.listdir(\"/proc/self/fd\")))'"],
                   pass_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)
    assert p.returncode == 0, p.stderr
    ls_fds, py_fds = p.stdout.split("--\n")
    assert sorted(ls_fds.split(), key=int) == ["0", "1", "2", "3"], ls_fds     # 3: ls's own
    assert py_fds.strip() == "['0', '1', '2', '3']", py_fds


def test_cgroup_namespace_shows_root():
    p = su.run_ok(["sh", "-c", "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"])
    for line in p.stdout.splitlines():
        if line == "--":
            continue
        assert line.split(":", 2)[2] == "/", f"cgroup path of the host visible: {line}"


def test_ipc_namespace_hides_host_sysv_objects():
    libc = ctypes.CDLL(None, use_errno=True)
    IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
    shmid = libc.shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o666)
    msqid = libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o666)
    if shmid < 0 or msqid < 0:
        pytest.skip("cannot create System V IPC objects on the host")
    try:
        with open("/proc/sysvipc/shm") as f:
            assert any(l.split()[1] == str(shmid) for l in f.read().splitlines()[1:])
        p = su.run_ok(["sh", "-c", "tail -n +2 /proc/sysvipc/shm; tail -n +2 /proc/sysvipc/msg; echo end"])
        assert p.stdout.strip() == "end", f"host IPC objects visible:\n{p.stdout}"
    finally:
        libc.shmctl(shmid, IPC_RMID, None)
        libc.msgctl(msqid, IPC_RMID, None)


def test_init_is_out_of_reach():
    """PID 1 inside is agentd's init, a fresh exec of agentd that is not dumpable: the
    command can neither read its memory, its descriptors or its binary, nor kill it.
    Its /proc/1/fd may be listed (the directory belongs to the sandbox's root, as init's
    memory does since its exec), but not one of the links in it may be read or opened."""
    code = r"""
import json, os, signal
res = {}
links = {}
for n in os.listdir("/proc/1/fd"):
    for what, fn in (("readlink", os.readlink), ("open", lambda p: os.open(p, os.O_RDONLY)),
                     ("open-w", lambda p: os.open(p, os.O_WRONLY))):
        try:
            fn(f"/proc/1/fd/{n}")
            links[f"{n} {what}"] = "allowed"
        except OSError as e:
            links[f"{n} {what}"] = e.errno
res["fd links"] = links
for name in ("environ", "mem", "exe", "root", "cwd", "map_files", "auxv", "stack", "syscall"):
    p = f"/proc/1/{name}"
    try:
        if os.path.isdir(p) and not os.path.islink(p):
            os.listdir(p)
        elif name in ("exe", "root", "cwd"):
            os.readlink(p)
        else:
            open(p, "rb").read(16)
        res[name] = "readable"
    except OSError as e:
        res[name] = e.errno
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):
    try:
        os.kill(1, sig); res[f"kill {sig}"] = 0
    except OSError as e:
        res[f"kill {sig}"] = e.errno
# dropped, not queued for init to meet when it next runs (a loaded host may not run it
# for a while: "still alive" alone could be luck)
with open("/proc/1/status") as f:
    res["pending"] = [l.split()[1] for l in f if l.startswith(("SigPnd:", "ShdPnd:"))]
print(json.dumps(res))
"""
    p = su.run(["sh", "-c", 'python3 -c "$1"; sleep 0.2; echo alive', "sh", code])
    assert p.returncode == 0, (p.returncode, p.stderr)
    lines = p.stdout.strip().splitlines()
    assert lines[-1] == "alive"
    res = json.loads(lines[-2])
    assert res["pending"] and all(int(m, 16) == 0 for m in res["pending"]), res["pending"]
    for name in ("environ", "mem", "exe", "root", "cwd", "map_files", "auxv", "stack", "syscall"):
        assert res[name] in (errno.EACCES, errno.EPERM), f"/proc/1/{name}: {res[name]}"
    assert "3 open-w" in res["fd links"], res["fd links"]     # the report pipe is there...
    for link, outcome in res["fd links"].items():             # ...and out of reach
        assert outcome in (errno.EACCES, errno.EPERM), f"/proc/1/fd/{link}: {outcome}"


def test_orphans_are_reaped():
    # until the orphans have exited and nothing is a zombie (30 s at most: an init that
    # does not reap leaves the zombies there for good), then every process's state
    p = su.run(["sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.05 &) ; done; n=0; "
                "while [ $n -lt 600 ] && { pgrep -x sleep >/dev/null || "
                "grep -qh '^State:.*zombie' /proc/[0-9]*/status 2>/dev/null; }; do sleep 0.05; n=$((n+1)); done; "
                "grep -h '^State:' /proc/[0-9]*/status"])
    assert p.returncode == 0, p.stderr
    assert "zombie" not in p.stdout, p.stdout
