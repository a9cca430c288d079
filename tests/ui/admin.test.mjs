// The operator's view: an admin token's page shows every session on the host with its
// owner, a session's command history, Kill (confirmed first) and Suspend, and the host's
// health; a page with another token shows none of it.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bashCall, text, uiTest, waitCount, waitFor, waitText } from "./harness.mjs";

const TOKENS = Object.fromEntries(["root", "alice", "bob"].map((n) => [n, `ui-${n}-${crypto.randomBytes(20).toString("hex")}`]));

/** A state directory whose token store holds root (an admin's), alice and bob. */
function stateWithTokens() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agentd-ui-admin-"));
  fs.chmodSync(dir, 0o755);
  const tokens = Object.entries(TOKENS).map(([name, t]) => ({
    name, sha256: crypto.createHash("sha256").update(t).digest("hex"), created: "2025-01-31T12:00:00Z",
    ...(name === "root" ? { admin: true } : {}),
  }));
  fs.writeFileSync(path.join(dir, "tokens.json"), JSON.stringify({ tokens }), { mode: 0o600 });
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const row = (page, sid) => page.locator(`#op-rows tr[data-session-id="${sid}"]`);

async function usePageToken(w, token) {
  await w.context.addInitScript((t) => { localStorage.setItem("agentd.token", t); }, token);
}

async function sessionWithTurn(w, token, pattern, command, reply) {
  const r = await w.api("POST", "/api/sessions", { token, body: { pattern, title: `${pattern} of ${reply}` } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await w.mock.enqueue(bashCall(command), text(reply));
  const t = await w.api("POST", `/api/sessions/${r.json.id}/messages`, { token, body: { message: "go" } });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  return r.json.id;
}

uiTest("the operator's view: the host's sessions with their owners, a history, Kill and Suspend",
  { settings: { state_dir: stateWithTokens() } }, async (w) => {
    const page = w.page;
    const a = await sessionWithTurn(w, TOKENS.alice, "long-running", "echo alice-was-here > notes.txt", "alice");
    const b = await sessionWithTurn(w, TOKENS.bob, "hybrid", "ls -la /workspace", "bob");
    await usePageToken(w, TOKENS.root);
    await w.open();
    const toggle = page.locator("#toggle-operator");
    await toggle.waitFor({ state: "visible" });
    // by keyboard: the button opens the view, which takes the focus
    await toggle.focus();
    await page.keyboard.press("Enter");
    await page.locator("#operator").waitFor({ state: "visible" });
    assert.equal(await toggle.getAttribute("aria-expanded"), "true");
    assert.equal(await page.evaluate(() => document.activeElement.id), "operator-title");

    await waitCount(page.locator("#op-rows tr"), 2);
    await waitText(row(page, a).locator(".op-owner"), "alice");
    await waitText(row(page, b).locator(".op-owner"), "bob");
    await waitText(row(page, a).locator(".op-state"), /idle|ready/);
    await waitText(row(page, a).locator(".op-memory"), /\d+(\.\d)? (B|KiB|MiB)/);
    await waitText(row(page, a).locator(".op-cost"), /^\$/);
    await waitText(page.locator("#op-totals"), /2 sessions .* in all/);
    await waitText(page.locator("#host-health"), /Version\s*\d+\.\d+/);
    await waitText(page.locator("#host-health"), /Warm pool\s*0 ready of 0/);
    await waitText(page.locator("#host-health"), /Sessions alive\s*2/);

    // what a screen reader is told
    const tree = await page.locator("body").ariaSnapshot();
    for (const [role, name] of [["region", "Operator"], ["region", "Host"], ["table", "Sessions on this host"],
      ["button", "Back to the chat"]])
      assert.ok(tree.includes(`- ${role} "${name}"`), `no ${role} named "${name}":\n${tree}`);
    const unnamed = tree.split("\n").filter((l) => /^\s*- (button|link|textbox|combobox)(\s*\[[^\]]*\])*:?\s*$/.test(l));
    assert.deepEqual(unnamed, [], `controls without a name:\n${tree}`);

    // a session chosen by keyboard: its history
    await row(page, a).locator("button.op-open").focus();
    await page.keyboard.press("Enter");
    await page.locator("#op-detail").waitFor({ state: "visible" });
    await waitText(page.locator("#op-detail-title"), "alice");
    await waitText(page.locator("#op-history-rows"), "echo alice-was-here > notes.txt");
    await waitText(page.locator("#op-history-rows"), "exit 0");
    assert.equal(await row(page, a).getAttribute("aria-current"), "true");
    assert.equal(await page.locator("#op-suspend").isDisabled(), true, "a long-running session cannot be suspended");
    await w.screenshot("operator.png");

    // bob's hybrid session: Suspend
    await row(page, b).locator("button.op-open").click();
    await waitText(page.locator("#op-history-rows"), "ls -la /workspace");
    await waitFor(() => page.locator("#op-suspend").isEnabled(), { what: "Suspend to be enabled for the hybrid session" });
    await page.locator("#op-suspend").click();
    await waitText(page.locator("#op-note"), /is suspended/);
    await waitText(row(page, b).locator(".op-state"), "suspended");
    assert.equal((await w.api("GET", `/api/sessions/${b}`, { token: TOKENS.bob })).json.state, "suspended");

    // alice's: Kill, confirmed first; gone from the table and for alice
    await row(page, a).locator("button.op-open").click();
    await waitText(page.locator("#op-detail-title"), "alice");
    await page.locator("#op-kill").click();
    await waitCount(row(page, a), 0);
    await waitText(page.locator("#op-note"), /was killed/);
    const asked = w.dialogs.filter((d) => d.type === "confirm");
    assert.equal(asked.length, 1, JSON.stringify(w.dialogs));
    assert.match(asked[0].message, /Kill .* of alice\?/);
    assert.equal((await w.api("GET", `/api/sessions/${a}`, { token: TOKENS.alice })).status, 404);
    assert.equal(await page.locator("#op-detail").isVisible(), false, "the killed session's details are gone");

    // back to the chat (Escape, as the button); the view stops refreshing once hidden
    await page.keyboard.press("Escape");
    await page.locator("#operator").waitFor({ state: "hidden" });
    assert.equal(await page.evaluate(() => document.activeElement.id), "toggle-operator");
    await page.locator("#prompt").waitFor({ state: "visible" });
    assert.equal(await page.locator("#operator").getAttribute("data-refreshing"), "0");
    const before = w.requests.filter((u) => u.includes("/api/admin/sessions")).length;

    // phone width: the view fits, the table scrolls inside itself
    await page.setViewportSize({ width: 390, height: 800 });
    await toggle.click();
    await page.locator("#operator").waitFor({ state: "visible" });
    assert.equal(await page.locator("#operator").getAttribute("data-refreshing"), "1");
    await waitCount(page.locator("#op-rows tr"), 1);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone`);
    await w.screenshot("operator-phone.png");
    assert.ok(w.requests.filter((u) => u.includes("/api/admin/sessions")).length > before);
  });

uiTest("a page with a token that is not an admin's shows no operator view",
  { settings: { state_dir: stateWithTokens() } }, async (w) => {
    const page = w.page;
    await usePageToken(w, TOKENS.alice);
    await w.open();
    await waitFor(() => w.requests.some((u) => u.endsWith("/api/whoami")), { what: "the page to ask who it is" });
    await page.locator("#session-list").waitFor({ state: "attached" });
    await page.waitForFunction(() => document.body.dataset.ready === "1");
    assert.equal(await page.locator("#toggle-operator").isVisible(), false);
    assert.equal(await page.locator("#operator").isVisible(), false);
    assert.ok(!w.requests.some((u) => u.includes("/api/admin/")), "a non-admin page asks nothing of the admin API");
    const tree = await page.locator("body").ariaSnapshot();
    assert.ok(!tree.includes("Operator"), tree);
  });
