// How numbers are shown: bytes, durations, tokens, money, times.

export function bytes(n) {
  if (n === undefined || n === null) return "–";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function tokens(n) {
  if (n === undefined || n === null) return "0";
  return n < 10000 ? String(n) : `${(n / 1000).toFixed(n < 100000 ? 1 : 0)}k`;
}

export function cost(usd) {
  if (usd === undefined || usd === null) return "";
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(usd < 10 ? 3 : 2)}`;
}

// A usage object ({input_tokens, output_tokens, cache_read_input_tokens,
// cache_creation_input_tokens}) as one line.
export function usage(u, usd) {
  if (!u) return "";
  const parts = [`${tokens(u.input_tokens)} in`, `${tokens(u.output_tokens)} out`];
  if (u.cache_read_input_tokens) parts.push(`${tokens(u.cache_read_input_tokens)} cache read`);
  if (u.cache_creation_input_tokens) parts.push(`${tokens(u.cache_creation_input_tokens)} cache write`);
  if (usd !== undefined && usd !== null) parts.push(cost(usd));
  return parts.join(" · ");
}

// Unix seconds as "12 s ago", "5 min ago", "3 h ago", or a date.
export function ago(unixSeconds) {
  if (!unixSeconds) return "";
  const d = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (d < 60) return `${Math.round(d)} s ago`;
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
