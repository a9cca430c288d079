// The page for people who use a keyboard or a screen reader, who drop files on it, and who
// meet agentd's errors: the accessibility tree Chromium computes, focus moved by Tab
// alone, a real drop event, and the sentences errors become.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bashCall, text, uiTest, waitCount, waitFor, waitText } from "./harness.mjs";

/** Every element Tab reaches from the top of the page, in order (a label for each). */
async function tabOrder(page, max = 120) {
  await page.evaluate(() => document.activeElement?.blur());
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const label = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      return e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}[${e.getAttribute("aria-label") || e.textContent.trim().slice(0, 30)}]`;
    });
    if (label === null || seen.includes(label)) break; // round the page once
    seen.push(label);
  }
  return seen;
}

uiTest("keyboard and screen reader: named landmarks and controls, Tab reaches them, Enter sends", async (w) => {
  const page = w.page;
  await w.mock.enqueue(bashCall("printf 'x\\n' > kb.txt"), text("Done by keyboard."));
  await w.open();
  // the message box by keyboard alone: Shift+Enter is a new line, Enter sends
  const order0 = await tabOrder(page);
  assert.ok(order0.includes("#prompt"), `Tab never reached the message box: ${order0.join(" ")}`);
  await page.locator("#prompt").focus();
  await page.keyboard.type("first line");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("second line");
  await page.keyboard.press("Enter");
  await waitText(w.turn(0).locator(".msg-assistant"), "Done by keyboard.");
  await w.waitIdle();
  await waitCount(page.locator('#files li.file[data-path="kb.txt"]'), 1);
  const sent = (await w.mock.requests())[0].body.messages[0].content;
  assert.match(JSON.stringify(sent), /first line\\nsecond line/);

  // what a screen reader is told: the landmarks and controls by role and name
  const tree = await page.locator("body").ariaSnapshot();
  for (const [role, name] of [["navigation", "Sessions"], ["log", "Conversation"], ["textbox", "Message"],
    ["complementary", "Session details"], ["region", "Workspace"], ["region", "Usage"], ["list", "Files"],
    ["button", "View kb.txt"], ["link", "Download kb.txt"]]) {
    assert.ok(tree.includes(`- ${role} "${name}"`), `no ${role} named "${name}" in the accessibility tree:\n${tree}`);
  }
  // no control without a name (a button, link, box or menu that a screen reader cannot tell apart)
  const unnamed = tree.split("\n").filter((l) => /^\s*- (button|link|textbox|combobox|checkbox|searchbox)(\s*\[[^\]]*\])*:?\s*$/.test(l));
  assert.deepEqual(unnamed, [], `controls without a name:\n${tree}`);

  // Tab alone reaches the session list, the workspace's controls and the file just made
  const order = await tabOrder(page);
  for (const want of ["#prompt", "#new-session", "#files-refresh", "#upload", "button[View kb.txt]", "a[Download kb.txt]"])
    assert.ok(order.includes(want), `Tab never reached ${want}: ${order.join(" ")}`);
  // and Enter on a file's button opens it
  await page.locator('#files li.file[data-path="kb.txt"] button.file-open').focus();
  await page.keyboard.press("Enter");
  await waitText(page.locator("#file-view"), "x");
});

uiTest("a file dropped on the workspace is uploaded and listed", async (w) => {
  const page = w.page;
  await w.mock.enqueue(text("Drop something."));
  await w.open();
  await w.send("Hello.");
  await waitText(w.turn(0).locator(".msg-assistant"), "Drop something.");
  await w.waitIdle();
  await waitText(page.locator("#files"), /Empty\. Upload files here/);
  // a real drop event with a file in its DataTransfer, as a browser makes from a drag
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["dropped bytes\n"], "dropped.txt", { type: "text/plain" }));
    const zone = document.getElementById("dropzone");
    for (const type of ["dragenter", "dragover", "drop"])
      zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await waitCount(page.locator('#files li.file[data-path="dropped.txt"]'), 1);
  const sid = await w.sessionId();
  const r = await w.fileApi("GET", `/api/sessions/${sid}/files/dropped.txt`);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString("utf8"), "dropped bytes\n");
});

// agentd's errors, as the page says them: what happened and what to do
const ERRORS = [
  ["rate limited", { status: 429, error: { type: "rate_limit_error", message: "slow down" } },
    /Too many requests: [^\n]*429[^\n]*\. (Wait a little and send it again|Try again in)/],
  ["overloaded", { status: 529, error: { type: "overloaded_error", message: "busy" } },
    /The Anthropic API is overloaded \(529\)[^\n]*\. (Wait a little and send it again|Try again in)/],
];
for (const [what, reply, sentence] of ERRORS) {
  uiTest(`an API that is ${what} is said in the conversation with what to do`,
    { settings: { anthropic: { max_retries: 0 } } }, async (w) => {
      await w.mock.enqueue(reply);
      w.expectConsole(/Failed to load resource: .* (429|503)/);
      await w.open();
      await w.send("Hello?");
      await waitText(w.turn(0), sentence);
      await w.waitIdle();
    });
}

uiTest("a session over its token budget is told to start a new chat", { settings: { session: { max_tokens: 1000 } } }, async (w) => {
  await w.mock.enqueue(text("One reply spends the budget.", { usage: { input_tokens: 900, output_tokens: 200 } }));
  await w.open();
  await w.send("First.");
  await waitText(w.turn(0).locator(".msg-assistant"), "One reply spends the budget.");
  await w.waitIdle();
  w.expectConsole(/Failed to load resource/);
  await w.send("Second.");
  await waitText(w.turn(1), /This session has used its budget .*Start a new chat/);
  await w.waitIdle();
});

// a bind whose source the sandbox's ids cannot reach: under a 0700 directory of root's
const HIDDEN = fs.mkdtempSync(path.join(os.tmpdir(), "agentd-ui-hidden-"));
fs.mkdirSync(path.join(HIDDEN, "data"));
process.on("exit", () => fs.rmSync(HIDDEN, { recursive: true, force: true }));

uiTest("a sandbox that cannot be built is said, with what to do", {
  settings: { sandbox: { binds: [`${HIDDEN}/data:/data`] } },
}, async (w) => {
  await w.open();
  w.expectConsole(/Failed to load resource/);
  await w.send("Hello?");
  // the turn fails with the sandbox, or (when the sandbox failed first) the message is
  // refused by the session that has ended: either way the page says why, and what to do
  await waitFor(async () => /(The sandbox failed|This session has ended) \(.*bind source .*\/data: EACCES.*\)\. Start a new chat/s.test(
    await w.page.locator("#conversation").innerText()),
    { what: "the sandbox failure's sentence", describe: async () => w.page.locator("#conversation").innerText() });
});
