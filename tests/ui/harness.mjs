// The harness of the chat page's browser tests.
//
// Each test gets its own world: the Messages API mock (tests/mock/anthropic_server.py in
// script mode, scripted through its /_mock/ control endpoints), the real agentd binary
// (AGENTD_BIN, default ./agentd) with its own state directory, a port it picks itself and
// sandbox uids of the UI tests' own range, and Debian's Chromium (/usr/bin/chromium)
// driven by playwright-core with a fresh profile. The harness records every console error,
// every uncaught page error and every request to another host than the daemon's; at the
// end it stops everything, and the test fails on any of those, on a daemon that does not
// exit 0 (or leaves a sanitizer report), and on a mock that saw a protocol violation.
//
// Nothing here waits for a fixed time: every wait is for a condition, polled up to a
// generous deadline (60 s by default: the ASan build is slow and the machine is shared).

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");
export const AGENTD_BIN = path.resolve(REPO, process.env.AGENTD_BIN || "./agentd");
export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
// the page under test; another directory (a deliberately broken copy) shows that a test can fail
export const STATIC_DIR = path.resolve(REPO, process.env.UI_STATIC_DIR || "static");
export const SCREENSHOTS = path.join(HERE, "screenshots");
export const DOCS_SCREENSHOT = "chat.png";
export const TIMEOUT = Number(process.env.UI_TEST_TIMEOUT_MS || 60_000);
export const TEST_TIMEOUT = 5 * 60_000;
export const MODEL = "claude-test";
export const UID_BASE = 975000 + Number(process.env.AGENTD_TEST_UID_SHIFT || 0);
export const UID_COUNT = 1000;

const SANITIZER_MARKERS = ["ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"];
const PASSTHROUGH_ENV = ["ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH"];
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// ------------------------------------------------------------------ waiting

/** fn() until it returns something truthy (returned), or fail at the deadline saying
 *  what was awaited and, from describe(), what was seen last. */
export async function waitFor(fn, { timeout = TIMEOUT, what = "a condition", describe } = {}) {
  const deadline = Date.now() + timeout;
  let delay = 10;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      let seen = "";
      if (describe) {
        try { seen = `; last seen: ${await describe()}`; } catch (e) { seen = `; (describe failed: ${e})`; }
      }
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${seen}` +
        (lastError ? `; last error: ${lastError.stack || lastError}` : ""));
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** A locator's text until it matches re (a RegExp or a string it must contain). */
export async function waitText(locator, re, { how = "innerText", ...opts } = {}) {
  // innerText is the text as shown; textContent also inside a closed <details>
  const test_ = typeof re === "string" ? (t) => t.includes(re) : (t) => re.test(t);
  return waitFor(async () => {
    const n = await locator.count();
    if (n === 0) return false;
    const t = how === "textContent" ? await locator.first().textContent({ timeout: 5000 })
      : await locator.first().innerText({ timeout: 5000 });
    return test_(t) ? t : false;
  }, { what: `${locator} to show ${re}`, describe: () => describeLocator(locator), ...opts });
}

/** A locator's count until it is n. */
export async function waitCount(locator, n, opts = {}) {
  return waitFor(async () => (await locator.count()) === n,
    { what: `${locator} to match ${n} element(s)`, describe: async () => `${await locator.count()} element(s)`, ...opts });
}

async function describeLocator(locator) {
  const n = await locator.count();
  if (n === 0) return "no such element";
  const t = await locator.first().innerText({ timeout: 1000 }).catch((e) => `(innerText failed: ${e.message})`);
  return `${n} element(s), the first's text: ${JSON.stringify(t.slice(0, 600))}`;
}

// ------------------------------------------------------------------ processes

function lineReader(stream, onLine) {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on("end", () => { if (buf) onLine(buf); });
}

class Proc {
  constructor(name, argv, options) {
    this.name = name;
    this.lines = [];
    this.exit = null;
    this.child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], ...options });
    this.exited = once(this.child, "exit").then(([code, signal]) => { this.exit = { code, signal }; return this.exit; });
    // the child's own output, both streams, for messages and for waiting on a line
    lineReader(this.child.stdout, (l) => this.lines.push(l));
    lineReader(this.child.stderr, (l) => this.lines.push(l));
  }

  get output() { return this.lines.join("\n"); }

  tail(n = 60) { return this.lines.slice(-n).join("\n"); }

  async waitLine(re, timeout = TIMEOUT) {
    return waitFor(() => {
      const l = this.lines.find((x) => re.test(x));
      if (l) return l;
      if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before printing ${re}:\n${this.tail()}`);
      return false;
    }, { timeout, what: `${this.name} to print ${re}`, describe: () => this.tail(20) });
  }

  /** SIGTERM, then the exit status (SIGKILL and an error past the deadline). */
  async stop(timeout = TIMEOUT) {
    if (this.exit) return this.exit;
    this.child.kill("SIGTERM");
    let handle;
    const timer = new Promise((r) => { handle = setTimeout(r, timeout, "timeout"); });
    const got = await Promise.race([this.exited, timer]);
    clearTimeout(handle);
    if (got === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
      throw new Error(`${this.name} did not exit within ${timeout} ms of SIGTERM:\n${this.tail()}`);
    }
    return got;
  }

  kill() {
    if (!this.exit) this.child.kill("SIGKILL");
    return this.exited;
  }
}

// ------------------------------------------------------------------ the Messages API mock

export class Mock {
  constructor(key, models = [MODEL]) {
    this.key = key;
    this.proc = new Proc("mock", ["python3", path.join(REPO, "tests/mock/anthropic_server.py"), "--port", "0",
      "--key", key, "--models", models.join(",")], { cwd: REPO });
  }

  async start() {
    const line = await this.proc.waitLine(/^listening on http:\/\/[\d.]+:\d+/);
    this.url = line.match(/http:\/\/[\d.]+:\d+/)[0];
    return this;
  }

  async control(method, p, body) {
    const r = await fetch(this.url + p, {
      method, headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const doc = await r.json();
    if (!r.ok) throw new Error(`mock ${method} ${p}: ${r.status} ${JSON.stringify(doc)}`);
    return doc;
  }

  /** Scripted replies, taken one per model call in order (see tests/mock/README.md). */
  enqueue(...replies) { return this.control("POST", "/_mock/enqueue", replies); }

  requests() { return this.control("GET", "/_mock/requests"); }

  /** Lets the replies scripted with {gate: name} go (they wait until then). */
  openGate(name) { return this.control("POST", `/_mock/gate/${encodeURIComponent(name)}`); }

  state() { return this.control("GET", "/_mock/state"); }

  async stop() {
    const problems = [];
    try {
      const st = await this.state();
      if (st.violations.length) problems.push(`the mock saw protocol violations: ${JSON.stringify(st.violations, null, 1)}`);
      if (st.pending) problems.push(`the mock still had ${st.pending} scripted repl(y/ies) nobody asked for`);
    } catch (e) {
      problems.push(`the mock's state could not be read: ${e}`);
    }
    try {
      const ex = await this.proc.stop();
      if (ex.code !== 0) problems.push(`the mock exited with ${JSON.stringify(ex)}:\n${this.proc.tail()}`);
    } catch (e) {
      problems.push(String(e));
    }
    return problems;
  }
}

// ------------------------------------------------------------------ agentd

export class Daemon {
  /** env: extra variables (null drops one, e.g. ANTHROPIC_API_KEY: null). */
  constructor({ workdir, mock, env = {}, settings = {} }) {
    this.workdir = workdir;
    // the sandbox's root (an unprivileged host uid) must reach the gate: the path is 0755
    fs.chmodSync(workdir, 0o755);
    this.gate = path.join(workdir, "gate");
    fs.mkdirSync(this.gate, { recursive: true, mode: 0o755 });
    fs.chmodSync(this.gate, 0o755);
    this.settings = {
      listen: "127.0.0.1:0",
      state_dir: path.join(workdir, "state"),
      static_dir: STATIC_DIR,
      http: { threads: 2, shutdown_timeout_s: 10 },
      // a directory of the test's that sandboxes see read-only: a command waits on a file
      // the test creates here (see gated())
      sandbox: { binds: [`${this.gate}:/gate`] },
      ...settings,
    };
    this.configPath = path.join(workdir, "agentd.json");
    fs.writeFileSync(this.configPath, JSON.stringify(this.settings, null, 2));
    const e = { PATH: "/usr/local/bin:/usr/bin:/bin" };
    for (const k of PASSTHROUGH_ENV) if (process.env[k]) e[k] = process.env[k];
    Object.assign(e, {
      ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: mock.key, AGENTD_MODEL: MODEL,
      AGENTD_POOL_SIZE: "0", AGENTD_API_MAX_RETRIES: "0",
      AGENTD_SANDBOX_UID_BASE: String(UID_BASE), AGENTD_SANDBOX_UID_COUNT: String(UID_COUNT),
    });
    for (const [k, v] of Object.entries(env)) {
      if (v === null || v === undefined) delete e[k]; else e[k] = String(v);
    }
    this.env = e;
  }

  async start() {
    this.proc = new Proc("agentd", [AGENTD_BIN, "--config", this.configPath], { cwd: this.workdir, env: this.env });
    const line = await this.proc.waitLine(/listening on http:\/\/[\d.]+:\d+\//);
    const m = line.match(/http:\/\/([\d.]+):(\d+)\//);
    this.host = m[1];
    this.port = Number(m[2]);
    this.url = `http://${this.host}:${this.port}`;
    return this;
  }

  /** An API request straight to the daemon (not through the page): {status, json, body}. */
  async api(method, p, { body, token, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let data = body;
    if (body !== undefined && !(body instanceof Uint8Array) && typeof body !== "string") {
      data = JSON.stringify(body);
      h["content-type"] = "application/json";
    }
    const r = await fetch(this.url + p, { method, headers: h, body: data });
    const buf = Buffer.from(await r.arrayBuffer());
    let json;
    try { json = JSON.parse(buf.toString("utf8")); } catch { json = undefined; }
    return { status: r.status, headers: r.headers, body: buf, json };
  }

  async stop() {
    const problems = [];
    try {
      const ex = await this.proc.stop();
      if (ex.code !== 0) problems.push(`agentd exited with ${JSON.stringify(ex)}; log tail:\n${this.proc.tail()}`);
    } catch (e) {
      problems.push(String(e));
    }
    for (const mk of SANITIZER_MARKERS) {
      if (this.proc.output.includes(mk)) problems.push(`sanitizer report (${mk}) in agentd's log:\n${this.proc.output}`);
    }
    if (this.proc.output.includes(this.env.ANTHROPIC_API_KEY || "\0never")) problems.push("the API key appears in agentd's log");
    return problems;
  }
}

// ------------------------------------------------------------------ the host's view

/** Host processes whose command line contains marker (the sandboxes' are visible from here). */
export function processesWith(marker) {
  const out = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${name}/cmdline`).toString("utf8").replaceAll("\0", " "); } catch { continue; }
    if (cmd.includes(marker)) out.push({ pid: Number(name), cmd });
  }
  return out;
}

// ------------------------------------------------------------------ scripted replies

export const text = (t, extra = {}) => ({ text: t, ...extra });
export const bashCall = (command, extra = {}) => ({ content: [{ type: "tool_use", name: "bash", input: { command } }], ...extra });
/** A reply that says something, then asks for one bash command. */
export const sayThenBash = (say, command, extra = {}) => ({
  content: [{ type: "text", text: say }, { type: "tool_use", name: "bash", input: { command } }], ...extra,
});

// ------------------------------------------------------------------ one test's world

let counter = 0;

/** Everything one test needs: mock, daemon, browser; close() checks and stops it all. */
export class World {
  constructor(t, opts) {
    this.t = t;
    this.opts = opts;
    this.consoleErrors = [];
    this.pageErrors = [];
    this.foreignRequests = [];
    this.requests = [];
    this.allowConsole = [...(opts.allowConsole || [])];
    this.dialogs = [];
  }

  async start() {
    const o = this.opts;
    counter += 1;
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), `agentd-ui-${process.pid}-${counter}-`));
    this.key = `sk-ant-ui-test-${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
    this.mock = await new Mock(this.key).start();
    const env = { ...(o.env || {}) };
    if (o.tokens) env.AGENTD_TOKENS = o.tokens.join(",");
    if (o.noKey) env.ANTHROPIC_API_KEY = null;
    this.daemon = await new Daemon({ workdir: this.workdir, mock: this.mock, env, settings: o.settings }).start();
    this.base = this.daemon.url;
    this.token = o.tokens ? o.tokens[0] : undefined;

    this.profile = path.join(this.workdir, "chromium-profile");
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: o.viewport || { width: 1280, height: 800 },
      colorScheme: o.colorScheme || "light",
      acceptDownloads: true,
      timeout: TIMEOUT,
    });
    this.context.setDefaultTimeout(TIMEOUT);
    this.context.on("request", (req) => {
      const u = req.url();
      this.requests.push(u);
      if (/^(data|blob|about):/.test(u)) return;
      let origin;
      try { origin = new URL(u).origin; } catch { origin = u; }
      if (origin !== this.base) this.foreignRequests.push(u);
    });
    this.context.on("console", (msg) => {
      if (msg.type() !== "error") return;
      // what an expectConsole() pattern sees: the message, then where it came from
      const txt = `${msg.text()} (${msg.location().url}:${msg.location().lineNumber})`;
      if (this.allowConsole.some((re) => re.test(txt))) return;
      this.consoleErrors.push(txt);
    });
    this.context.on("weberror", (err) => {
      const e = err.error();
      const stack = String(e.stack || "");
      this.pageErrors.push(stack.includes(e.message) ? stack : `${e.name || "Error"}: ${e.message}\n${stack}`);
    });
    this.context.on("page", (p) => this._watch(p));
    for (const p of this.context.pages()) this._watch(p);
    this.page = this.context.pages()[0] || await this.context.newPage();
    return this;
  }

  _watch(page) {
    page.on("dialog", async (d) => {
      this.dialogs.push({ type: d.type(), message: d.message() });
      // confirm() (delete) is accepted; anything else would be a page showing alert()s
      if (d.type() === "confirm") await d.accept(); else { this.pageErrors.push(`unexpected ${d.type()}(): ${d.message()}`); await d.dismiss(); }
    });
  }

  /** Console errors matching re are expected in this test (e.g. a 401 the page must get);
   *  re is tried on "MESSAGE (URL:LINE)", so it may name the request's URL. */
  expectConsole(re) { this.allowConsole.push(re); }

  /** Open the page (at hash, e.g. "#/s/sess_..."), waiting until it says it is ready. */
  async open(page = this.page, hash = "") {
    await page.goto(this.base + "/" + hash);
    await this.ready(page);
    return page;
  }

  async ready(page = this.page) {
    await page.locator('body[data-ready="1"]').waitFor({ state: "attached" });
  }

  /** Type a message into the composer and send it with Enter. */
  async send(message, page = this.page) {
    const box = page.locator("#prompt");
    await box.fill(message);
    await box.press("Enter");
  }

  /** The n-th turn's article (0-based), once it exists. */
  turn(n, page = this.page) { return page.locator(`#conversation article.turn[data-turn-index="${n}"]`); }

  async turnState(page = this.page) { return page.locator("#conversation").getAttribute("data-turn-state"); }

  async waitIdle(page = this.page) {
    await waitFor(async () => (await this.turnState(page)) === "idle",
      { what: "#conversation data-turn-state to be idle", describe: async () => `data-turn-state=${await this.turnState(page)}` });
  }

  async waitRunning(page = this.page) {
    await waitFor(async () => (await this.turnState(page)) === "running",
      { what: "#conversation data-turn-state to be running", describe: async () => `data-turn-state=${await this.turnState(page)}` });
  }

  /** The active session's id, from the URL hash (#/s/sess_...). */
  async sessionId(page = this.page) {
    return waitFor(() => (new URL(page.url()).hash.match(/^#\/s\/(sess_[A-Za-z0-9_.-]+)$/) || [])[1],
      { what: "the URL hash to name the active session (#/s/sess_...)", describe: async () => page.url() });
  }

  /** A command for the bash tool that prints `before`, waits until the test calls
   *  release(name), then prints `after`. */
  gated(name, before = "started", after = "released") {
    return `echo ${before}; while [ ! -e /gate/${name} ]; do sleep 0.05; done; echo ${after}`;
  }

  release(name) { fs.writeFileSync(path.join(this.daemon.gate, name), "go\n"); }

  async api(method, p, opts = {}) { return this.daemon.api(method, p, { token: this.token, ...opts }); }

  /** A file request of the test's own, once the page's workspace panel has none on its way
   * (agentd takes one file operation of a session at a time: 409 otherwise). */
  async fileApi(method, p, opts = {}, page = this.page) {
    await page.waitForFunction(() => document.querySelector("#workspace").dataset.busy !== "1", null,
      { timeout: TIMEOUT });
    return this.api(method, p, opts);
  }

  /** A picture of the page in tests/ui/screenshots/ (git-ignored). The README's picture,
   *  chat.png, is committed: a run writes chat.run.png beside it, and chat.png itself only
   *  when it is missing or UI_UPDATE_DOCS_SCREENSHOT=1 (so that a test run leaves the tree clean). */
  async screenshot(name, page = this.page, opts = {}) {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    if (name === DOCS_SCREENSHOT && fs.existsSync(path.join(SCREENSHOTS, name)) &&
        process.env.UI_UPDATE_DOCS_SCREENSHOT !== "1") name = name.replace(/\.png$/, ".run.png");
    await page.screenshot({ path: path.join(SCREENSHOTS, name), ...opts });
  }

  /** Stop everything; the problems found (console, page errors, requests elsewhere,
   *  the daemon's exit, the mock's violations). */
  async close() {
    const problems = [];
    if (this.consoleErrors.length) problems.push(`console errors:\n  ${this.consoleErrors.join("\n  ")}`);
    if (this.pageErrors.length) problems.push(`page errors:\n  ${this.pageErrors.join("\n  ")}`);
    if (this.foreignRequests.length) problems.push(`requests to other hosts than the daemon's:\n  ${this.foreignRequests.join("\n  ")}`);
    if (this.context) await this.context.close().catch((e) => problems.push(`closing the browser: ${e}`));
    if (this.daemon?.proc) problems.push(...await this.daemon.stop());
    if (this.mock?.proc) problems.push(...await this.mock.stop());
    if (this.workdir && !process.env.UI_TEST_KEEP) fs.rmSync(this.workdir, { recursive: true, force: true });
    return problems;
  }
}

/** What agentd said, for a failure's message: its warnings, errors and state changes,
 *  the requests that change something or were refused (4xx, 5xx), and its last lines. */
function daemonReport(w) {
  if (!w.daemon?.proc) return "";
  const notable = w.daemon.proc.lines.filter((l) => (/\b(warn|error)\b|failed|->|created/.test(l) && !/ access /.test(l)) ||
    / access (POST|PUT|PATCH|DELETE) /.test(l) || / access \S+ \S+ [45]\d\d\b/.test(l));
  return `\n\nagentd's warnings, errors, state changes, requests that change something and refusals:\n` +
    `${notable.slice(-60).join("\n")}\n\nagentd's log tail:\n${w.daemon.proc.tail(30)}`;
}

/** A test with its own World: uiTest(name, {tokens, noKey, viewport, ...}, async (w) => {...}).
 *  The world is closed whatever happens; its problems fail the test. */
export function uiTest(name, opts, fn) {
  if (typeof opts === "function") { fn = opts; opts = {}; }
  test(name, { timeout: opts.timeout || TEST_TIMEOUT, skip: opts.skip }, async (t) => {
    const w = new World(t, opts);
    let failure;
    try {
      await w.start();
      await fn(w, t);
    } catch (e) {
      failure = e;
    }
    let problems;
    try {
      problems = await w.close();
    } catch (e) {
      problems = [`closing the test's world: ${e.stack || e}`];
    }
    if (failure) {
      if (problems.length) failure.message += `\n\nand at the end:\n${problems.join("\n")}`;
      failure.message += daemonReport(w);
      throw failure;
    }
    if (problems.length) throw new Error(problems.join("\n") + daemonReport(w));
  });
}
