// Shows what /api/health reports about this host.
"use strict";

function fact(dl, name, value, good) {
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = name;
  dd.textContent = value;
  if (good !== undefined) dd.className = good ? "ok" : "bad";
  dl.append(dt, dd);
}

async function showHealth() {
  const status = document.getElementById("status");
  const dl = document.getElementById("facts");
  try {
    const res = await fetch("/api/health");
    const h = await res.json();
    const sb = h.sandbox;
    status.textContent = `agentd ${h.version}: ${h.status}, up ${h.uptime_s} s`;
    status.className = h.status === "ok" ? "ok" : "bad";
    fact(dl, "Sandboxes", sb.ready ? "can start" : `cannot start: ${sb.reason}`, sb.ready);
    const ns = Object.entries(sb.namespaces).filter(([, ok]) => !ok).map(([n]) => n);
    fact(dl, "Namespaces", ns.length ? `missing: ${ns.join(", ")}` : "all", ns.length === 0);
    fact(dl, "seccomp", sb.seccomp.available ? "filters work" : "unavailable", sb.seccomp.available);
    fact(dl, "cgroups", `${sb.cgroup.version}: ${sb.cgroup.writable.join(", ") || "none writable"}`,
         sb.cgroup.version !== "none");
    fact(dl, "API key", h.anthropic.api_key_configured ? "configured" : "not set (ANTHROPIC_API_KEY)",
         h.anthropic.api_key_configured);
  } catch (e) {
    status.textContent = `cannot reach /api/health: ${e}`;
    status.className = "bad";
  }
}

showHealth();
