// The chat page: wires the parts together, follows the URL (#/s/<session id>), and
// checks the host with /api/health.

import { api, needToken, sessionPath } from "./api.js";
import { $ } from "./dom.js";
import { setupTokenDialog } from "./token_dialog.js";
import { Conversation } from "./conversation.js";
import { Composer } from "./composer.js";
import { SessionList, TITLE_MAX } from "./sessions.js";
import { SessionView } from "./session_view.js";
import { Workspace } from "./workspace.js";
import { Ports } from "./ports.js";
import { setupLayout, closePanels } from "./layout.js";
import { Operator } from "./operator.js";

const HEALTH_MS = 30000;
const EDITS = new Set(["create", "str_replace", "insert"]);

let activeId = null;
let creating = null; // the session New chat is making: the next message goes to it
const titled = new Set(); // sessions whose title this page has set (or tried to)

setupTokenDialog();
setupLayout();

const workspace = new Workspace({ state: () => view.info?.state });
const ports = new Ports();
const operator = new Operator();
const composer = new Composer({ onSend: send, onStop: stop });
let conversation = null;
conversation = new Conversation($("conversation"), {
  onState: (running) => {
    composer.setRunning(running);
    showWelcome();
  },
});
const sessions = new SessionList({
  onOpen: (id) => go(id),
  onDelete: (id) => { if (id === activeId) go(null); },
  onError: (msg) => { $("sessions-note").textContent = msg; },
});
const view = new SessionView({
  conversation,
  onInfo: (info) => {
    sessions.update(info);
    // its sandbox is up (again): what could not be listed meanwhile is listed now
    if (["ready", "idle", "running"].includes(info.state)) workspace.turnEnded();
  },
  onTurnEnd: () => {
    sessions.refresh();
    workspace.turnEnded();
    ports.refresh();
  },
  onToolEnd: (name, input) => {
    if (name === "bash" || name === "exec" ||
        (name === "str_replace_based_edit_tool" && input && EDITS.has(input.command))) workspace.changed();
  },
  onGone: () => sessions.refresh(),
});

function showWelcome() {
  $("welcome").hidden = !!activeId || (conversation ? conversation.turns.length > 0 : false);
}

function idFromHash() {
  const m = /^#\/s\/([A-Za-z0-9_.-]+)$/.exec(location.hash);
  return m ? m[1] : null;
}

function go(id) {
  const hash = id ? `#/s/${id}` : "";
  if (location.hash !== hash) {
    history.pushState(null, "", hash || location.pathname);
  }
  route();
}

function route() {
  const id = idFromHash();
  closePanels();
  if (id === activeId) return;
  show(id);
}

function show(id) {
  activeId = id;
  sessions.setActive(id);
  workspace.show(id);
  ports.show(id);
  if (id) {
    view.open(id).then(() => view.waitReady()).then(() => {
      if (id !== activeId) return;
      workspace.list();
      ports.refresh();
    });
  } else {
    view.close();
    conversation.reset();
  }
  showWelcome();
  composer.focus();
}

async function newSession() {
  const pattern = $("new-pattern").value, runtime = $("new-runtime").value;
  const s = await api("POST", "/api/sessions", { json: runtime === "agentd" ? { pattern } : { pattern, runtime } });
  sessions.update(s);
  return s;
}

// One session made at a time, shared by New chat and a message typed meanwhile.
function startSession() {
  if (!creating) creating = newSession().finally(() => { creating = null; });
  return creating;
}

async function send(text) {
  let id = activeId;
  if (!id) {
    try {
      const s = await startSession();
      id = s.id;
      if (activeId !== id) {     // New chat's own click may have opened it meanwhile
        history.pushState(null, "", `#/s/${id}`);
        activeId = id;
        sessions.setActive(id);
        workspace.show(id);
        ports.show(id);
        await view.open(id);
      }
    } catch (err) {
      const t = conversation.sent(text);
      conversation.sendFailed(t, err);
      return true;
    }
  }
  const info = sessions.get(id);
  // Titles are set only where agentd has them (its sessions carry "title").
  if (info && typeof info.title === "string" && !info.title && !titled.has(id)) {
    titled.add(id);
    const title = text.trim().replace(/\s+/g, " ").slice(0, TITLE_MAX);
    sessions.setTitle(id, title).catch(() => {});
  }
  await view.opening; // the transcript first: the message's turn goes after it
  if (id !== activeId) return false;
  const turn = conversation.sent(text);
  showWelcome();
  if (!(await view.waitReady()) || id !== activeId) return true;
  await workspace.settled(); // an upload on its way goes first (agentd would refuse the turn)
  api("POST", sessionPath(id, "/messages"), { json: { message: text } }).finally(() => {
    workspace.turnEnded();
  }).catch((err) => {
    if (id !== activeId) return;
    // An error with an event_id is in the session's events: shown from there, once.
    if (err.eventId !== undefined && err.eventId !== null) return;
    // A dropped connection while the turn goes on (or the browser's own retry of the POST
    // on a broken connection, refused as a second turn): the events tell how it ends.
    if ((err.status === 0 || err.status === 409) && conversation.current === turn) return;
    conversation.sendFailed(turn, err);
  });
  return true;
}

async function stop() {
  if (!activeId) return;
  try {
    await api("POST", sessionPath(activeId, "/interrupt"));
  } catch (err) {
    if (err.status !== 409) $("composer-note").textContent = `The turn could not be stopped: ${err.message}`;
  }
}

// The agents this agentd lets a session run (runtime.allow); no choice, no menu.
function offerRuntimes(allowed) {
  if (!Array.isArray(allowed)) return;
  const menu = $("new-runtime");
  for (const o of [...menu.options]) if (!allowed.includes(o.value)) o.remove();
  $("runtime-row").hidden = menu.options.length < 2;
}

async function health() {
  try {
    const res = await fetch("/api/health", { cache: "no-store" });
    const hl = await res.json();
    let why = "";
    if (!hl.anthropic?.api_key_configured)
      why = "No Anthropic API key is configured: set ANTHROPIC_API_KEY in agentd's environment or .env, then restart agentd.";
    else if (hl.sandbox && hl.sandbox.ready === false)
      why = `Sandboxes cannot start on this host: ${hl.sandbox.reason || "see /api/health"}.`;
    composer.setBlocked(why);
    offerRuntimes(hl.runtimes);
    $("host-status").textContent = `agentd ${hl.version || ""} · ${hl.status === "ok" ? "ready" : hl.status}`;
    $("host-status").dataset.status = hl.status;
    return hl;
  } catch (err) {
    $("host-status").textContent = "agentd cannot be reached";
    $("host-status").dataset.status = "down";
  }
}

$("new-session").addEventListener("click", async () => {
  go(null); // leave the current session at once: a message typed now goes to the new one
  try {
    const s = await startSession();
    if (activeId === null) go(s.id);
  } catch (err) {
    $("sessions-note").textContent = `A new session could not be started: ${err.message}`;
  }
});
window.addEventListener("popstate", route);
window.addEventListener("hashchange", route);

(async () => {
  const hl = await health();
  setInterval(health, HEALTH_MS);
  if (hl?.auth?.token_required) await needToken();
  await Promise.all([sessions.refresh(), operator.check()]);
  route();
  document.body.dataset.ready = "1";
})();
