"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes the real agentd.

One agentd (a metrics token set; the local Messages API of tests/mock behind it) and one
Prometheus on a free loopback port, with a configuration made here: a 1 s scrape
interval, config/agentd-alerts.yml as its rules, and three jobs on the same agentd:
`agentd` with the right token (read from a file, as config/prometheus.yml does),
`agentd_wrong_token` with another token, `agentd_loopback` with none (agentd lets
loopback clients in). The tests ask Prometheus's HTTP API what it scraped:

- the right token and loopback are `up == 1`; the wrong token `up == 0`, the target's
  last error the 401 agentd answered;
- after a chat through agentd, agentd_api_requests_total of its model and outcome "ok"
  is what Prometheus sees;
- every alert rule evaluates on the scraped series without an error, and every query of
  the Grafana dashboard runs.

Prometheus is stopped at the end whatever happened (the fixture's finally)."""
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from chat_util import KEY, MODEL, MODELS, MockAnthropic, chat_env, chat_ok, chat_settings
from conftest import REPO, free_port, poll
from test_ops_config import as_promql, dashboard_exprs, load_dashboard

PROMETHEUS = "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                                reason="/usr/bin/prometheus is missing: `make deps` installs Debian's prometheus package")
WAIT = 60.0                 # Prometheus's start, its first scrapes, a rule evaluation
METRICS_TOKEN = "mt-" + secrets.token_hex(24)


def prometheus_config(target, token_file, wrong_token_file, rule_file):
    def job(name, token):
        j = {"job_name": name, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        if token is not None:
            j["authorization"] = {"type": "Bearer", "credentials_file": str(token)}
        return j
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "scrape_configs": [job("agentd", token_file), job("agentd_wrong_token", wrong_token_file),
                           job("agentd_loopback", None)],
    }


class Prometheus:
    """A Prometheus process on 127.0.0.1:port with config, its data in workdir."""

    def __init__(self, workdir, config):
        self.workdir = workdir
        self.port = free_port()
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        self.proc = None

    def start(self):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        ready = poll(self._ready, WAIT, interval=0.2)
        assert ready, f"Prometheus did not become ready within {WAIT}s:\n{self.log()}"
        return self

    def _ready(self):
        assert self.proc.poll() is None, f"Prometheus exited ({self.proc.returncode}):\n{self.log()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr):
        """The instant vector expr gives now: [(labels, float value)]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def wait_value(self, expr, want, timeout=WAIT):
        """Waits until expr has one series and its value is want; returns what it saw last."""
        seen = []

        def check():
            seen[:] = self.query(expr)
            return len(seen) == 1 and seen[0][1] == want
        if not poll(check, timeout, interval=0.25):
            raise AssertionError(f"{expr}: wanted one series of value {want} within {timeout}s, "
                                 f"Prometheus has {seen}; targets: {self.targets()}\nits log:\n{self.log()}")
        return seen[0]

    def targets(self):
        return [{k: t.get(k) for k in ("labels", "health", "lastError")}
                for t in self.api("targets")["activeTargets"]]


@pytest.fixture(scope="module")
def api_mock():
    with MockAnthropic(api_key=KEY, models=MODELS) as m:
        yield m


@pytest.fixture(scope="module")
def agentd(module_daemon_factory, api_mock):
    return module_daemon_factory(settings=chat_settings(),
                                 env=chat_env(api_mock, AGENTD_METRICS_TOKEN=METRICS_TOKEN))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, agentd):
    r = agentd.get("/metrics")
    assert r.status != 404, "agentd has no GET /metrics (it comes with issue 16's metrics work)"
    workdir = tmp_path_factory.mktemp("prometheus")
    token = workdir / "metrics.token"
    token.write_text(METRICS_TOKEN + "\n")
    wrong = workdir / "wrong.token"
    wrong.write_text("mt-" + secrets.token_hex(24) + "\n")
    for f in (token, wrong):
        f.chmod(0o600)
    p = Prometheus(workdir, prometheus_config(f"{agentd.host}:{agentd.port}", token, wrong,
                                              REPO / "config" / "agentd-alerts.yml"))
    try:
        p.start()
        p.wait_value('up{job="agentd"}', 1.0)
        yield p
    finally:
        p.stop()


def test_prometheus_scrapes_agentd_with_the_metrics_token(prometheus):
    labels, _ = prometheus.wait_value('up{job="agentd"}', 1.0)
    assert labels["instance"].startswith("127.0.0.1:"), labels
    build, = prometheus.query('agentd_build_info{job="agentd"}')
    assert build[1] == 1.0 and build[0].get("version"), build


def test_loopback_scrapes_need_no_token(prometheus):
    prometheus.wait_value('up{job="agentd_loopback"}', 1.0)


def test_a_wrong_token_is_refused_and_prometheus_records_the_401(prometheus):
    prometheus.wait_value('up{job="agentd_wrong_token"}', 0.0)
    target, = [t for t in prometheus.targets() if t["labels"]["job"] == "agentd_wrong_token"]
    assert target["health"] == "down" and "401" in (target["lastError"] or ""), target
    ok, = [t for t in prometheus.targets() if t["labels"]["job"] == "agentd"]
    assert ok["health"] == "up" and not ok["lastError"], ok


def test_a_chat_is_counted_and_prometheus_sees_it(prometheus, agentd, api_mock):
    expr = f'sum(agentd_api_requests_total{{job="agentd", model="{MODEL}", outcome="ok"}})'
    before = prometheus.query(expr)
    base = before[0][1] if before else 0.0
    api_mock.enqueue({"text": "Counted."})
    doc = chat_ok(agentd, "say something to be counted")
    assert doc["reply"] == "Counted." and doc["model_calls"] == 1, doc
    prometheus.wait_value(expr, base + 1.0)
    tokens = prometheus.query(f'sum(agentd_api_tokens_total{{job="agentd", model="{MODEL}"}})')
    assert tokens and tokens[0][1] > 0, tokens
    api_mock.assert_clean()


def test_every_alert_rule_evaluates_on_what_prometheus_scraped(prometheus):
    def rules():
        rs = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        # a rule not evaluated yet has the zero time
        return rs if rs and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rs) else None
    rs = poll(rules, WAIT, interval=0.25)
    assert rs, f"the rules were not all evaluated within {WAIT}s: {prometheus.api('rules')}"
    bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rs if r.get("health") != "ok"]
    assert not bad, bad
    with open(REPO / "config" / "agentd-alerts.yml", encoding="utf-8") as f:
        names = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}
    assert {r["name"] for r in rs} == names, [r["name"] for r in rs]
    firing = [a for a in prometheus.api("alerts")["alerts"] if a["labels"].get("job") == "agentd"]
    assert not firing, f"alerts on a healthy agentd: {firing}"


def test_every_dashboard_query_runs_on_what_prometheus_scraped(prometheus):
    errors = []
    for title, expr in dashboard_exprs(load_dashboard()):
        try:
            prometheus.query(as_promql(expr))
        except urllib.error.HTTPError as e:
            errors.append(f"{title}: {expr}: {e.code} {e.read()[:300]!r}")
    assert not errors, "\n".join(errors)
    # the job and instance variables find this agentd
    jobs = prometheus.api("label/job/values", **{"match[]": "agentd_build_info"})
    assert "agentd" in jobs, jobs
