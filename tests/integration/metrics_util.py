"""Reading agentd's GET /metrics in tests: the text format parsed into samples, a
family's series, and the difference between two scrapes (what moved, by how much)."""

import re
import subprocess
import shutil

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, frozenset of (label, value)): value} of every sample; comments checked
    loosely (promtool checks the format itself)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset((k, unescape(v)) for k, v in LABEL.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in out, f"a sample twice: {line!r}"
        out[key] = float(m.group(4))
    return out


def scrape(d, headers=None):
    r = d.get("/metrics", headers=headers or {})
    assert r.status == 200, r
    assert r.header("Content-Type", "").startswith("text/plain; version=0.0.4"), r
    return r.body.decode()


def value(samples, name, **labels):
    """The sample's value, 0 when it is not there (a counter not yet moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples, name):
    """The label sets of a family's samples."""
    return [dict(k[1]) for k in samples if k[0] == name]


def moved(before, after):
    """{key: delta} of every sample that changed between two scrapes."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys if after.get(k, 0.0) != before.get(k, 0.0)}


def promtool_check(text):
    """promtool check metrics: the format and Prometheus' naming rules; its complaints,
    or "" when it has none."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make deps` installs Debian's prometheus package"
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    return (p.stdout + p.stderr).decode().strip() if p.returncode != 0 or p.stdout or p.stderr else ""
