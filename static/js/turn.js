// One turn of the conversation: the user's text, then the reply in order (Markdown blocks
// and tool cards), then its usage, notes and errors. Streamed text of a model call is
// replaced by the call's whole message when it arrives, so what stays shown is exact.

import { h } from "./dom.js";
import * as fmt from "./format.js";
import { MarkdownSegment } from "./stream_md.js";
import { ToolCard } from "./tool_card.js";
import { explain } from "./errors.js";

export const textOf = (content) => {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.filter((b) => b && b.type === "text").map((b) => b.text).join("\n");
};

const STOP_NOTES = {
  interrupted: "Interrupted.",
  max_tokens: "The reply stopped at its maximum length (max_tokens).",
  max_model_calls: "The turn stopped after its maximum number of model calls (agent.max_model_calls). Send a message to let it go on.",
  refusal: "The model declined to answer this.",
  pause_turn: "The model paused its turn. Send a message to let it go on.",
};

export class Turn {
  // live: its tool cards start unfolded (a turn seen as it happens, not from a transcript)
  constructor(index, onChange, live = true) {
    this.onChange = onChange;
    this.live = live;
    this.cards = new Map();
    this.callNodes = [];   // what the model call in progress has shown so far
    this.segment = null;   // the Markdown that text events are streamed into
    this.userText = null;
    this.userEl = h("div", { class: "msg-user" });
    this.asstEl = h("div", { class: "msg-assistant" });
    this.footEl = h("div", { class: "turn-foot" });
    this.usageEl = h("p", { class: "turn-usage", hidden: true });
    this.footEl.append(this.usageEl);
    this.el = h("article", { class: "turn", dataset: { turnIndex: String(index) }, "aria-label": `Turn ${index + 1}` },
      this.userEl, this.asstEl, this.footEl);
  }

  setUser(text) {
    this.userText = text;
    this.userEl.textContent = text;
  }

  text(delta) {
    if (!this.segment) {
      this.segment = new MarkdownSegment(this.onChange);
      this.asstEl.append(this.segment.el);
      this.callNodes.push(this.segment.el);
    }
    this.segment.append(delta);
  }

  card(id, name, input) {
    let c = this.cards.get(id);
    if (!c) {
      c = new ToolCard({ id, name, input, open: this.live });
      this.cards.set(id, c);
      this.asstEl.append(c.el);
      this.callNodes.push(c.el);
      this.segment = null;
    }
    this.onChange();
    return c;
  }

  // A whole assistant message (one model call): put its blocks where the call's streamed
  // nodes are, reusing the streamed Markdown for its first text block and the cards by id.
  assistantMessage(content) {
    const blocks = typeof content === "string" ? [{ type: "text", text: content }] : content || [];
    const streamed = this.callNodes.filter((n) => n.classList.contains("md")).map((n) => n.segment);
    const nodes = [];
    for (const b of blocks) {
      if (b.type === "text") {
        if (!b.text) continue;
        let seg = streamed.shift();
        if (!seg) seg = new MarkdownSegment(this.onChange);
        seg.finish(b.text);
        nodes.push(seg.el);
      } else if (b.type === "tool_use") {
        let c = this.cards.get(b.id);
        if (!c) {
          c = new ToolCard({ id: b.id, name: b.name, input: b.input, open: this.live });
          this.cards.set(b.id, c);
        } else {
          c.setInput(b.input);
        }
        nodes.push(c.el);
      }
    }
    // A marker where the call's first node was: the call's blocks go before it, in order.
    const first = this.callNodes.find((n) => n.parentNode === this.asstEl) || null;
    const marker = document.createComment("call");
    this.asstEl.insertBefore(marker, first);
    for (const n of nodes) this.asstEl.insertBefore(n, marker);
    marker.remove();
    for (const n of this.callNodes) if (!nodes.includes(n)) n.remove();
    this.callNodes = [];
    this.segment = null;
    this.onChange();
  }

  toolResults(content) {
    for (const b of content || []) {
      if (b.type !== "tool_result") continue;
      const c = this.cards.get(b.tool_use_id);
      if (c) c.result(!!b.is_error, textOf(b.content));
    }
  }

  usage(total, costUsd, calls) {
    if (!total) return;
    const extra = calls ? ` · ${fmt.plural(calls, "model call")}` : "";
    this.usageEl.textContent = `${fmt.usage(total, costUsd)}${extra}`;
    this.usageEl.hidden = false;
  }

  note(kind, text) {
    this.footEl.append(h("p", { class: "turn-note", dataset: { kind }, text }));
    this.onChange();
  }

  error(err) {
    this.footEl.append(h("p", { class: "turn-error", role: "alert", text: explain(err) }));
    this.onChange();
  }

  // The turn is over: nothing streams or runs in it any more.
  end() {
    if (this.segment) this.segment.finish();
    for (const c of this.cards.values()) c.abandon();
    this.callNodes = [];
    this.segment = null;
  }

  done(d) {
    this.end();
    this.usage(d.usage, d.cost_usd, d.model_calls);
    const note = STOP_NOTES[d.stop_reason];
    if (note) this.note(d.stop_reason, note);
  }
}
