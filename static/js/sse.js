// Server-Sent Events over fetch(): EventSource cannot send the Authorization header.
// readEvents() parses a response body; EventStream keeps a session's /events open,
// reconnecting with Last-Event-ID after 0.5 s, doubling up to 5 s.

import { authedFetch, errorOf } from "./api.js";

// Calls onEvent({id, event, data}) for each event and onComment(text) for each ": " line.
export async function readEvents(body, onEvent, onComment) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let ev = { id: null, event: "message", data: [] };
  const line = (l) => {
    if (l === "") {
      if (ev.data.length) onEvent({ id: ev.id, event: ev.event, data: ev.data.join("\n") });
      ev = { id: null, event: "message", data: [] };
      return;
    }
    if (l[0] === ":") {
      onComment(l.slice(1).trimStart());
      return;
    }
    const colon = l.indexOf(":");
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") ev.data.push(value);
    else if (field === "event") ev.event = value;
    else if (field === "id") ev.id = value;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let start = 0;
    const eol = /\r\n|\r|\n/g;
    for (let m; (m = eol.exec(buf)) !== null;) {
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (m[0] === "\r" && m.index + 1 === buf.length) break;
      line(buf.slice(start, m.index));
      start = m.index + m[0].length;
    }
    buf = buf.slice(start);
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

export class EventStream {
  // handlers: onEvent(type, data, id), onComment(text), onStatus("open"|"reconnecting"),
  // onGone(ApiError) (404: the session is no more), shouldReconnect() -> Promise<bool>
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    this.lastId = 0;
    this.ctl = new AbortController();
    this.stopped = false;
  }

  start(lastId) {
    this.lastId = lastId || 0;
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.ctl.abort();
  }

  async run() {
    let delay = 500;
    const signal = this.ctl.signal;
    while (!this.stopped) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (this.lastId > 0) headers["Last-Event-ID"] = String(this.lastId);
        const res = await authedFetch(this.url, { headers, signal, cache: "no-store" });
        if (this.stopped) return;
        if (res.status === 404) {
          this.h.onGone(await errorOf(res));
          return;
        }
        if (!res.ok) throw await errorOf(res);
        this.h.onStatus("open");
        await readEvents(res.body, (e) => {
          if (this.stopped) return;
          delay = 500;
          const id = Number(e.id);
          let data;
          try {
            data = JSON.parse(e.data);
          } catch {
            data = { raw: e.data };
          }
          if (id > 0) {
            const expected = this.lastId + 1;
            this.lastId = id;
            this.h.onEvent(e.event, data, id, expected);
          } else {
            this.h.onEvent(e.event, data, 0, 0);
          }
        }, (c) => { if (!this.stopped) this.h.onComment(c); });
      } catch (e) {
        if (this.stopped || e.name === "AbortError") return;
      }
      if (this.stopped) return;
      if (this.h.shouldReconnect && !(await this.h.shouldReconnect())) return;
      if (this.stopped) return;
      this.h.onStatus("reconnecting");
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
