// The Workspace panel: /workspace of the session shown, listed, viewed, downloaded and
// uploaded to (PUT, up to 4 MiB a file: larger ones are refused here before sending).

import { api, authedFetch, errorOf, filesPath, getToken, sessionPath } from "./api.js";
import { $, h } from "./dom.js";
import * as fmt from "./format.js";

export const UPLOAD_MAX = 4 * 1024 * 1024;
const VIEW_MAX = 1024 * 1024;

const join = (dir, name) => (dir ? `${dir}/${name}` : name);
const SUSPENDED_NOTE = "The session is suspended: its files are saved, and come back with its next message.";

export class Workspace {
  // hooks: state(), the session's state as the page last heard it (or undefined)
  constructor(hooks = {}) {
    this.hooks = hooks;
    this.stale = false;
    this.id = null;
    this.dir = "";
    this.gen = 0;
    this.timer = null;
    $("files-up").addEventListener("click", () => this.cd(this.dir.split("/").slice(0, -1).join("/")));
    $("files-refresh").addEventListener("click", () => this.list(true));
    $("upload").addEventListener("change", (ev) => {
      this.upload([...ev.target.files]);
      ev.target.value = "";
    });
    $("file-view-close").addEventListener("click", () => this.closeView());
    const zone = $("dropzone");
    zone.addEventListener("dragover", (ev) => {
      if (!this.id || !ev.dataTransfer?.types?.includes("Files")) return;
      ev.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", (ev) => {
      if (!zone.contains(ev.relatedTarget)) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (ev) => {
      zone.classList.remove("dragging");
      if (!this.id || !ev.dataTransfer?.files?.length) return;
      ev.preventDefault();
      this.upload([...ev.dataTransfer.files]);
    });
    this.show(null);
  }

  note(text) {
    $("workspace-note").textContent = text;
  }

  // The session shown (its files are listed by list(), once its state is known).
  show(id) {
    this.id = id;
    this.dir = "";
    this.gen++;
    this.disarm();
    this.closeView();
    this.note("");
    this.stale = !!id; // listed once the sandbox is up, or at the end of the turn that starts it
    $("upload").disabled = !id;
    $("files-refresh").disabled = !id;
    $("files-path").textContent = "/workspace";
    $("files-up").disabled = true;
    $("files").replaceChildren(h("li", { class: "files-empty",
      text: id ? "Loading…" : "No session yet: send a message to start one." }));
  }

  cd(dir) {
    this.dir = dir;
    this.list();
  }

  // A tool may have changed the files: list again, once for a burst of tool ends
  // (agentd lists a session's files during its turns too: its supervisor reads them).
  // A listing so armed counts as on its way (#workspace data-busy) until it is done.
  changed() {
    clearTimeout(this.timer);
    if (!this.armed) {
      this.armed = true;
      this.busy(+1);
    }
    this.timer = setTimeout(() => {
      if (!this.armed) return;
      this.armed = false;
      this.list().finally(() => this.busy(-1));
    }, 300);
  }

  disarm() {
    clearTimeout(this.timer);
    if (this.armed) {
      this.armed = false;
      this.busy(-1);
    }
  }

  // Requests of the panel on their way or armed (d: +1, -1); #workspace's data-busy says
  // when there are any (for tests that act on the files beside the page).
  busy(d) {
    this.pending = (this.pending || 0) + d;
    $("workspace").dataset.busy = this.pending ? "1" : "0";
  }

  // The turn is over, or the session's sandbox is up again: a listing that agentd could
  // not answer meanwhile is tried again.
  turnEnded() {
    if (this.stale) this.changed();
  }

  // asked: the Refresh button.
  async list(asked = false) {
    if (!this.id) return;
    this.stale = false;
    if (this.listQueued) return; // one listing waiting is enough
    this.listQueued = true;
    await this.serial(() => {
      this.listQueued = false;
      return this.fetchList(this.gen, this.dir, asked);
    });
  }

  // The panel's requests go one after the other: agentd changes a session's files one
  // operation at a time (another meanwhile: 409). #workspace's data-busy says when one is
  // on its way (for tests that act on the files beside the page).
  serial(fn) {
    this.busy(+1);
    const run = (this.chain || Promise.resolve()).then(fn).finally(() => this.busy(-1));
    this.chain = run.catch(() => {});
    return run;
  }

  // Resolves once no request of the panel is on its way.
  settled() {
    return this.chain || Promise.resolve();
  }

  // Why the files could not be listed (a 404 or 409): a suspended session says so, and
  // the panel lists them again once the session's turn is over.
  async explain(gen, err) {
    let info = null;
    try {
      info = await api("GET", sessionPath(this.id));
    } catch {
      // the listing's own error says it
    }
    if (gen !== this.gen) return;
    this.stale = true;
    const text = info?.state === "suspended" ? SUSPENDED_NOTE
      : err.status === 409 ? "The sandbox is busy: its files are listed again when it is done."
        : `The files could not be listed: ${err.message}`;
    $("files").replaceChildren(h("li", { class: "files-empty", text }));
  }

  async fetchList(gen, dir, asked) {
    $("files-path").textContent = `/workspace${dir ? `/${dir}` : ""}`;
    $("files-up").disabled = !dir;
    if (this.hooks.state?.() === "suspended") {
      // no sandbox to ask (agentd would answer 409): listed once a message resumes it
      this.stale = true;
      $("files").replaceChildren(h("li", { class: "files-empty", text: SUSPENDED_NOTE }));
      return;
    }
    let j;
    try {
      j = await api("GET", `${filesPath(this.id, dir)}/`.replace(/\/\/$/, "/"));
    } catch (err) {
      if (gen !== this.gen) return;
      if (err.status === 404 && dir) return this.cd("");
      if (err.status === 404 || err.status === 409) return this.explain(gen, err);
      $("files").replaceChildren(h("li", { class: "files-empty", text: `The files could not be listed: ${err.message}` }));
      return;
    }
    if (gen !== this.gen || dir !== this.dir) return;
    const entries = (j.entries || []).sort((a, b) =>
      (a.type === "dir" ? 0 : 1) - (b.type === "dir" ? 0 : 1) || a.name.localeCompare(b.name));
    const ul = $("files");
    if (!entries.length) {
      ul.replaceChildren(h("li", { class: "files-empty", text: "Empty. Upload files here, or ask the agent to make some." }));
      return;
    }
    ul.replaceChildren(...entries.map((e) => this.item(e)));
    if (asked) this.note("");
  }

  item(e) {
    const path = join(this.dir, e.name);
    const isDir = e.type === "dir";
    const li = h("li", { class: "file", dataset: { path, type: isDir ? "dir" : "file" } },
      h("button", { type: "button", class: "file-open", "aria-label": isDir ? `Open folder ${e.name}` : `View ${e.name}`,
        onclick: () => (isDir ? this.cd(path) : this.view(path)) },
      h("span", { class: "file-name", text: isDir ? `${e.name}/` : e.name })),
      h("span", { class: "file-size", text: isDir ? "" : fmt.bytes(e.size) }));
    if (!isDir) {
      const url = filesPath(this.id, path);
      li.append(h("a", { class: "file-download", href: url, download: e.name, "aria-label": `Download ${e.name}`,
        title: "Download", text: "⤓", onclick: (ev) => this.download(ev, url, e.name) }));
    }
    return li;
  }

  // With a token the browser's own download cannot send it: fetch, then a blob URL.
  async download(ev, url, name) {
    if (!getToken()) return;
    ev.preventDefault();
    try {
      const blob = await this.serial(async () => {
        const res = await authedFetch(url);
        if (!res.ok) throw await errorOf(res);
        return res.blob();
      });
      const a = h("a", { href: URL.createObjectURL(blob), download: name, class: "offscreen" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (err) {
      this.note(`${name} could not be downloaded: ${err.message}`);
    }
  }

  async view(path) {
    const gen = this.gen;
    const id = this.id;
    try {
      const buf = await this.serial(async () => {
        const res = await authedFetch(filesPath(id, path));
        if (!res.ok) throw await errorOf(res);
        return res.arrayBuffer();
      });
      if (gen !== this.gen) return;
      const head = new Uint8Array(buf, 0, Math.min(buf.byteLength, 8192));
      let text;
      if (head.includes(0)) {
        text = `(${fmt.bytes(buf.byteLength)} of binary data: download it to look inside)`;
      } else {
        text = new TextDecoder().decode(buf.slice(0, VIEW_MAX));
        if (buf.byteLength > VIEW_MAX) text += `\n… (the first ${fmt.bytes(VIEW_MAX)} of ${fmt.bytes(buf.byteLength)})`;
      }
      $("file-view-name").textContent = path;
      $("file-view").textContent = text;
      $("file-viewer").hidden = false;
    } catch (err) {
      this.note(`${path} could not be opened: ${err.message}`);
    }
  }

  closeView() {
    $("file-viewer").hidden = true;
    $("file-view").textContent = "";
  }

  async upload(files) {
    if (!this.id || !files.length) return;
    const id = this.id;
    const dir = this.dir;
    const done = [];
    const refused = [];
    for (const f of files) {
      if (f.size > UPLOAD_MAX) {
        refused.push(`${f.name} is ${fmt.bytes(f.size)}: files go up to 4 MiB each`);
        continue;
      }
      this.note(`Uploading ${f.name}…`);
      try {
        await this.serial(() => api("PUT", filesPath(id, join(dir, f.name)), {
          body: f, headers: { "Content-Type": "application/octet-stream" },
        }));
        done.push(f.name);
      } catch (err) {
        refused.push(`${f.name} was not uploaded: ${err.message}`);
      }
    }
    const parts = [];
    if (done.length) parts.push(`Uploaded ${done.join(", ")}.`);
    if (refused.length) parts.push(`${refused.join(". ")}.`);
    this.note(parts.join(" "));
    if (id === this.id) this.list();
  }
}
