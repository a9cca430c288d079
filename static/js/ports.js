// The Servers panel: the ports of the session's sandbox that a server listens on
// (GET /api/sessions/{id}/ports), each a link to /api/sessions/{id}/ports/{port}/ that
// opens in a tab of its own. A tab cannot send the API token as a header: when agentd
// needs one, the page leaves it in a cookie that goes to that session's /ports/ paths
// only (agentd takes it there only, and never passes it on to the server).

import { api, getToken, sessionPath } from "./api.js";
import { $, h } from "./dom.js";

export class Ports {
  constructor() {
    this.id = null;
    this.gen = 0;
    $("ports-refresh").addEventListener("click", () => this.refresh());
    this.show(null);
  }

  show(id) {
    this.id = id;
    this.gen++;
    $("ports-refresh").disabled = !id;
    this.render([]);
    if (!id) return;
    const token = getToken();
    if (token && /^[A-Za-z0-9._~-]+$/.test(token))
      document.cookie = `agentd_token=${token}; Path=/api/sessions/${id}/ports/; SameSite=Strict`;
  }

  render(open) {
    const list = $("port-list");
    if (!open.length) {
      list.replaceChildren(h("li", { class: "muted", text: this.id ? "No server listens on the sandbox's ports yet." : "" }));
      return;
    }
    list.replaceChildren(...open.map((p) => h("li", {}, [
      h("a", { href: p.path, target: "_blank", rel: "noopener noreferrer", text: `Port ${p.port}` }),
    ])));
  }

  async refresh() {
    if (!this.id) return;
    const gen = this.gen;
    try {
      const j = await api("GET", sessionPath(this.id, "/ports"));
      if (gen === this.gen) this.render(j.ports.filter((p) => p.listening));
    } catch {
      if (gen === this.gen) this.render([]);
    }
  }
}
