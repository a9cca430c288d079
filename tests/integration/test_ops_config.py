"""The monitoring files in config/ are valid and speak of what agentd exports.

- prometheus.yml passes `promtool check config` (copied to a temporary directory with a
  metrics token file of its own, since promtool checks that the credentials file exists);
- agentd-alerts.yml passes `promtool check rules`, and its unit tests
  (agentd-alerts.test.yml) pass `promtool test rules`; every alert has `for:`, a
  severity, a summary, a description and a runbook in SECURITY.md;
- grafana-dashboard.json is a dashboard Grafana can import: a `datasource` variable of
  type prometheus and no data source named by a fixed uid, every panel with a title and
  a query, every query valid PromQL (promtool checks it as a recording rule);
- every metric name the dashboard and the alerts use is one that agentd exports, as a
  live scrape of the real daemon's GET /metrics shows.

promtool comes with Debian's prometheus package (DEB_TEST in the Makefile)."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import AGENTD_BIN, REPO

CONFIG = REPO / "config"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
need_promtool = pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK),
                                   reason="promtool is missing: `make deps` installs Debian's prometheus package")
# Series that Prometheus makes itself for each target, not agentd.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "inf", "nan"}
# Grafana's variables, as the dashboard's queries use them, and what stands in for them
# when the queries are checked as PromQL.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                "$job": ".+", "$instance": ".+"}
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}


def promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def load_yaml(name):
    with open(CONFIG / name, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_dashboard():
    with open(CONFIG / "grafana-dashboard.json", encoding="utf-8") as f:
        return json.load(f)


def alert_rules():
    return [r for g in load_yaml("agentd-alerts.yml")["groups"] for r in g["rules"] if "alert" in r]


def dashboard_panels(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])          # a collapsed row holds its panels


def dashboard_exprs(dash):
    return [(p["title"], t["expr"]) for p in dashboard_panels(dash) for t in p.get("targets", [])]


def variable_queries(dash):
    """The metric selectors of the query variables (label_values(SELECTOR, label))."""
    out = []
    for v in dash["templating"]["list"]:
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+),\s*\w+\)", q.strip())
        assert m, f"variable {v['name']}: a query agentd's test cannot read: {q}"
        out.append((f"variable {v['name']}", m.group(1)))
    return out


def as_promql(expr):
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"a Grafana variable this test does not know in: {expr}"
    return expr


def metric_names(expr):
    """The metric names a PromQL expression selects (not functions, labels, keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)             # strings
    e = re.sub(r"#[^\n]*", " ", e)                            # comments
    e = re.sub(r"\{[^}]*\}", " ", e)                           # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                          # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        before = e[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":                  # 1e3, 0.5e-1
            continue
        if e[m.end():].lstrip().startswith("("):               # a function or aggregation
            continue
        if m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def exposition_names(text):
    """The series names an exposition (Prometheus text format) provides: each family its
    TYPE line declares (a histogram as _bucket, _sum, _count), and each sample's name."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            assert len(parts) == 4, f"bad TYPE line: {line!r}"
            name, kind = parts[2], parts[3]
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
            elif kind == "summary":
                names |= {name, name + "_sum", name + "_count"}
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
            assert m, f"bad sample line: {line!r}"
            names.add(m.group(0))
    return names


def security_queries():
    """The PromQL lines of SECURITY.md's ```promql blocks (the runbook's queries)."""
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    return [("SECURITY.md", ln.strip()) for block in re.findall(r"```promql\n(.*?)```", text, re.S)
            for ln in block.splitlines() if ln.strip()]


def names_used():
    """{metric name: [where it is used]} for the alerts and the dashboard."""
    used = {}
    for r in alert_rules():
        for n in metric_names(r["expr"]):
            used.setdefault(n, []).append(f"alert {r['alert']}")
    dash = load_dashboard()
    for where, expr in dashboard_exprs(dash) + variable_queries(dash) + security_queries():
        for n in metric_names(as_promql(expr)):
            used.setdefault(n, []).append(f"dashboard: {where}")
    return used


def missing_names(used, exported):
    return {n: w for n, w in sorted(used.items()) if n not in exported and n not in PROMETHEUS_OWN}


# --------------------------------------------------------------------------- Prometheus

@need_promtool
def test_prometheus_config_passes_promtool(tmp_path):
    cfg = load_yaml("prometheus.yml")
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    job = jobs["agentd"]
    assert job["metrics_path"] == "/metrics", job
    assert job["authorization"]["type"] == "Bearer", job
    creds = job["authorization"]["credentials_file"]
    assert os.path.isabs(creds), creds
    assert cfg["rule_files"] == ["agentd-alerts.yml"], cfg["rule_files"]

    # promtool wants the credentials file to exist: the copy names one of the test's
    token = tmp_path / "agentd-metrics.token"
    token.write_text("a-metrics-token\n")
    token.chmod(0o600)
    text = (CONFIG / "prometheus.yml").read_text(encoding="utf-8")
    assert text.count(creds) == 1, creds
    (tmp_path / "prometheus.yml").write_text(text.replace(creds, str(token)))
    shutil.copy(CONFIG / "agentd-alerts.yml", tmp_path / "agentd-alerts.yml")
    r = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout + r.stderr

    # and the check does look at the credentials file: without it, it fails
    token.unlink()
    r = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode != 0, r.stdout + r.stderr


@need_promtool
def test_alert_rules_pass_promtool():
    r = promtool("check", "rules", str(CONFIG / "agentd-alerts.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


@need_promtool
def test_alert_rules_unit_tests_pass():
    r = promtool("test", "rules", "agentd-alerts.test.yml", cwd=CONFIG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_every_alert_is_tested_and_tells_the_operator_where_to_look():
    security = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", security, re.M)}
    tests = load_yaml("agentd-alerts.test.yml")["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c.get("exp_alerts")}
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules), "two alerts of one name"
    for r in rules:
        name = r["alert"]
        assert "for" in r, f"{name}: no for:"
        assert r.get("labels", {}).get("severity") in ("critical", "warning", "info"), name
        ann = r.get("annotations", {})
        assert len(ann.get("summary", "")) > 20 and len(ann.get("description", "")) > 80, name
        runbook = ann.get("runbook", "")
        assert runbook.startswith("SECURITY.md#") and runbook.split("#", 1)[1] in anchors, \
            f"{name}: runbook {runbook!r} is not a section of SECURITY.md ({sorted(anchors)})"
        assert name in security, f"{name} is not explained in SECURITY.md"
        assert name in fired and name in quiet, f"{name}: agentd-alerts.test.yml must make it fire and not fire"


def github_anchor(heading):
    """The anchor GitHub makes for a Markdown heading."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


# --------------------------------------------------------------------------- Grafana

def test_dashboard_is_importable_and_every_panel_has_a_query():
    dash = load_dashboard()
    assert dash["title"] and dash["uid"], dash.get("title")
    assert 36 <= dash["schemaVersion"] <= 41, dash["schemaVersion"]
    assert "__inputs" not in dash and dash.get("id") is None, "an exported dashboard with its instance's ids"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables.get("datasource")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", ds

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "datasource":
                    assert v == DATASOURCE_REF or v == "${datasource}", \
                        f"{path}: a data source other than the variable: {v}"
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
    walk(dash, "dashboard")

    ids, cells = set(), set()
    for p in dashboard_panels(dash):
        assert p.get("title"), p
        assert p["id"] not in ids, f"panel id {p['id']} twice"
        ids.add(p["id"])
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] >= 1 and g["x"] + g["w"] <= 24, (p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another at {(x, y)}"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        targets = p.get("targets") or []
        assert targets, f"panel {p['title']!r} has no query"
        for t in targets:
            assert t.get("expr", "").strip(), f"panel {p['title']!r}: a target without expr"
            assert t.get("refId"), p["title"]
    # what the brief asked to see
    titles = " | ".join(p["title"].lower() for p in dashboard_panels(dash))
    for words in ("sessions by state", "sessions by pattern", "warm pool", "pool hits",
                  "sandbox start", "by outcome", "api latency", "tokens", "spend", "tool calls",
                  "tool latency", "http requests", "http errors", "egress", "oom kills", "memory",
                  "file descriptors", "threads"):
        assert words in titles, f"no panel about {words!r}: {titles}"


@need_promtool
def test_dashboard_and_runbook_queries_are_valid_promql(tmp_path):
    dash = load_dashboard()
    exprs = dashboard_exprs(dash) + [(w, e + " == 1") for w, e in variable_queries(dash)] + security_queries()
    assert len(security_queries()) >= 5, security_queries()
    rules = [{"record": f"dashboard:query_{i}", "expr": as_promql(e)} for i, (_, e) in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = promtool("check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(rules)} rules found" in r.stdout, r.stdout

    # and the same check refuses a broken query, so that the one above means something
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [
        {"record": "bad:q", "expr": "sum by (le (rate(agentd_tool_seconds_bucket[5m]))"}]}]}))
    assert promtool("check", "rules", str(bad)).returncode != 0


def test_metric_names_are_read_from_queries_as_promql_means_them():
    assert metric_names('sum by (job, instance) (rate(agentd_x_total{outcome!~"ok|b"}[5m])) > 0.2') == \
        {"agentd_x_total"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(a_bucket[10m]))) > 1e3") == {"a_bucket"}
    assert metric_names('x{a="b"} > 0 unless x{a="b"} offset 15m or on (job) group_left (v) y') == {"x", "y"}
    assert metric_names("time() - process_start_time_seconds{job=~\".+\"}") == {"process_start_time_seconds"}
    assert metric_names("sum by (kind) (rate(t_total[5m]))  # tokens by kind: input, output") == {"t_total"}
    text = ("# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\n"
            "# TYPE c counter\n# TYPE g gauge\ng 1\nprocess_threads 3\n")
    assert exposition_names(text) == {"h_bucket", "h_sum", "h_count", "c", "g", "process_threads"}
    assert missing_names({"up": ["x"], "c": ["y"], "nope": ["z"]}, exposition_names(text)) == {"nope": ["z"]}


# --------------------------------------------------------------------------- agentd's own

def test_every_metric_used_is_one_agentd_exports(daemon):
    """Needs agentd's GET /metrics (issue 16). A family must be declared (# TYPE) even
    while it has no sample yet (no sandbox failed, no OOM kill), or this test cannot tell
    a name agentd exports from a typo."""
    r = daemon.get("/metrics")
    assert r.status != 404, "agentd has no GET /metrics (it comes with issue 16's metrics work)"
    assert r.status == 200, f"GET /metrics from loopback: {r}"
    assert r.header("Content-Type", "").startswith("text/plain"), r
    text = r.body.decode("utf-8")
    exported = exposition_names(text)
    missing = missing_names(names_used(), exported)
    assert not missing, ("names used in config/ that agentd's /metrics does not export:\n" +
                         "\n".join(f"  {n}: {', '.join(sorted(set(w)))}" for n, w in missing.items()) +
                         "\nexported: " + " ".join(sorted(exported)))
    if os.access(PROMTOOL, os.X_OK):
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=60)
        assert "error while linting" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr


# --------------------------------------------------------------------------- SECURITY.md

def test_security_md_links_resolve_and_its_commands_exist():
    security = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    headings = lambda text: {github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for doc, text, targets in (("SECURITY.md", security, {"README.md": headings(readme), "": headings(security)}),
                               ("README.md", readme, {"SECURITY.md": headings(security)})):
        for page, anchor in re.findall(r"\]\(((?:README|SECURITY)\.md)?#([^)]+)\)", text):
            if page in targets:
                assert anchor in targets[page], f"{doc}: link to {page or doc}#{anchor}, no such section"
    # copied from a code block into a shell, an HTML comment would be a redirection
    for block in re.findall(r"```.*?```", security, re.S):
        assert "<!--" not in block, block
    token_help = subprocess.run([AGENTD_BIN, "token", "--help"], capture_output=True, text=True, timeout=10)
    api_help = subprocess.run([AGENTD_BIN, "check-api", "--help"], capture_output=True, text=True, timeout=10)
    for words in ("agentd token list", "agentd token remove NAME"):
        assert words in token_help.stdout + token_help.stderr
    assert "--env-file FILE" in api_help.stdout + api_help.stderr
    assert "agentd token remove alice" in security and "agentd check-api --env-file" in security
