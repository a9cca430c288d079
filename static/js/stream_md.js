// A Markdown text that grows as the model writes it, rendered without re-parsing the whole
// text on every piece: pieces are coalesced into one render per animation frame; the text
// is cut into finished blocks at places where a split cannot change how CommonMark reads
// it (see findBounds), each finished block is rendered once, and only the last, open block
// is rendered again. So a frame's work is bounded by the open block, not the reply.

import { h, frameBatcher } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const FREEZE_STEP = 2048;           // finished text rendered at once, at least one block
const FREEZE_MS = 6;                // time a frame spends on finished text before it yields
const TAIL_FULL_MAX = 16 * 1024;    // an open block larger than this is rendered less often
const FENCE_HIGHLIGHT_MAX = 2 * 1024; // an open code block larger than this is shown plain

const FENCE_OPEN = /^(`{3,}|~{3,})([^`]*)$/;
const HTML_OPEN = /^<(pre|script|style|textarea)[\s>]|^<(pre|script|style|textarea)$/i;
const LIST_ITEM = /^(\d{1,9}[.)]|[-+*])(\s|$)/;
const LINK_DEF = /^ {0,3}\[[^\]]+\]:/;

export class MarkdownSegment {
  constructor(onRendered) {
    this.el = h("div", { class: "md" });
    this.el.segment = this; // a turn finds the segment of a streamed element
    this.tail = h("div", { class: "md-tail" });
    this.el.append(this.tail);
    this.src = "";
    this.onRendered = onRendered || (() => {});
    this.reset();
    this.schedule = frameBatcher(() => this.flush());
  }

  reset() {
    this.frozen = 0;      // src[0, frozen) is rendered into finished nodes
    this.scanned = 0;     // complete lines before this index were looked at
    this.fence = null;    // the open fence (or raw HTML block) while scanning
    this.prevBlank = false;
    this.bounds = [];     // split points found, increasing, all > frozen
    this.linkDefs = false; // a [label]: url definition reaches across blocks: no exact splits
    this.ended = false;
    this.lastTailRender = 0;
  }

  append(text) {
    if (!text) return;
    this.src += text;
    this.schedule();
  }

  // The reply is complete: src becomes exactly `text` (the model's message), rendered whole.
  finish(text) {
    if (typeof text === "string" && text !== this.src) {
      this.src = text;
      this.rebuild();
    } else if (this.linkDefs) {
      this.rebuild();
    }
    this.ended = true;
    this.schedule();
  }

  rebuild() {
    for (const n of [...this.el.childNodes]) if (n !== this.tail) n.remove();
    this.reset();
    if (LINK_DEF.test(this.src) || /\n {0,3}\[[^\]]+\]:/.test(this.src)) {
      // Definitions may be used in any block: only a parse of the whole text is exact.
      const chunk = h("div", { class: "md-chunk" });
      chunk.append(renderMarkdown(this.src));
      this.tail.before(chunk);
      this.frozen = this.scanned = this.src.length;
    }
  }

  // Looks at the complete lines not yet scanned, noting where the text may be split.
  findBounds(final) {
    const src = this.src;
    let end = final ? src.length : src.lastIndexOf("\n") + 1;
    let i = this.scanned;
    while (i < end) {
      let nl = src.indexOf("\n", i);
      if (nl < 0 || nl >= end) nl = end;
      const line = src.slice(i, nl).replace(/\r$/, "");
      const next = nl + 1;
      if (this.fence) {
        if (this.fence.close(line)) {
          this.fence = null;
          if (this.lastFenceTop) this.addBound(Math.min(next, src.length));
        }
      } else {
        const blank = line.trim() === "";
        const m = FENCE_OPEN.exec(line);
        if (m) {
          const marker = m[1];
          this.lastFenceTop = true;
          this.addBound(i); // a fence at column 0 ends any paragraph, list or quote before it
          this.fenceStart = i;
          this.fence = { close: (l) => new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(l) };
        } else if (HTML_OPEN.test(line)) {
          const tag = HTML_OPEN.exec(line)[1] || HTML_OPEN.exec(line)[2];
          if (!new RegExp(`</${tag}>`, "i").test(line)) {
            this.lastFenceTop = false;
            this.fence = { close: (l) => new RegExp(`</${tag}>`, "i").test(l) };
          }
        } else if (line.startsWith("<!--") && !line.includes("-->")) {
          this.lastFenceTop = false;
          this.fence = { close: (l) => l.includes("-->") };
        } else if (!blank && this.prevBlank && !/^\s/.test(line) && !LIST_ITEM.test(line)) {
          this.addBound(i);
        }
        if (LINK_DEF.test(line)) this.linkDefs = true;
        this.prevBlank = blank;
      }
      i = next;
    }
    this.scanned = Math.max(this.scanned, Math.min(i, src.length));
  }

  addBound(pos) {
    if (pos > this.frozen && (this.bounds.length === 0 || pos > this.bounds[this.bounds.length - 1]))
      this.bounds.push(pos);
  }

  flush() {
    this.findBounds(this.ended);
    if (this.ended) this.addBound(this.src.length);
    if (this.linkDefs && !this.ended) this.bounds = []; // wait for the whole text (finish rebuilds)
    // Finished blocks, in steps, until this frame's time for them is spent.
    const start = performance.now();
    while (this.bounds.length && performance.now() - start < FREEZE_MS) {
      let cut = this.bounds.shift();
      while (this.bounds.length && this.bounds[0] - this.frozen <= FREEZE_STEP) cut = this.bounds.shift();
      // A finished chunk is rendered once and never touched again.
      const chunk = h("div", { class: "md-chunk" });
      chunk.append(renderMarkdown(this.src.slice(this.frozen, cut)));
      this.tail.before(chunk);
      this.frozen = cut;
    }
    if (this.bounds.length) {
      this.schedule(); // more finished text waits: the open block is drawn once it is reached
    } else {
      this.renderTail();
    }
    this.onRendered();
  }

  renderTail() {
    const text = this.src.slice(this.frozen);
    const now = performance.now();
    if (this.fence && this.fenceStart === this.frozen && text.length > FENCE_HIGHLIGHT_MAX) {
      this.renderOpenFence(text);
      return;
    }
    // A large open block (a long list, say) is drawn at most every length/1000 ms.
    if (text.length > TAIL_FULL_MAX && !this.ended && now - this.lastTailRender < text.length / 1000) {
      this.schedule();
      return;
    }
    this.lastTailRender = now;
    this.tail.replaceChildren(...(text ? renderMarkdown(text).childNodes : []));
  }

  // An open code block, shown as plain text until its fence closes.
  renderOpenFence(text) {
    const nl = text.indexOf("\n");
    const body = nl < 0 ? "" : text.slice(nl + 1);
    let code = this.tail.querySelector("code.open-fence");
    if (!code) {
      const lang = (FENCE_OPEN.exec(text.slice(0, nl < 0 ? text.length : nl))?.[2] || "").trim().split(/\s/)[0];
      code = h("code", { class: "hljs open-fence" });
      this.tail.replaceChildren(h("div", { class: "code-block" },
        h("div", { class: "code-head" }, h("span", { class: "code-lang", text: lang || "text" })),
        h("pre", {}, code)));
    }
    code.textContent = body;
  }
}
