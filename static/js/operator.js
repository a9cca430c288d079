// The operator's view, for an admin token (GET /api/whoami says "admin": true): every
// session on the host with its owner, state, age, resources and cost (GET
// /api/admin/sessions), refreshed while the view is shown; a session's command history
// when it is chosen; Kill and Suspend; the host's health and warm pool (GET /api/health).

import { api } from "./api.js";
import { $, h } from "./dom.js";
import * as fmt from "./format.js";

const REFRESH_MS = 4000;
const adminPath = (id, rest = "") => `/api/admin/sessions/${encodeURIComponent(id)}${rest}`;
const nameOf = (s) => s.title || s.id;

function uptime(s) {
  if (s === undefined || s === null) return "–";
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), min = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${hr} h` : hr ? `${hr} h ${min} min` : `${min} min ${Math.floor(s % 60)} s`;
}

const age = (s) => uptime(s).replace(/ \d+ s$/, "") || "0 min";

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
}

// One line of a session's history: what ran, and how it ended.
function outcome(e) {
  if (e.is_error === null || e.is_error === undefined) return "running";
  if (e.exit_status !== null && e.exit_status !== undefined) return `exit ${e.exit_status}`;
  return e.is_error ? "error" : "ok";
}

function inputText(e) {
  const i = e.input;
  if (!i) return "";
  if (typeof i.command === "string") return i.command;
  if (typeof i.path === "string") return `${i.command || ""} ${i.path}`.trim();
  return JSON.stringify(i);
}

export class Operator {
  constructor() {
    this.section = $("operator");
    this.rows = new Map(); // session id -> its <tr>
    this.sessions = new Map();
    this.selected = null;
    this.timer = null;
    this.admin = false;
    $("toggle-operator").addEventListener("click", () => this.toggle(!this.shown));
    $("operator-close").addEventListener("click", () => this.toggle(false));
    $("op-kill").addEventListener("click", () => this.kill());
    $("op-suspend").addEventListener("click", () => this.suspend());
    document.addEventListener("visibilitychange", () => this.schedule());
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.shown && !document.querySelector("dialog[open]")) this.toggle(false);
    });
  }

  get shown() { return document.body.classList.contains("show-operator"); }

  // Whether the token in use is an admin's: the view is offered only then.
  async check() {
    let me = null;
    try { me = await api("GET", "/api/whoami"); } catch { me = null; }
    this.admin = !!me?.admin;
    $("toggle-operator").hidden = !this.admin;
    if (!this.admin) this.toggle(false);
  }

  toggle(open) {
    open = open && this.admin;
    document.body.classList.toggle("show-operator", open);
    this.section.hidden = !open;
    $("toggle-operator").setAttribute("aria-expanded", String(open));
    this.schedule();
    if (open) {
      this.refresh();
      $("operator-title").focus();
    } else if (document.activeElement === document.body || this.section.contains(document.activeElement)) {
      $("toggle-operator").focus();
    }
  }

  // Refreshes itself every few seconds while shown and the page is visible; not otherwise.
  schedule() {
    const want = this.shown && !document.hidden;
    if (want && !this.timer) this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    if (!want && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.section.dataset.refreshing = want ? "1" : "0";
  }

  async refresh() {
    try {
      const [list, hl] = await Promise.all([api("GET", "/api/admin/sessions"), api("GET", "/api/health")]);
      if (!this.shown) return;
      this.showHost(hl);
      this.showSessions(list);
      if (this.selected) await this.showDetail();
    } catch (err) {
      if (err.status === 403) return this.check();
      this.note(`The host's sessions could not be read: ${err.message}`);
    }
  }

  note(text) { $("op-note").textContent = text; }

  showHost(hl) {
    const p = hl.sessions?.pool || {};
    const ws = hl.workspaces || {};
    facts($("host-health"), [
      ["Status", hl.status || "–"],
      ["Version", hl.version || "–"],
      ["Up for", uptime(hl.uptime_s)],
      ["Sessions alive", String(hl.sessions?.alive ?? "–")],
      ["Warm pool", `${p.ready ?? 0} ready of ${p.size ?? 0} · ${p.hits ?? 0} hits, ${p.misses ?? 0} misses`],
      ["Workspaces", `${ws.store || "–"} · ${fmt.bytes(ws.disk_bytes ?? 0)} in ${fmt.plural(ws.disk_files ?? 0, "file")}`],
    ]);
  }

  showSessions(list) {
    const all = list.sessions || [];
    const seen = new Set();
    const body = $("op-rows");
    all.sort((a, b) => (b.last_active || 0) - (a.last_active || 0));
    for (const s of all) {
      seen.add(s.id);
      this.sessions.set(s.id, s);
      let tr = this.rows.get(s.id);
      if (!tr) this.rows.set(s.id, (tr = this.row(s)));
      this.fill(tr, s);
      body.append(tr); // in order; a row that is there moves, keeping its focus
    }
    for (const [id, tr] of this.rows) {
      if (seen.has(id)) continue;
      tr.remove();
      this.rows.delete(id);
      this.sessions.delete(id);
      if (this.selected === id) this.select(null);
    }
    $("op-empty").hidden = all.length > 0;
    const t = list.totals || {};
    const states = Object.entries(t.by_state || {}).map(([k, n]) => `${n} ${k}`).join(", ");
    $("op-totals").textContent = `${fmt.plural(t.sessions ?? all.length, "session")}` +
      `${states ? ` (${states})` : ""} · ${fmt.cost(t.cost_usd ?? 0)} in all`;
  }

  row(s) {
    const open = h("button", { type: "button", class: "op-open", onclick: () => this.select(s.id) });
    return h("tr", { dataset: { sessionId: s.id } },
      h("th", { scope: "row" }, open),
      ...["owner", "state", "age", "memory", "cpu", "disk", "cost"].map((c) => h("td", { class: `op-${c}` })));
  }

  fill(tr, s) {
    const r = s.resources || {};
    const open = tr.querySelector(".op-open");
    open.textContent = nameOf(s);
    open.title = `${s.id} (${s.pattern})`;
    const cells = {
      owner: s.owner, state: s.state, age: age(s.age_s),
      memory: r.memory_bytes !== undefined ? fmt.bytes(r.memory_bytes) : "–",
      cpu: r.cpu_seconds !== undefined && r.cpu_seconds !== null ? `${r.cpu_seconds.toFixed(2)} s` : "–",
      disk: r.disk_bytes !== undefined ? fmt.bytes(r.disk_bytes) : "–",
      cost: fmt.cost(s.cost_usd ?? 0),
    };
    for (const [c, v] of Object.entries(cells)) {
      const td = tr.querySelector(`.op-${c}`);
      if (td.textContent !== v) td.textContent = v;
    }
    tr.dataset.state = s.state;
    if (s.id === this.selected) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }

  select(id) {
    this.selected = id;
    for (const [sid, tr] of this.rows) {
      if (sid === id) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
    $("op-detail").hidden = !id;
    if (id) this.showDetail();
  }

  async showDetail() {
    const id = this.selected;
    const s = this.sessions.get(id);
    if (!s) return;
    $("op-detail-title").textContent = `${nameOf(s)} · ${s.owner}`;
    $("op-detail-meta").textContent = `${s.id} · ${s.pattern} · ${s.state} · ${fmt.plural(s.turns || 0, "turn")} · ` +
      `${fmt.usage(s.usage, s.cost_usd)}`;
    $("op-kill").setAttribute("aria-label", `Kill ${nameOf(s)} of ${s.owner}`);
    $("op-suspend").setAttribute("aria-label", `Suspend ${nameOf(s)} of ${s.owner}`);
    $("op-suspend").disabled = s.pattern !== "hybrid" || !["idle", "ready"].includes(s.state);
    let hist;
    try {
      hist = await api("GET", adminPath(id, "/history"));
    } catch (err) {
      if (err.status === 404) return;   // ended meanwhile: the next list takes it out
      this.note(`The history of ${nameOf(s)} could not be read: ${err.message}`);
      return;
    }
    if (id !== this.selected) return;
    const entries = (hist.history || []).slice().reverse();
    $("op-history-rows").replaceChildren(...entries.map((e) => h("tr", {},
      h("td", { text: new Date(e.time * 1000).toLocaleTimeString() }),
      h("td", { text: e.tool }),
      h("td", {}, h("code", { text: inputText(e) })),
      h("td", { class: e.is_error ? "error" : "", text: outcome(e) }),
      h("td", { text: fmt.duration(e.duration_ms) }))));
    $("op-history-empty").hidden = entries.length > 0;
  }

  async kill() {
    const s = this.sessions.get(this.selected);
    if (!s) return;
    if (!confirm(`Kill “${nameOf(s)}” of ${s.owner}? Its sandbox, files and conversation are destroyed.`)) return;
    try {
      await api("DELETE", adminPath(s.id));
      this.note(`${nameOf(s)} of ${s.owner} was killed.`);
    } catch (err) {
      this.note(`${nameOf(s)} could not be killed: ${err.message}`);
    }
    $("op-kill").blur();
    $("operator-title").focus();
    await this.refresh();
  }

  async suspend() {
    const s = this.sessions.get(this.selected);
    if (!s) return;
    this.note(`Suspending ${nameOf(s)}…`);
    try {
      await api("POST", adminPath(s.id, "/suspend"));
      this.note(`${nameOf(s)} of ${s.owner} is suspended: its workspace is kept, its next message brings it back.`);
    } catch (err) {
      this.note(`${nameOf(s)} could not be suspended: ${err.message}`);
    }
    await this.refresh();
  }
}
