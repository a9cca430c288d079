// The lines an edit changed, for a str_replace card: lines the old and new text share at
// their start and end are context; the rest of old_str is removed, the rest of new_str added.

import { h } from "./dom.js";

const MAX_LINES = 400; // a card shows at most this many diff lines

export function lineDiff(oldText, newText) {
  const a = (oldText ?? "").split("\n");
  const b = (newText ?? "").split("\n");
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let post = 0;
  while (post < a.length - pre && post < b.length - pre &&
         a[a.length - 1 - post] === b[b.length - 1 - post]) post++;
  const rows = [];
  for (let i = 0; i < pre; i++) rows.push([" ", a[i]]);
  for (let i = pre; i < a.length - post; i++) rows.push(["-", a[i]]);
  for (let i = pre; i < b.length - post; i++) rows.push(["+", b[i]]);
  for (let i = a.length - post; i < a.length; i++) rows.push([" ", a[i]]);
  return rows;
}

// rows of [mark, text] as a .diff block: .del, .add and .ctx lines.
export function diffView(rows, label) {
  const cls = { "-": "del", "+": "add", " ": "ctx" };
  const shown = rows.slice(0, MAX_LINES);
  const pre = h("pre", { class: "diff", "aria-label": label || "Changed lines" },
    shown.map(([m, t]) => h("span", { class: cls[m] }, `${m} ${t}\n`)));
  if (rows.length > MAX_LINES) pre.append(h("span", { class: "ctx" }, `… ${rows.length - MAX_LINES} more lines\n`));
  return pre;
}

export function addedLines(text) {
  return (text ?? "").split("\n").map((t) => ["+", t]);
}
