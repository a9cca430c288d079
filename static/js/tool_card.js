// A tool call as a card: the tool, its input (a command, a diff, a path), its output as
// it comes (with agentd's note when it was cut), its outcome and duration; "running" and
// a ticking elapsed time while it runs.

import { h, frameBatcher } from "./dom.js";
import * as fmt from "./format.js";
import { diffView, lineDiff, addedLines } from "./diff.js";

const OUTPUT_SHOWN_MAX = 256 * 1024; // the page keeps at most this much of one output
const CUT_NOTE = /\[output cut: (\d+) more bytes not shown\]|\[output cut at (\d+) bytes[^\]]*\]|\[stopped after (\d+) entries\]/;

const running = new Set();
let ticker = null;
function tick() {
  for (const c of running) c.showStatus();
  if (!running.size) {
    clearInterval(ticker);
    ticker = null;
  }
}

const EDIT = "str_replace_based_edit_tool";

function brief(name, input) {
  input = input || {};
  if (name === "bash" || name === "exec") return input.restart ? "restart the shell" : (input.command || "").split("\n")[0];
  if (name === EDIT) return `${input.command || "?"} ${input.path || ""}`;
  if (name === "glob") return `${input.pattern || ""}${input.path ? ` in ${input.path}` : ""}`;
  if (name === "grep") return `${input.pattern || ""}${input.path ? ` in ${input.path}` : ""}${input.glob ? ` (${input.glob})` : ""}`;
  try {
    return JSON.stringify(input);
  } catch {
    return "";
  }
}

function inputView(name, input) {
  input = input || {};
  if (name === "bash" || name === "exec") {
    if (input.restart) return h("p", { text: "Restart the shell." });
    return h("pre", { class: "command" }, h("code", {}, h("span", { class: "prompt", "aria-hidden": "true" }, "$ "), input.command || ""));
  }
  if (name === EDIT) {
    const path = h("p", { class: "tool-path" }, h("code", { text: input.path || "" }));
    switch (input.command) {
      case "str_replace":
        return h("div", {}, path, diffView(lineDiff(input.old_str, input.new_str), `Changes to ${input.path}`));
      case "insert":
        return h("div", {}, h("p", { class: "tool-path" }, h("code", { text: input.path || "" }),
          ` after line ${input.insert_line ?? "?"}`),
        diffView(addedLines(input.insert_text ?? input.new_str), `Lines added to ${input.path}`));
      case "create":
        return h("div", {}, path, diffView(addedLines(input.file_text), `Contents of ${input.path}`));
      case "view":
        return h("p", { class: "tool-path" }, "view ", h("code", { text: input.path || "" }),
          input.view_range ? ` lines ${input.view_range.join("–")}` : "");
      default:
        return path;
    }
  }
  return h("pre", { class: "json" }, JSON.stringify(input, null, 2));
}

export class ToolCard {
  // open: the card starts unfolded (a live call); a transcript's cards start folded.
  constructor({ id, name, input, open }) {
    this.id = id;
    this.name = name || "tool";
    this.output = "";
    this.outputCut = false;
    this.status = "pending";
    this.started = null;
    this.statusEl = h("span", { class: "tool-status" });
    this.outEl = h("pre", { class: "tool-output", tabindex: "0", "aria-label": `Output of ${this.name}` });
    this.truncEl = h("p", { class: "tool-truncated", hidden: true });
    this.inputEl = h("div", { class: "tool-input" });
    this.briefEl = h("span", { class: "tool-brief" });
    this.outSize = h("span", { class: "tool-output-size" });
    this.outToggle = h("button", { type: "button", class: "output-toggle small", "aria-expanded": "true",
      "aria-label": `Output of ${this.name}`, onclick: () => this.foldOutput() }, "Output ", this.outSize);
    this.outBox = h("div", { class: "tool-output-box", hidden: true }, this.outToggle, this.outEl, this.truncEl);
    this.el = h("details", { class: "tool-card", open: !!open,
      dataset: { toolId: id || "", toolName: this.name, status: "pending" } },
    h("summary", {}, h("span", { class: "tool-name", text: this.name === EDIT ? "edit" : this.name }),
      this.briefEl, this.statusEl),
    h("div", { class: "tool-body" }, this.inputEl, this.outBox));
    this.el.toolCard = this;
    this.drawOutput = frameBatcher(() => this.renderOutput());
    this.setInput(input);
    this.showStatus();
  }

  setInput(input) {
    if (!input) return;
    this.input = input;
    this.briefEl.textContent = brief(this.name, input);
    this.inputEl.replaceChildren(inputView(this.name, input));
  }

  start(input) {
    this.setInput(input);
    this.status = "running";
    this.started = performance.now();
    running.add(this);
    if (!ticker) ticker = setInterval(tick, 100);
    this.showStatus();
  }

  addOutput(text) {
    if (!text) return;
    if (this.output.length < OUTPUT_SHOWN_MAX) this.output += text;
    else this.outputCut = true;
    this.drawOutput();
  }

  // The whole output at once (the tool_result the model got): it replaces the pieces.
  setOutput(text) {
    if (!text || text === this.output) return;
    this.output = text.length > OUTPUT_SHOWN_MAX ? text.slice(0, OUTPUT_SHOWN_MAX) : text;
    this.outputCut = text.length > OUTPUT_SHOWN_MAX;
    this.renderOutput();
  }

  foldOutput() {
    const show = this.outToggle.getAttribute("aria-expanded") !== "true";
    this.outToggle.setAttribute("aria-expanded", String(show));
    this.outEl.hidden = !show;
  }

  renderOutput() {
    this.outEl.textContent = this.output;
    this.outBox.hidden = !this.output;
    const lines = this.output.split("\n").length;
    this.outSize.textContent = `· ${fmt.plural(lines, "line")}, ${fmt.bytes(new TextEncoder().encode(this.output).length)}`;
    const m = CUT_NOTE.exec(this.output.slice(-300));
    let note = "";
    if (m && m[1]) note = `Output cut at 100 KiB by agentd: ${fmt.bytes(Number(m[1]))} more not shown.`;
    else if (m && m[2]) note = `Output cut at ${fmt.bytes(Number(m[2]))} by agentd: the search stopped there.`;
    else if (m && m[3]) note = `Stopped after ${m[3]} entries.`;
    if (this.outputCut) note = `${note} The page shows the first ${fmt.bytes(OUTPUT_SHOWN_MAX)}.`.trim();
    this.truncEl.textContent = note;
    this.truncEl.hidden = !note;
  }

  // tool_end: {is_error, duration_ms, exit_status, signal, timed_out}
  end(e) {
    running.delete(this);
    this.endInfo = e;
    this.status = e.is_error ? "error" : "ok";
    this.showStatus();
  }

  // From a transcript's tool_result, when no tool_end was seen.
  result(isError, text) {
    this.setOutput(text);
    if (this.status === "running" || this.status === "pending") {
      running.delete(this);
      this.status = isError ? "error" : "ok";
      this.showStatus();
    }
  }

  // The turn ended while the tool had not (interrupted, failed).
  abandon() {
    if (this.status !== "running" && this.status !== "pending") return;
    running.delete(this);
    this.status = "error";
    this.endInfo = { stopped: true };
    this.showStatus();
  }

  showStatus() {
    let text;
    const e = this.endInfo || {};
    const took = e.duration_ms !== undefined && e.duration_ms !== null ? ` · ${fmt.duration(e.duration_ms)}` : "";
    if (this.status === "pending") text = "waiting";
    else if (this.status === "running") text = `running ${((performance.now() - this.started) / 1000).toFixed(1)} s`;
    else if (e.stopped) text = "stopped";
    else if (e.timed_out) text = `timed out${took}`;
    else if (e.signal) text = `killed by signal ${e.signal}${took}`;
    else if (typeof e.exit_status === "number") text = `exit ${e.exit_status}${took}`;
    else if (this.status === "error") text = `error${took}`;
    else text = took ? `done${took}` : "done";
    this.statusEl.textContent = text;
    this.el.dataset.status = this.status === "pending" ? "running" : this.status;
  }
}
