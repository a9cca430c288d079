// The session shown: its transcript, then its live events (one /events stream open while
// it is shown, resumed with Last-Event-ID), its state, usage and resources.

import { api, sessionPath, ApiError } from "./api.js";
import { EventStream } from "./sse.js";
import { $ } from "./dom.js";
import { showSession } from "./usage_panel.js";

const POLL_MS = 3000;
const FALLBACK_QUIET_MS = 300;

export class SessionView {
  // hooks: conversation, onInfo(info), onTurnEnd(), onToolEnd(name, input), onGone(err)
  constructor(hooks) {
    this.hooks = hooks;
    this.conv = hooks.conversation;
    this.id = null;
    this.gen = 0;
    this.stream = null;
    this.info = null;
    this.timer = null;
    this.opening = Promise.resolve();
  }

  close() {
    this.gen++;
    if (this.stream) this.stream.stop();
    this.stream = null;
    clearInterval(this.timer);
    this.timer = null;
    this.id = null;
    this.info = null;
    $("stream-note").hidden = true;
    this.setBanner("");
    showSession(null);
  }

  async open(id) {
    this.close();
    this.id = id;
    const gen = this.gen;
    this.conv.reset();
    this.opening = this.load(gen);
    await this.opening;
    if (gen !== this.gen) return;
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  // Transcript, then the events after it.
  async load(gen, lastGapAt) {
    let info;
    let tr;
    try {
      [info, tr] = await Promise.all([api("GET", sessionPath(this.id)), api("GET", sessionPath(this.id, "/messages"))]);
    } catch (err) {
      if (gen === this.gen) this.gone(err);
      return;
    }
    if (gen !== this.gen) return;
    this.setInfo(info);
    this.conv.renderTranscript(tr.messages, info.state === "running", tr.turns);
    api("GET", sessionPath(this.id, "/history")).then((hst) => {
      if (gen === this.gen) this.conv.fillHistory(hst.history);
    }, () => {});
    const eventId = typeof tr.event_id === "number" ? tr.event_id : null;
    this.listen(gen, eventId, lastGapAt);
  }

  listen(gen, eventId, lastGapAt) {
    if (this.stream) this.stream.stop();
    const opened = performance.now();
    let skipping = eventId === null; // an agentd without event_id: see below
    let first = true;
    this.stream = new EventStream(sessionPath(this.id, "/events"), {
      onEvent: (type, data, id, expected) => {
        if (gen !== this.gen) return;
        if (skipping) {
          // The transcript is shown but where it ends among the events is not known: an
          // event log kept from its start is rendered instead; otherwise the replay (one
          // burst on connecting) is passed over and the live events are shown.
          if (first && id === 1) {
            if (!this.conv.pending) this.conv.reset(); // (a message sent meanwhile is in the log)
            skipping = false;
          } else if (performance.now() - opened < FALLBACK_QUIET_MS) {
            first = false;
            return;
          } else {
            skipping = false;
          }
        } else if (id && expected && id !== expected) {
          // Events were missed (older ones gone, or ids skipped): the transcript again. When
          // the same place is missed twice (a reply in progress longer than the log keeps),
          // go on: the reply's message replaces what was shown of it when the call ends.
          if (lastGapAt !== eventId) {
            this.stream.stop();
            this.load(gen, eventId);
            return;
          }
        }
        first = false;
        this.conv.event(type, data);
        if (type === "done" || type === "error" || type === "ready" || type === "warning") {
          this.refresh();
          if (type === "done" || type === "error") this.hooks.onTurnEnd();
        }
        if (type === "tool_end") this.hooks.onToolEnd(data.name, this.conv.findCard(data.id)?.input);
      },
      onComment: () => {},
      onStatus: (s) => {
        if (gen !== this.gen) return;
        $("conversation").dataset.stream = s;
        $("stream-note").hidden = s !== "reconnecting";
      },
      onGone: (err) => { if (gen === this.gen) this.gone(err); },
      shouldReconnect: async () => {
        // The stream ends when the session does (failed, deleted): look before reconnecting.
        await this.refresh();
        const again = gen === this.gen && this.info && this.info.state !== "failed" && this.info.state !== "destroyed";
        if (!again && gen === this.gen) $("stream-note").hidden = true;
        return again;
      },
    }).start(eventId || 0);
  }

  // A new session's sandbox is being built ("creating"): a turn can start once it is up.
  async waitReady() {
    const gen = this.gen;
    for (let delay = 50; gen === this.gen && this.info && this.info.state === "creating";) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
      await this.refresh();
    }
    return gen === this.gen;
  }

  async refresh() {
    if (!this.id) return;
    const gen = this.gen;
    try {
      const info = await api("GET", sessionPath(this.id));
      if (gen === this.gen) this.setInfo(info);
    } catch (err) {
      if (gen === this.gen && err instanceof ApiError && err.status === 404) this.gone(err);
    }
  }

  setInfo(info) {
    this.info = info;
    showSession(info);
    if (info.state === "suspended")
      this.setBanner("This hybrid session is suspended: your next message resumes it.");
    else if (info.state === "failed")
      this.setBanner(`This session failed: ${info.error || "its sandbox is gone"}. Start a new chat to go on.`);
    else if (info.state === "destroyed")
      this.setBanner("This session has ended. Start a new chat to go on.");
    else
      this.setBanner("");
    if ((info.state === "failed" || info.state === "destroyed") && this.conv.running) this.conv.abandon();
    this.hooks.onInfo(info);
  }

  gone(err) {
    if (this.stream) this.stream.stop();
    $("stream-note").hidden = true;
    clearInterval(this.timer);
    this.conv.abandon();
    this.info = { state: "destroyed" };
    this.setBanner(`${err.message || "This session is gone"}. Start a new chat to go on.`);
    this.hooks.onGone(err);
  }

  setBanner(text) {
    const b = $("session-banner");
    b.textContent = text;
    b.hidden = !text;
  }
}
