// The workspace panel: upload, view, download; the 4 MiB limit.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { bashCall, text, uiTest, waitCount, waitFor, waitText } from "./harness.mjs";

/** A session with one finished turn, open on the page. */
async function session(w) {
  await w.mock.enqueue(text("Ready for files."));
  await w.open();
  await w.send("I will upload some files.");
  await waitText(w.turn(0).locator(".msg-assistant"), "Ready for files.");
  await w.waitIdle();
  // the panel lists the workspace at the turn's end (the test's own file requests wait
  // for the panel's: w.fileApi)
  await waitText(w.page.locator("#files"), /Empty\. Upload files here/);
  return w.sessionId();
}

const fileItem = (page, p) => page.locator(`#files li.file[data-path="${p}"]`);

uiTest("upload files (setInputFiles), view one, download another: the bytes are equal", async (w) => {
  const page = w.page;
  const sid = await session(w);
  const bin = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), crypto.randomBytes(200_000)]);
  const notes = "first line\nsecond line: <b>not bold</b>\n";
  await page.locator("#upload").setInputFiles([
    { name: "data.bin", mimeType: "application/octet-stream", buffer: bin },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(notes) },
  ]);
  await waitCount(fileItem(page, "data.bin"), 1);
  await waitCount(fileItem(page, "notes.txt"), 1);
  await waitText(page.locator("#workspace-note"), /uploaded/i);
  assert.equal(await fileItem(page, "data.bin").getAttribute("data-type"), "file");

  // what the daemon has is what was sent
  for (const [name, want] of [["data.bin", bin], ["notes.txt", Buffer.from(notes)]]) {
    const got = await w.fileApi("GET", `/api/sessions/${sid}/files/${name}`);
    assert.equal(got.status, 200, `GET files/${name}`);
    assert.ok(got.body.equals(want), `${name}: the daemon's bytes differ from the uploaded ones`);
  }

  // view the text file
  await fileItem(page, "notes.txt").locator("button.file-open").click();
  await waitText(page.locator("#file-view-name"), "notes.txt");
  await waitText(page.locator("#file-view"), "second line: <b>not bold</b>");
  assert.equal(await page.locator("#file-view b").count(), 0, "a file is shown as text");
  await w.screenshot("workspace.png");

  // download the binary one
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    fileItem(page, "data.bin").locator("a.file-download").click(),
  ]);
  assert.equal(download.suggestedFilename(), "data.bin");
  const saved = await download.path();
  assert.ok(fs.readFileSync(saved).equals(bin), "the downloaded bytes differ from the uploaded ones");
  assert.equal(await download.failure(), null);
});

uiTest("a directory made by the agent can be entered and left; a file in it downloads", async (w) => {
  const page = w.page;
  await w.mock.enqueue({ content: [{ type: "tool_use", name: "bash", input: { command: "mkdir -p out && printf 'ok\\n' > out/result.txt" } }] },
    text("Made out/result.txt."));
  await w.open();
  await w.send("Make a directory with a file.");
  await waitText(w.turn(0).locator(".msg-assistant"), "Made out/result.txt.");
  await w.waitIdle();
  await page.locator("#files-refresh").click();
  const dir = page.locator('#files li.file[data-type="dir"]');
  await waitCount(dir, 1);
  assert.match(await dir.getAttribute("data-path"), /^out\/?$/);
  await dir.locator("button.file-open").click();
  await waitText(page.locator("#files-path"), "out");
  const f = page.locator('#files li.file[data-path="out/result.txt"]');
  await waitCount(f, 1);
  const [download] = await Promise.all([page.waitForEvent("download"), f.locator("a.file-download").click()]);
  assert.equal(fs.readFileSync(await download.path(), "utf8"), "ok\n");
  await page.locator("#files-up").click();
  await waitCount(page.locator('#files li.file[data-type="dir"]'), 1);
});

uiTest("the panel lists what a tool made while the turn still runs", async (w) => {
  const page = w.page;
  // the reply after the tool is held by the mock: the turn runs until the test lets it end
  await w.mock.enqueue(bashCall("printf 'draft\\n' > notes.txt"), text("Written.", { gate: "end" }));
  await w.open();
  await w.send("Write notes.");
  await waitFor(() => w.turn(0).locator(".tool-card .tool-status").first().innerText().then((t) => /exit 0/.test(t)),
    { what: "the bash card to end" });
  const f = page.locator('#files li.file[data-path="notes.txt"]');
  await waitCount(f, 1);
  assert.equal(await page.locator("#stop").isVisible(), true, "the turn still runs");
  assert.equal(await page.locator("#workspace-note").innerText(), "");
  await f.locator("button.file-open").click();
  await waitText(page.locator("#file-view"), "draft");
  await w.mock.openGate("end");
  await waitText(w.turn(0).locator(".msg-assistant"), "Written.");
  await w.waitIdle();
});

uiTest("a file over 4 MiB gets a clear message and is not stored", async (w) => {
  const page = w.page;
  w.expectConsole(/status of 413/);
  const sid = await session(w);
  const big = Buffer.alloc(5 * 1024 * 1024 + 123, 0x61);
  await page.locator("#upload").setInputFiles([{ name: "big.bin", mimeType: "application/octet-stream", buffer: big }]);
  const note = await waitText(page.locator("#workspace-note"), /4 MiB/);
  assert.match(note, /big\.bin/, "the message names the file");
  assert.match(note, /5(\.0)? MiB/, "the message says how large it is");
  const r = await w.fileApi("GET", `/api/sessions/${sid}/files/big.bin`);
  assert.equal(r.status, 404, "the file was not stored");
  assert.equal(await fileItem(page, "big.bin").count(), 0);
});
