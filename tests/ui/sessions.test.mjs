// The session list: switching, renaming, deleting.

import assert from "node:assert/strict";
import { bashCall, text, uiTest, waitCount, waitFor, waitText } from "./harness.mjs";

const item = (page, sid) => page.locator(`#session-list li.session[data-session-id="${sid}"]`);

/** Start a chat through the page (New chat, then a message) and wait for its reply. */
async function chat(w, message, reply, page = w.page) {
  await w.mock.enqueue(text(reply));
  await page.locator("#new-session").click();
  await w.send(message, page);
  const sid = await waitFor(async () => {
    const m = new URL(page.url()).hash.match(/^#\/s\/(sess_[A-Za-z0-9_.-]+)$/);
    return m && (await page.locator("#conversation").innerText()).includes(message) ? m[1] : false;
  }, { what: `the session of "${message}" to be active` });
  await waitText(w.turn(0, page).locator(".msg-assistant"), reply);
  await w.waitIdle(page);
  return sid;
}

uiTest("switching sessions shows each one's own conversation, and the URL opens it", async (w) => {
  const page = w.page;
  await w.open();
  const a = await chat(w, "Tell me about apples", "Apples are red, APPLE-REPLY.");
  const b = await chat(w, "Tell me about bananas", "Bananas are yellow, BANANA-REPLY.");
  assert.notEqual(a, b, "New chat made a new session");
  await waitCount(page.locator("#session-list li.session"), 2);
  assert.equal(await item(page, b).getAttribute("aria-current"), "true");

  const shows = async (sid, yes, no) => {
    await waitFor(async () => {
      const t = await page.locator("#conversation").innerText();
      return t.includes(yes) && !t.includes(no);
    }, { what: `the conversation to show ${yes} and not ${no}`, describe: () => page.locator("#conversation").innerText() });
    assert.equal(new URL(page.url()).hash, `#/s/${sid}`);
    assert.equal(await item(page, sid).getAttribute("aria-current"), "true");
    assert.equal(await page.locator('#session-list li.session[aria-current="true"]').count(), 1);
  };
  await item(page, a).locator("button.session-open").click();
  await shows(a, "APPLE-REPLY", "BANANA-REPLY");
  await item(page, b).locator("button.session-open").click();
  await shows(b, "BANANA-REPLY", "APPLE-REPLY");
  await item(page, a).locator("button.session-open").click();
  await shows(a, "APPLE-REPLY", "BANANA-REPLY");

  // a fresh tab at b's URL opens b; the back button goes back to a
  const other = await w.context.newPage();
  await w.open(other, `#/s/${b}`);
  await waitText(other.locator("#conversation"), "BANANA-REPLY");
  assert.ok(!(await other.locator("#conversation").innerText()).includes("APPLE-REPLY"));
  await other.close();
  for (const sid of [a, b]) {
    const s = await w.api("GET", `/api/sessions/${sid}`);
    assert.equal(s.json.turns, 1, `session ${sid} has its own one turn`);
  }
});

uiTest("rename a session inline: Enter saves (kept across a reload), Escape cancels", async (w) => {
  const page = w.page;
  await w.open();
  const sid = await chat(w, "Plan the quarterly budget", "Here is a plan.");
  const li = item(page, sid);
  await li.locator("button.session-rename").click();
  const input = li.locator("input.session-title-input");
  await input.fill("Budget review Q3");
  await input.press("Enter");
  await waitText(li.locator("button.session-open"), "Budget review Q3");
  await waitFor(async () => (await w.api("GET", `/api/sessions/${sid}`)).json.title === "Budget review Q3",
    { what: "the daemon to have the new title" });
  assert.equal(await li.locator("input.session-title-input").count(), 0, "the input is gone after Enter");

  await li.locator("button.session-rename").click();
  await li.locator("input.session-title-input").fill("Something else");
  await li.locator("input.session-title-input").press("Escape");
  await waitCount(li.locator("input.session-title-input"), 0);
  assert.equal((await li.locator("button.session-open").innerText()).trim(), "Budget review Q3", "Escape kept the title");
  assert.equal((await w.api("GET", `/api/sessions/${sid}`)).json.title, "Budget review Q3");

  await page.reload();
  await w.ready();
  await waitText(item(page, sid).locator("button.session-open"), "Budget review Q3");
  // a title is text, never markup
  await item(page, sid).locator("button.session-rename").click();
  await item(page, sid).locator("input.session-title-input").fill("<img src=x onerror=\"window.__pwned=1\">");
  await item(page, sid).locator("input.session-title-input").press("Enter");
  await waitText(item(page, sid).locator("button.session-open"), "<img src=x");
  assert.equal(await page.locator("#session-list img").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
});

uiTest("delete a session: asked to confirm, gone from the list and from the daemon", async (w) => {
  const page = w.page;
  await w.open();
  const keep = await chat(w, "Keep this one", "KEEP-REPLY");
  const gone = await chat(w, "Delete this one", "GONE-REPLY");
  await waitCount(page.locator("#session-list li.session"), 2);
  await item(page, gone).locator("button.session-delete").click();
  await waitCount(item(page, gone), 0);
  assert.ok(w.dialogs.some((d) => d.type === "confirm"), "delete asked confirm() first");
  await waitFor(async () => (await w.api("GET", `/api/sessions/${gone}`)).status === 404,
    { what: "the daemon to have deleted the session" });
  assert.equal((await w.api("GET", `/api/sessions/${keep}`)).status, 200, "the other session is kept");
  await waitCount(page.locator("#session-list li.session"), 1);
  // the deleted conversation is not shown any more
  await waitFor(async () => !(await page.locator("#conversation").innerText()).includes("GONE-REPLY"),
    { what: "the deleted conversation to leave the page" });
  assert.ok(!new URL(page.url()).hash.includes(gone), "the URL no longer names the deleted session");
  await page.reload();
  await w.ready();
  await waitCount(page.locator("#session-list li.session"), 1);
  assert.equal(await item(page, keep).count(), 1);
});

uiTest("a message typed while New chat is being made goes to the new session, never to the previous one", async (w) => {
  const page = w.page;
  await w.open();
  const old = await chat(w, "The first conversation", "FIRST-REPLY");
  // hold the daemon's answer to the new session's POST until the message has been typed and sent
  let release;
  const held = new Promise((r) => { release = r; });
  let heldOne = false;
  await page.route("**/api/sessions", async (route) => {
    if (route.request().method() === "POST" && !heldOne) {
      heldOne = true;
      await held;
    }
    await route.continue();
  });
  await w.mock.enqueue(text("SECOND-REPLY"));
  await page.locator("#new-session").click();
  await waitFor(() => heldOne, { what: "the page to ask for a new session" });
  const box = page.locator("#prompt");
  if (await box.isEditable()) {
    await box.fill("Meant for the new chat");
    await box.press("Enter");
  }
  await page.evaluate(() => 0); // the key's handlers have run
  release();
  const outcome = await waitFor(async () => {
    if ((await w.api("GET", `/api/sessions/${old}`)).json.turns >= 2 ||
        (await w.api("GET", `/api/sessions/${old}`)).json.state === "running") return "old";
    const hash = new URL(page.url()).hash;
    if (!hash.startsWith("#/s/") || hash === `#/s/${old}`) return false;
    if ((await page.locator("#conversation").innerText()).includes("SECOND-REPLY")) return "sent";
    // an empty box is a message on its way: wait for where it lands
    if ((await box.inputValue()) === "Meant for the new chat") return "kept";
    return false;
  }, { what: "the message to go somewhere (the new session, or kept in the box)" });
  assert.notEqual(outcome, "old", "the message went to the previous session");
  if (outcome === "kept") {
    // the box waited for the new session: send it now
    await box.press("Enter");
    await waitText(page.locator("#conversation"), "SECOND-REPLY");
  }
  await w.waitIdle();
  const now = new URL(page.url()).hash.slice(4);
  assert.notEqual(now, old);
  assert.equal((await w.api("GET", `/api/sessions/${old}`)).json.turns, 1, "the previous session got no second turn");
  assert.equal((await w.api("GET", `/api/sessions/${now}`)).json.turns, 1, "the new session has the message");
});

uiTest("a suspended hybrid session says so, and the next message resumes it with its conversation and files", async (w) => {
  const page = w.page;
  await w.open();
  await page.locator("#new-pattern").selectOption("hybrid");
  await w.mock.enqueue(bashCall("echo kept-across > note.txt"), text("Saved HYBRID-ONE."));
  await page.locator("#new-session").click();
  await w.send("Write a note", page);
  await waitText(w.turn(0).locator(".msg-assistant"), "HYBRID-ONE");
  await w.waitIdle();
  const sid = await w.sessionId();
  assert.equal((await w.api("GET", `/api/sessions/${sid}`)).json.pattern, "hybrid");
  // the turn is over on the page; agentd saves it before the session is idle (suspend: 409 until then)
  await waitFor(async () => (await w.api("GET", `/api/sessions/${sid}`)).json.state === "idle",
    { what: "the hybrid session to be saved and idle" });

  // a suspend is a file operation too (it saves the workspace): after the page's listing
  // of what the turn made
  await waitCount(page.locator('#files li.file[data-path="note.txt"]'), 1);
  assert.equal((await w.fileApi("POST", `/api/sessions/${sid}/suspend`)).status, 200);
  const banner = page.locator("#session-banner");
  await waitText(banner, /suspended: your next message resumes it/);
  await waitText(item(page, sid).locator(".session-state"), "suspended");

  await w.mock.enqueue(bashCall("cat note.txt"), text("Back again, HYBRID-TWO."));
  await w.send("Read the note", page);
  await waitText(w.turn(1).locator(".msg-assistant"), "HYBRID-TWO");
  await waitText(w.turn(1).locator("details.tool-card .tool-output"), "kept-across", { how: "textContent" });
  await waitFor(async () => (await banner.isHidden()) || (await banner.innerText()) === "",
    { what: "the suspended banner to go once the session is back" });
  await waitText(w.turn(0).locator(".msg-assistant"), "HYBRID-ONE");   // the first turn is still shown
  await w.waitIdle();
});

uiTest("a new session runs the agent chosen for it, among those agentd allows", async (w) => {
  const page = w.page;
  await w.open();
  const menu = page.locator("#new-runtime");
  await waitFor(async () => (await menu.locator("option").count()) === 2, { what: "both agents offered" });
  await menu.selectOption("claude-code");
  await page.locator("#new-session").click();
  const sid = await waitFor(async () => (new URL(page.url()).hash.match(/^#\/s\/(sess_[A-Za-z0-9_.-]+)$/) || [])[1],
    { what: "the new session to open" });
  assert.equal((await w.api("GET", `/api/sessions/${sid}`)).json.runtime, "claude-code");
  await menu.selectOption("agentd");
  await page.locator("#new-session").click();
  const next = await waitFor(async () => {
    const m = new URL(page.url()).hash.match(/^#\/s\/(sess_[A-Za-z0-9_.-]+)$/);
    return m && m[1] !== sid ? m[1] : false;
  }, { what: "the second session to open" });
  assert.equal((await w.api("GET", `/api/sessions/${next}`)).json.runtime, "agentd");
});

uiTest("with one agent allowed there is nothing to choose", { settings: { runtime: { allow: ["agentd"] } } }, async (w) => {
  const page = w.page;
  await w.open();
  await waitFor(async () => await page.locator("#runtime-row").isHidden(), { what: "the agent menu to go" });
  assert.deepEqual(await page.locator("#new-runtime option").evaluateAll((os) => os.map((o) => o.value)), ["agentd"]);
});
