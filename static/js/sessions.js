// The sidebar: the user's sessions (GET /api/sessions), the one shown, rename and delete.

import { api, sessionPath } from "./api.js";
import { $, h } from "./dom.js";
import * as fmt from "./format.js";

const REFRESH_MS = 10000;
export const TITLE_MAX = 60;

export const titleOf = (s) => (s && s.title) || "New chat";

export class SessionList {
  // hooks: onOpen(id), onDelete(id) (before it is deleted), onError(message)
  constructor(hooks) {
    this.hooks = hooks;
    this.ul = $("session-list");
    this.sessions = [];
    this.active = null;
    this.editing = false;
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    if (this.editing) return;
    try {
      const j = await api("GET", "/api/sessions");
      this.sessions = (j.sessions || []).sort((a, b) => (b.last_active || 0) - (a.last_active || 0));
      if (!this.editing) this.render();
      this.hooks.onError("");
    } catch (err) {
      this.hooks.onError(`The sessions could not be listed: ${err.message}`);
    }
  }

  get(id) {
    return this.sessions.find((s) => s.id === id);
  }

  // A session's newer state (GET /api/sessions/{id}) without waiting for the next list.
  update(info) {
    if (!info || !info.id) return;
    const i = this.sessions.findIndex((s) => s.id === info.id);
    if (i < 0) this.sessions.unshift(info);
    else this.sessions[i] = { ...this.sessions[i], ...info };
    if (!this.editing) this.render();
  }

  setActive(id) {
    this.active = id;
    this.shown = null;
    for (const li of this.ul.children) {
      if (li.dataset.sessionId === id) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
    }
  }

  render() {
    // Drawn again only when what it shows changed, keeping the focus where it was.
    const shown = JSON.stringify(this.sessions.map((s) => [s.id, s.title, s.state, s.turns, s.cost_usd,
      fmt.ago(s.last_active), s.id === this.active]));
    if (shown === this.shown) return;
    this.shown = shown;
    const focused = document.activeElement;
    const li = focused?.closest?.("li.session");
    const where = li && this.ul.contains(li) ? [li.dataset.sessionId, focused.className.split(" ")[0]] : null;
    const items = this.sessions.map((s) => this.item(s));
    this.ul.replaceChildren(...items);
    $("sessions-empty").hidden = items.length > 0;
    if (where) this.ul.querySelector(`li[data-session-id="${CSS.escape(where[0])}"] .${where[1]}`)?.focus();
  }

  item(s) {
    const title = titleOf(s);
    const meta = [fmt.ago(s.last_active), fmt.plural(s.turns || 0, "turn"), fmt.cost(s.cost_usd || 0)];
    if (s.pattern === "hybrid") meta.unshift("hybrid");
    const li = h("li", { class: "session", dataset: { sessionId: s.id, state: s.state } },
      h("button", { type: "button", class: "session-open", title, text: title,
        onclick: () => this.hooks.onOpen(s.id) }),
      h("span", { class: "session-state", text: s.state }),
      h("span", { class: "session-meta", text: meta.join(" · ") }),
      h("span", { class: "session-actions" },
        h("button", { type: "button", class: "session-rename icon", "aria-label": `Rename ${title}`, title: "Rename",
          text: "✎", onclick: () => this.rename(li, s) }),
        h("button", { type: "button", class: "session-delete icon", "aria-label": `Delete ${title}`, title: "Delete",
          text: "✕", onclick: () => this.remove(s) })));
    if (s.id === this.active) li.setAttribute("aria-current", "true");
    return li;
  }

  rename(li, s) {
    const open = li.querySelector(".session-open");
    const input = h("input", { type: "text", class: "session-title-input", maxlength: "200",
      "aria-label": `New title for ${titleOf(s)}` });
    input.value = s.title || "";
    this.editing = true;
    this.shown = null;
    open.replaceWith(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      this.editing = false;
      const title = input.value.trim();
      if (save && title !== (s.title || "")) {
        try {
          await this.setTitle(s.id, title);
        } catch (err) {
          this.hooks.onError(`The session could not be renamed: ${err.message}`);
        }
      }
      this.render();
      this.ul.querySelector(`li[data-session-id="${CSS.escape(s.id)}"] .session-rename`)?.focus();
    };
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        finish(true);
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  async setTitle(id, title) {
    const info = await api("PATCH", sessionPath(id), { json: { title } });
    const s = this.get(id);
    if (s) s.title = info && typeof info.title === "string" ? info.title : title;
    this.render();
  }

  async remove(s) {
    if (!confirm(`Delete “${titleOf(s)}”? Its sandbox, files and conversation go with it.`)) return;
    this.hooks.onDelete(s.id); // the page leaves it first: nothing asks for it once it is gone
    try {
      await api("DELETE", sessionPath(s.id));
    } catch (err) {
      if (err.status !== 404) {
        this.hooks.onError(`The session could not be deleted: ${err.message}`);
        return;
      }
    }
    this.sessions = this.sessions.filter((x) => x.id !== s.id);
    this.render();
    this.refresh();
  }
}
