// Getting in and seeing: the token prompt, a daemon without an API key, a phone-wide
// window, the dark scheme.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { bashCall, text, uiTest, waitFor, waitText } from "./harness.mjs";

const TOKEN = `ui-${crypto.randomBytes(24).toString("hex")}`;

uiTest("the token prompt: a wrong token is refused with a message, the right one works and is remembered",
  { tokens: [TOKEN] }, async (w) => {
    const page = w.page;
    w.expectConsole(/status of 401/);
    await page.goto(w.base + "/");
    const dialog = page.locator("dialog#token-dialog");
    await dialog.waitFor({ state: "visible" });
    assert.equal(await dialog.evaluate((d) => d.open), true);
    await w.screenshot("token-dialog.png");

    await page.locator("#token-input").fill("agt_" + "0".repeat(64));
    await page.locator("#token-save").click();
    await waitText(page.locator("#token-error"), /refused/i);
    assert.equal(await dialog.isVisible(), true, "the dialog stays open after a wrong token");
    assert.equal(await page.evaluate(() => localStorage.getItem("agentd.token")), null, "a refused token is not kept");

    await page.locator("#token-input").fill(TOKEN);
    await page.locator("#token-save").click();
    await dialog.waitFor({ state: "hidden" });
    await w.ready();
    assert.equal(await page.evaluate(() => localStorage.getItem("agentd.token")), TOKEN);

    await w.mock.enqueue(text("Hello with a token, TOKEN-OK."));
    await w.send("Hello?");
    await waitText(w.turn(0).locator(".msg-assistant"), "TOKEN-OK");
    await w.waitIdle();
    const sid = await w.sessionId();
    assert.equal((await w.api("GET", `/api/sessions/${sid}`, { token: TOKEN })).status, 200, "the session is the token's");

    await page.reload();
    await w.ready();
    assert.equal(await dialog.isVisible(), false, "no prompt after a reload: the token is remembered");
    await waitText(w.turn(0).locator(".msg-assistant"), "TOKEN-OK");
    await waitFor(async () => (await page.locator(`#session-list li.session[data-session-id="${sid}"]`).count()) === 1,
      { what: "the session in the list after the reload" });
  });

uiTest("with an API token, the workspace's upload and download work too", { tokens: [TOKEN] }, async (w) => {
  const page = w.page;
  // the token is in the page's storage before the page first runs (as a token it
  // remembered from an earlier visit)
  await w.context.addInitScript((t) => { if (!localStorage.getItem("agentd.token")) localStorage.setItem("agentd.token", t); }, TOKEN);
  await w.open();
  await w.mock.enqueue(text("Files welcome."));
  await w.send("Files?");
  await waitText(w.turn(0).locator(".msg-assistant"), "Files welcome.");
  await w.waitIdle();
  const sid = await w.sessionId();
  const bytes = crypto.randomBytes(4096);
  await page.locator("#upload").setInputFiles([{ name: "secret.bin", mimeType: "application/octet-stream", buffer: bytes }]);
  const li = page.locator('#files li.file[data-path="secret.bin"]');
  await li.waitFor();
  const stored = await w.fileApi("GET", `/api/sessions/${sid}/files/secret.bin`, { token: TOKEN });
  assert.ok(stored.body.equals(bytes), "the daemon's bytes equal the uploaded ones");
  const [download] = await Promise.all([page.waitForEvent("download"), li.locator("a.file-download").click()]);
  assert.ok(fs.readFileSync(await download.path()).equals(bytes), "the downloaded bytes equal the uploaded ones");
  assert.ok(!w.requests.some((u) => u.includes(TOKEN)), "the token went into a URL");
});

uiTest("without an API key the message box is disabled and says why", { noKey: true }, async (w) => {
  const page = w.page;
  await w.open();
  const note = await waitText(page.locator("#composer-note"), /API key|ANTHROPIC_API_KEY/);
  assert.ok(note.length > 20, `a sentence, not a code: ${note}`);
  assert.equal(await page.locator("#composer-note").isVisible(), true);
  const disabled = await page.evaluate(() => document.querySelector("#prompt").disabled || document.querySelector("#send").disabled);
  assert.equal(disabled, true, "the box or its Send button is disabled");
  assert.equal((await w.mock.requests()).length, 0);
});

uiTest("390 px wide: no sideways scrolling, and a message can be sent and read", { viewport: { width: 390, height: 844 } },
  async (w) => {
    const page = w.page;
    await w.mock.enqueue(bashCall("echo from-a-phone"), text("A reply on a small screen, with a `code` span and a long-unbroken-word-" + "x".repeat(80)));
    await w.open();
    const box = page.locator("#prompt");
    await box.waitFor({ state: "visible" });
    const send = page.locator("#send");
    await send.waitFor({ state: "visible" });
    for (const [name, el] of [["#prompt", box], ["#send", send]]) {
      const b = await el.boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 390 + 0.5, `${name} lies within the 390 px: ${JSON.stringify(b)}`);
    }
    await box.fill("Hello from a phone");
    await send.click();
    await waitText(w.turn(0).locator(".msg-assistant"), "A reply on a small screen");
    await w.waitIdle();
    const card = w.turn(0).locator("details.tool-card");
    await card.waitFor({ state: "visible" });
    const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, win: window.innerWidth }));
    assert.ok(widths.doc <= widths.win, `the page scrolls sideways: ${JSON.stringify(widths)}`);
    const reply = await w.turn(0).locator(".msg-assistant").boundingBox();
    assert.ok(reply.x >= 0 && reply.x + reply.width <= 390 + 0.5, `the reply lies within the 390 px: ${JSON.stringify(reply)}`);
    await w.screenshot("phone.png");
  });

/** Relative luminance (WCAG) of a CSS rgb()/rgba() colour. */
function luminance(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a, b) => (Math.max(luminance(a), luminance(b)) + 0.05) / (Math.min(luminance(a), luminance(b)) + 0.05);

/** The colour of el's text and of the first opaque background behind it. */
async function colours(locator) {
  return locator.evaluate((el) => {
    const fg = getComputedStyle(el).color;
    let bg = "rgb(255, 255, 255)";
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      const alpha = c.startsWith("rgba") ? Number(c.match(/[\d.]+/g)[3]) : 1;
      if (alpha > 0.5) { bg = c; break; }
    }
    return { fg, bg };
  });
}

uiTest("the dark scheme renders dark, with readable text", { colorScheme: "dark" }, async (w) => {
  const page = w.page;
  await w.mock.enqueue(bashCall("echo in-the-dark"), text("Dark **mode** reply with a list:\n\n- one\n- two\n\n```sh\necho hi\n```"));
  await w.open();
  await w.send("Hello in the dark");
  await waitText(w.turn(0).locator(".msg-assistant"), "Dark mode reply");
  await w.waitIdle();
  await w.turn(0).locator("details.tool-card").evaluate((el) => { el.open = true; });
  const checks = {
    page: page.locator("body"),
    reply: w.turn(0).locator(".msg-assistant .md p").first(),
    user: w.turn(0).locator(".msg-user"),
    output: w.turn(0).locator(".tool-output").first(),
    prompt: page.locator("#prompt"),
  };
  const dark = {};
  for (const [name, l] of Object.entries(checks)) {
    dark[name] = await colours(l);
    const ratio = contrast(dark[name].fg, dark[name].bg);
    assert.ok(ratio >= 4.5, `${name}: text ${dark[name].fg} on ${dark[name].bg} has contrast ${ratio.toFixed(2)} < 4.5`);
  }
  assert.ok(luminance(dark.page.bg) < 0.2, `the dark page's background is not dark: ${dark.page.bg}`);
  await w.screenshot("dark.png");
  await page.emulateMedia({ colorScheme: "light" });
  const light = await colours(checks.page);
  assert.ok(luminance(light.bg) > luminance(dark.page.bg) + 0.3,
    `the light scheme's background (${light.bg}) is not lighter than the dark one's (${dark.page.bg})`);
  await page.emulateMedia({ colorScheme: "dark" });
});

uiTest("a server in the sandbox is linked from the page and opens in a tab, the token going as a cookie",
  { tokens: [TOKEN] }, async (w) => {
    const page = w.page;
    // (the server's page, sandboxed, may not touch agentd's storage: the script leaves it be)
    await w.context.addInitScript((t) => {
      try { if (!localStorage.getItem("agentd.token")) localStorage.setItem("agentd.token", t); } catch { /* sandboxed */ }
    }, TOKEN);
    await w.open();
    const marker = `SERVED-${crypto.randomBytes(6).toString("hex")}`;
    await w.mock.enqueue(
      bashCall(`echo '<p>${marker}</p>' > index.html; setsid python3 -m http.server 8000 --bind 127.0.0.1 ` +
               "</dev/null >/dev/null 2>&1 & for i in $(seq 200); do (: </dev/tcp/127.0.0.1/8000) 2>/dev/null && break; sleep 0.05; done"),
      text("The server is up."));
    await w.send("Serve the workspace");
    await waitText(w.turn(0).locator(".msg-assistant"), "The server is up.");
    await w.waitIdle();
    const link = page.locator("#port-list a");
    await waitText(link, "Port 8000");
    const href = await link.getAttribute("href");
    const sid = await w.sessionId();
    assert.equal(href, `/api/sessions/${sid}/ports/8000/`);
    const tab = await w.context.newPage();
    const res = await tab.goto(w.base + href);
    assert.equal(res.status(), 200);
    await waitText(tab.locator("body"), marker);
    assert.match(res.headers()["content-security-policy"] || "", /sandbox/);
    await tab.close();
    // without the page's cookie, the same address wants the token
    assert.equal((await w.api("GET", href, { token: null })).status, 401);
  });
