// The message box: Enter sends, Shift+Enter makes a new line; disabled, saying why, while
// agentd cannot run a turn (no API key, sandboxes cannot start); Stop while a turn runs.

import { $ } from "./dom.js";

export class Composer {
  // hooks: onSend(text) -> Promise<bool> (false: keep the text), onStop()
  constructor(hooks) {
    this.hooks = hooks;
    this.box = $("prompt");
    this.send = $("send");
    this.stop = $("stop");
    this.blocked = "";   // why agentd cannot take messages now
    this.running = false;
    this.busy = false;   // a session is being made for the first message
    $("composer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.box.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.box.addEventListener("input", () => this.grow());
    this.stop.addEventListener("click", () => this.hooks.onStop());
    this.update();
  }

  grow() {
    this.box.style.height = "auto";
    this.box.style.height = `${Math.min(this.box.scrollHeight, 240)}px`;
  }

  async submit() {
    const text = this.box.value;
    if (!text.trim() || this.blocked || this.running || this.busy) return;
    this.busy = true;
    this.update();
    this.box.value = "";
    this.grow();
    let ok = false;
    try {
      ok = await this.hooks.onSend(text);
    } finally {
      this.busy = false;
      if (!ok && !this.box.value) this.box.value = text;
      this.update();
      this.grow();
    }
  }

  setBlocked(reason) {
    this.blocked = reason || "";
    this.update();
  }

  setRunning(running) {
    this.running = running;
    this.update();
  }

  update() {
    const note = $("composer-note");
    this.box.disabled = !!this.blocked;
    this.send.disabled = !!this.blocked || this.running || this.busy;
    this.stop.hidden = !this.running;
    if (this.blocked) note.textContent = this.blocked;
    else if (this.running) note.textContent = "The agent is working. Stop ends its turn.";
    else note.textContent = "";
    this.box.placeholder = this.blocked ? "Messages cannot be sent now" : "Message the agent (Enter sends, Shift+Enter: new line)";
  }

  focus() {
    if (!this.box.disabled) this.box.focus();
  }
}
