// The Usage panel: the session's tokens and cost, and its sandbox's live resources.

import { $, h } from "./dom.js";
import * as fmt from "./format.js";

function rows(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
}

export function showSession(info) {
  const u = info?.usage;
  const dl = $("session-usage");
  if (!info) {
    rows(dl, []);
  } else {
    rows(dl, [
      ["Turns", String(info.turns ?? 0)],
      ["Input tokens", String(u?.input_tokens ?? 0)],
      ["Output tokens", String(u?.output_tokens ?? 0)],
      ["Cache read", String(u?.cache_read_input_tokens ?? 0)],
      ["Cache write", String(u?.cache_creation_input_tokens ?? 0)],
      ["Cost", fmt.cost(info.cost_usd ?? 0)],
    ]);
  }
  const r = info?.resources;
  const res = $("session-resources");
  if (!info) {
    rows(res, []);
  } else if (!r) {
    rows(res, [["Sandbox", info.state === "suspended" ? "suspended (saved on disk)" : "not running"]]);
  } else {
    rows(res, [
      ["Memory", `${fmt.bytes(r.memory_bytes)} (peak ${fmt.bytes(r.memory_peak_bytes)})`],
      ["CPU", `${(r.cpu_seconds ?? 0).toFixed(2)} s`],
      ["Processes", String(r.pids ?? 0)],
    ]);
  }
}
