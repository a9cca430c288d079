// The conversation of the session shown: built from its transcript, then from its events.

import { h, clear, nearBottom, frameBatcher } from "./dom.js";
import { Turn, textOf } from "./turn.js";
import { ToolCard } from "./tool_card.js";
import { explain } from "./errors.js";
import { handleCopyClicks } from "./markdown.js";

export class Conversation {
  // onState(running) when a turn begins or ends; onToolEnd(name, input) after each tool.
  constructor(el, { onState, onToolEnd }) {
    this.el = el;
    this.onState = onState;
    this.onToolEnd = onToolEnd;
    this.stick = true;
    // Whether to follow the end is decided by the reader: a scroll that did not end where
    // the page put it, a wheel, a touch or a key; looked at in the next frame.
    let autoTop = -1;
    let readerMoved = false;
    const moved = () => {
      readerMoved = true;
      this.changed();
    };
    el.addEventListener("scroll", () => { if (Math.abs(el.scrollTop - autoTop) > 2) moved(); }, { passive: true });
    for (const ev of ["wheel", "touchmove", "keydown", "pointerdown"]) el.addEventListener(ev, moved, { passive: true });
    handleCopyClicks(el);
    this.changed = frameBatcher(() => {
      if (readerMoved) {
        readerMoved = false;
        this.stick = nearBottom(el);
      }
      if (!this.stick) return;
      const top = el.scrollHeight - el.clientHeight;
      if (Math.abs(el.scrollTop - top) < 1) return;
      el.scrollTop = top;
      autoTop = el.scrollTop;
    });
    this.reset();
  }

  reset() {
    clear(this.el);
    this.turns = [];
    this.current = null;   // the turn in progress
    this.pending = null;   // a turn shown for a message sent whose turn has not begun
    this.execs = new Map();
    this.setRunning(false);
    this.stick = true;
  }

  setRunning(running) {
    this.running = running;
    this.el.dataset.turnState = running ? "running" : "idle";
    if (this.onState) this.onState(running);
  }

  newTurn(userText) {
    const t = new Turn(this.turns.length, this.changed, !this.loading);
    if (userText !== undefined) t.setUser(userText);
    this.turns.push(t);
    this.el.append(t.el);
    this.stick = true;
    this.changed();
    return t;
  }

  // A message the user sent: shown at once, before its turn begins.
  sent(text) {
    this.pending = this.newTurn(text);
    this.setRunning(true);
    return this.pending;
  }

  // The POST of a message failed before a turn began (an error with no event).
  sendFailed(turn, err) {
    turn.error(err);
    if (this.pending === turn) this.pending = null;
    if (!this.current) this.setRunning(false);
  }

  // Messages of GET .../messages; `running`: the last turn is still going on; `turns`: the
  // completed turns' outcomes ({first_message, stop_reason, model_calls, usage, cost_usd}).
  renderTranscript(messages, running, turns) {
    this.reset();
    let t = null;
    const byFirst = new Map(); // index of a turn's user message -> its Turn
    this.loading = true;
    (messages || []).forEach((m, i) => this.message(m, () => t, (nt) => {
      t = nt;
      byFirst.set(i, nt);
    }));
    this.loading = false;
    for (const d of turns || []) {
      const tt = byFirst.get(d.first_message);
      if (tt) tt.done(d);
    }
    if (running && this.turns.length) {
      this.current = this.turns[this.turns.length - 1];
      this.current.live = true;
      this.setRunning(true);
    } else {
      for (const tt of this.turns) tt.end();
    }
    this.changed();
  }

  message(m, get, set) {
    const t = get();
    if (m.role === "user") {
      const blocks = Array.isArray(m.content) ? m.content : [];
      if (blocks.some((b) => b.type === "tool_result")) {
        if (t) t.toolResults(blocks);
      } else {
        set(this.newTurn(textOf(m.content)));
      }
    } else if (m.role === "assistant") {
      (t || set(this.newTurn("")) || get()).assistantMessage(m.content);
    }
  }

  // The durations and exit statuses of GET .../history, for cards from the transcript.
  fillHistory(history) {
    for (const e of history || []) {
      for (const t of this.turns) {
        const c = t.cards.get(e.id);
        if (c && !c.endInfo && c.status !== "running")
          c.end({ is_error: c.status === "error" || !!e.is_error, duration_ms: e.duration_ms, exit_status: e.exit_status });
      }
    }
  }

  turnFor() {
    if (this.current) return this.current;
    this.current = this.pending || this.newTurn();
    this.pending = null;
    if (!this.running) this.setRunning(true);
    return this.current;
  }

  // One event of the session's /events stream.
  event(type, d) {
    switch (type) {
      case "session":
        if (this.current) this.current.end();
        this.current = null;
        this.turnFor();
        break;
      case "message": {
        const m = d.message || {};
        if (m.role === "user" && !(Array.isArray(m.content) && m.content.some((b) => b.type === "tool_result"))) {
          const t = this.turnFor();
          if (t.userText === null || t.userText === "") t.setUser(textOf(m.content));
        } else {
          this.message(m, () => this.turnFor(), () => {});
        }
        break;
      }
      case "text":
        this.turnFor().text(d.text || "");
        break;
      case "tool_start":
        if (d.name === "exec" || /^exec_/.test(d.id || "")) this.execCard(d).start(d.input);
        else this.turnFor().card(d.id, d.name, d.input).start(d.input);
        break;
      case "tool_output":
        this.findCard(d.id)?.addOutput(d.output || "");
        break;
      case "tool_end": {
        const c = this.findCard(d.id);
        if (c) c.end(d);
        if (this.onToolEnd) this.onToolEnd(d.name || c?.name, c?.input);
        break;
      }
      case "usage":
        if (this.current) this.current.usage(d.total, d.cost_usd);
        break;
      case "done":
        if (this.current || this.pending) this.turnFor().done(d);
        this.current = null;
        this.setRunning(false);
        break;
      case "error":
        if (this.current || this.pending) {
          const t = this.turnFor();
          t.end();
          t.error({ ...(d.error || {}), status: d.error?.status });
        } else {
          this.el.append(h("p", { class: "turn-error", role: "alert", text: explain(d.error || {}) }));
        }
        this.current = null;
        this.setRunning(false);
        break;
      case "warning":
        this.el.append(h("p", { class: "session-warning", role: "status", text: d.message || "" }));
        break;
      default:
        break;
    }
    this.changed();
  }

  findCard(id) {
    if (this.execs.has(id)) return this.execs.get(id);
    for (let i = this.turns.length - 1; i >= 0; i--) {
      const c = this.turns[i].cards.get(id);
      if (c) return c;
    }
    return null;
  }

  // A command run with POST .../exec between turns: a card of its own in the conversation.
  execCard(d) {
    let c = this.execs.get(d.id);
    if (!c) {
      c = new ToolCard({ id: d.id, name: "exec", input: d.input, open: true });
      this.execs.set(d.id, c);
      this.el.append(h("div", { class: "exec-entry", "aria-label": "Command run in the sandbox" }, c.el));
    }
    return c;
  }

  // The turn was stopped where it stood (the events stream ended with the session).
  abandon() {
    if (this.current) this.current.end();
    this.current = null;
    this.setRunning(false);
  }
}
