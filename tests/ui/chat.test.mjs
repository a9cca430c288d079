// A conversation on the chat page: streaming, tool cards, Markdown, hostile output, stop,
// reload in the middle of a turn, a second tab, a long reply.

import assert from "node:assert/strict";
import {
  bashCall, processesWith, sayThenBash, text, uiTest, waitCount, waitFor, waitText,
} from "./harness.mjs";

const DURATION = /\d+(\.\d+)?\s*(ms|s)\b/;

/** The whole visible text of the conversation. */
const conversationText = (page) => page.locator("#conversation").innerText();

function occurrences(haystack, needle) {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

uiTest("a streamed reply with a tool card: text first, a running card, then command, output, exit status, duration", async (w) => {
  const page = w.page;
  await w.mock.enqueue(
    sayThenBash("Let me look at the workspace first.", w.gated("g1", "started", "released")),
    bashCall("echo to-stderr >&2; ls /no-such-dir"),
    text("Both commands ran:\n\n- the first printed **started** and then *released*\n- the second exited with `2`\n"),
  );
  await w.open();
  await w.send("Run the two commands, please.");
  const t0 = w.turn(0);
  await waitText(t0.locator(".msg-user"), "Run the two commands, please.");

  // while the first command waits on the gate: the text before it, a running card
  await w.waitRunning();
  await waitText(t0.locator(".msg-assistant"), "Let me look at the workspace first.");
  const card = t0.locator('details.tool-card[data-tool-name="bash"]').first();
  await waitFor(async () => (await card.getAttribute("data-status")) === "running",
    { what: "the first tool card to be running", describe: async () => `data-status=${await card.getAttribute("data-status")}` });
  const input = await waitText(card.locator(".tool-input"), "$ echo started;", { how: "textContent" });
  assert.match(input, /while \[ ! -e \/gate\/g1 \]/, "the whole command is shown");
  assert.match(await card.getAttribute("data-tool-id"), /^toolu_/);
  await waitText(card.locator(".tool-status"), /running/i);
  assert.equal(await page.locator("#stop").isVisible(), true, "Stop is shown while a turn runs");

  w.release("g1");
  await w.waitIdle();
  await waitFor(async () => (await card.getAttribute("data-status")) === "ok",
    { what: "the first card to end ok", describe: async () => `data-status=${await card.getAttribute("data-status")}` });
  const status1 = await waitText(card.locator(".tool-status"), /exit 0/);
  assert.match(status1, DURATION, "the first card shows its duration");
  assert.match(await card.locator(".tool-output").textContent(), /started\s*\n\s*released/);

  const cards = t0.locator("details.tool-card");
  await waitCount(cards, 2);
  const card2 = cards.nth(1);
  const status2 = await waitText(card2.locator(".tool-status"), /exit 2/);
  assert.match(status2, DURATION, "the second card shows its duration");
  assert.notEqual(await card2.getAttribute("data-status"), "running");
  assert.match(await card2.locator(".tool-output").textContent(), /to-stderr/);

  const reply = t0.locator(".msg-assistant");
  await waitText(reply, "the second exited with 2");
  assert.equal(await reply.locator(".md strong", { hasText: "started" }).count(), 1, "Markdown of the final answer is rendered");
  assert.equal(await reply.locator(".md em", { hasText: "released" }).count(), 1);
  assert.equal(await page.locator("#stop").isVisible(), false, "Stop is hidden once the turn is over");
  await waitText(t0.locator(".turn-usage"), /\d/);

  // the order: text, first card, second card, final answer
  const order = await reply.evaluate((el) => [...el.querySelectorAll(":scope .md, :scope .tool-card")]
    .map((x) => (x.classList.contains("tool-card") ? "card" : (x.textContent.includes("Let me look") ? "intro" : "final"))));
  assert.deepEqual(order.filter((x, i) => i === 0 || x !== order[i - 1]), ["intro", "card", "final"]);

  await card.evaluate((el) => { el.open = true; });
  await w.screenshot("tool-cards.png");
  const reqs = await w.mock.requests();
  assert.equal(reqs.length, 3);
});

uiTest("editor tool cards: create shows the path, str_replace a diff; the README's screenshot",
  { viewport: { width: 1280, height: 1100 } }, async (w) => {
  const page = w.page;
  const fib = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(i) for i in range(10)])\n";
  const edit = (input) => ({ content: [{ type: "tool_use", name: "str_replace_based_edit_tool", input }] });
  await w.mock.enqueue(
    { content: [{ type: "text", text: "I'll write the script first." },
      { type: "tool_use", name: "str_replace_based_edit_tool", input: { command: "create", path: "/workspace/fib.py", file_text: fib } }] },
    bashCall("python3 fib.py"),
    edit({ command: "str_replace", path: "/workspace/fib.py", old_str: "range(10)", new_str: "range(15)" }),
    bashCall("python3 fib.py"),
    text("`fib.py` prints the first 15 Fibonacci numbers:\n\n```\n[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377]\n```\n\n" +
      "| n | fib(n) |\n|---:|---:|\n| 10 | 55 |\n| 14 | 377 |\n\nRun it again with `python3 fib.py`."),
  );
  await w.open();
  await w.send("Write fib.py, run it, then make it print 15 numbers.");
  await w.waitIdle();
  const t0 = w.turn(0);
  await waitText(t0.locator(".msg-assistant"), "Run it again with");
  const cards = t0.locator("details.tool-card");
  await waitCount(cards, 4);
  const create = cards.nth(0);
  assert.equal(await create.getAttribute("data-tool-name"), "str_replace_based_edit_tool");
  assert.match(await create.locator(".tool-input").textContent(), /\/workspace\/fib\.py/, "create shows the path");
  const replace = cards.nth(2);
  assert.match(await replace.locator(".tool-input").textContent(), /fib\.py/);
  assert.match(await replace.locator(".tool-input .diff .del").first().textContent(), /range\(10\)/, "the diff's removed line");
  assert.match(await replace.locator(".tool-input .diff .add").first().textContent(), /range\(15\)/, "the diff's added line");
  await waitText(cards.nth(3).locator(".tool-output"), "377", { how: "textContent" });
  assert.match(await cards.nth(1).locator(".tool-output").textContent(), /\[0, 1, 1, 2, 3, 5, 8, 13, 21, 34\]/);
  // open the last two cards for the picture
  await cards.nth(0).evaluate((el) => { el.open = false; });
  await cards.nth(1).evaluate((el) => { el.open = false; });
  await cards.nth(2).evaluate((el) => { el.open = true; });
  await cards.nth(3).evaluate((el) => { el.open = true; });
  await page.locator("#files-refresh").click();
  await waitCount(page.locator('#files li.file[data-path="fib.py"]'), 1);
  await page.locator("#prompt").blur();
  await w.screenshot("chat.png");
});

uiTest("Markdown is rendered: heading, lists, table, link, highlighted code with a working Copy button", async (w) => {
  const page = w.page;
  const code = 'def greet(name):\n    return f"hello {name}"\n\nprint(greet("world"))';
  await w.mock.enqueue(text([
    "# Report heading", "",
    "An intro with a [link to the docs](https://example.com/docs) in it.", "",
    "- first item", "- second item", "",
    "1. one", "2. two", "",
    "| Name | Value |", "|------|------:|", "| alpha | 1 |", "| beta | 22 |", "",
    "```python", code, "```", "",
    "Done.",
  ].join("\n")));
  await w.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: w.base });
  await w.open();
  await w.send("Show me some Markdown.");
  await w.waitIdle();
  const md = w.turn(0).locator(".msg-assistant .md");
  await waitText(md.last(), "Done.");
  const md0 = w.turn(0).locator(".msg-assistant");
  assert.equal(await md0.locator("h1, h2, h3", { hasText: "Report heading" }).count(), 1, "the heading is a heading");
  assert.deepEqual(await md0.locator("ul > li").allInnerTexts(), ["first item", "second item"]);
  assert.deepEqual(await md0.locator("ol > li").allInnerTexts(), ["one", "two"]);
  assert.deepEqual((await md0.locator("table th").allInnerTexts()).map((s) => s.trim()), ["Name", "Value"]);
  assert.deepEqual((await md0.locator("table td").allInnerTexts()).map((s) => s.trim()), ["alpha", "1", "beta", "22"]);
  const link = md0.locator("a", { hasText: "link to the docs" });
  assert.equal(await link.count(), 1);
  assert.equal(await link.getAttribute("href"), "https://example.com/docs");
  assert.equal(await md0.locator("text=# Report heading").count(), 0, "no Markdown syntax left as text");

  const block = md0.locator("pre > code.hljs.language-python");
  assert.equal(await block.count(), 1, "the fenced block is a highlighted <code class='hljs language-python'>");
  assert.equal((await block.textContent()).replace(/\n$/, ""), code);
  assert.ok(await block.locator('span[class^="hljs-"], span[class*=" hljs-"]').count() >= 2,
    "the code is highlighted (hljs-* spans)");
  const copy = md0.locator("button.copy-code");
  assert.equal(await copy.count(), 1);
  await page.evaluate(() => navigator.clipboard.writeText("nothing copied yet"));
  await copy.click();
  const copied = await waitFor(async () => {
    const c = await page.evaluate(() => navigator.clipboard.readText());
    return c !== "nothing copied yet" ? c : false;
  }, { what: "the Copy button to put the code on the clipboard" });
  assert.equal(copied.replace(/\n$/, ""), code);
});

uiTest("hostile model output stays inert: no handler runs, no element or attribute survives", async (w) => {
  const page = w.page;
  const hostileText = [
    "Look: <img src=x onerror=\"window.__pwned='img'\"> and <script>window.__pwned='script'</script>",
    "",
    "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>",
    "",
    "[click me](javascript:window.__pwned='mdlink') and <a href=\"JaVaScRiPt:window.__pwned='a'\">raw link</a>",
    "",
    "<svg onload=\"window.__pwned='svg'\"><circle r=5></circle></svg>",
    "<details open ontoggle=\"window.__pwned='toggle'\"><summary>s</summary>x</details>",
    "<style>#conversation{display:none}</style><form action=\"https://evil.example/\"><button>go</button></form>",
    "<object data=\"x\"></object><embed src=\"x\"><link rel=stylesheet href=\"https://evil.example/x.css\">",
    "![img](x \"onerror=alert(1)\") <math><mi xlink:href=\"javascript:window.__pwned='math'\">m</mi></math>",
    "",
    "END-OF-HOSTILE",
  ].join("\n");
  const toolOut = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><a href="javascript:window.__pwned=3">t</a>`;
  await w.mock.enqueue(
    bashCall(`printf '%s\\n' '${toolOut}'; touch '/workspace/<img src=x onerror=window.__pwned=7>'`),
    text(hostileText),
  );
  await w.open();
  const userMsg = "<b onmouseover=\"window.__pwned='user'\">bold?</b> <img src=x onerror=\"window.__pwned='user-img'\">";
  await w.send(userMsg);
  await w.waitIdle();
  const t0 = w.turn(0);
  await waitText(t0.locator(".msg-assistant"), "END-OF-HOSTILE");
  assert.equal(await t0.locator(".msg-user").innerText(), userMsg, "the user's message is shown as text");
  const card = t0.locator("details.tool-card");
  await card.first().evaluate((el) => { el.open = true; });
  assert.ok((await card.first().locator(".tool-output").textContent()).includes(toolOut), "tool output is shown as text");
  // the workspace panel lists the file with a hostile name as text
  await page.locator("#files-refresh").click();
  await waitCount(page.locator("#files li.file"), 1);
  assert.equal(await page.locator("#files li.file").first().getAttribute("data-path"),
    "<img src=x onerror=window.__pwned=7>");

  // a click on the links does nothing either
  for (const name of ["click me", "raw link"]) {
    const l = t0.locator(".msg-assistant").getByText(name, { exact: true });
    if (await l.count()) await l.first().click({ timeout: 5000 }).catch(() => {});
  }
  const found = await page.evaluate(() => {
    const bad = [];
    const scope = [document.querySelector("#conversation"), document.querySelector("#side")];
    for (const root of scope) {
      if (!root) continue;
      for (const el of root.querySelectorAll("*")) {
        const tag = el.tagName.toLowerCase();
        if (["script", "iframe", "object", "embed", "style", "link", "form", "svg", "math", "base", "meta"].includes(tag)) bad.push(`<${tag}>`);
        for (const a of el.attributes) {
          if (/^on/i.test(a.name)) bad.push(`${tag}[${a.name}]`);
          if (/^\s*(javascript|vbscript|data):/i.test(a.value) && /^(href|src|action|xlink:href|formaction|data)$/i.test(a.name)) bad.push(`${tag}[${a.name}=${a.value}]`);
        }
        if (tag === "img" && el.getAttribute("src") === "x") bad.push("<img src=x>");
      }
    }
    return { bad, pwned: window.__pwned, conversationShown: getComputedStyle(document.querySelector("#conversation")).display !== "none" };
  });
  assert.deepEqual(found.bad, [], "hostile elements or attributes in the DOM");
  assert.equal(found.pwned, undefined, "a hostile handler ran");
  assert.equal(found.conversationShown, true, "a hostile <style> hid the conversation");
  assert.deepEqual(w.requests.filter((u) => /\/x$|evil\.example/.test(u)), [], "the hostile markup made requests");
  assert.equal(new URL(page.url()).origin, w.base, "still on the page");
});

uiTest("Stop ends a turn whose command runs: Interrupted is shown and the command is killed", async (w) => {
  const page = w.page;
  const marker = `98${Date.now() % 100000}7`;
  await w.mock.enqueue(sayThenBash("Starting a long job.", `echo begun; sleep ${marker}`));
  await w.open();
  await w.send("Run the long job.");
  const card = w.turn(0).locator("details.tool-card");
  await waitCount(card, 1);
  await waitFor(async () => (await card.getAttribute("data-status")) === "running", { what: "the card to say running" });
  await waitFor(() => processesWith(`sleep ${marker}`).length > 0, { what: "the sandbox's sleep to run" });
  await page.locator("#stop").click();
  await waitText(w.turn(0).locator('.turn-note[data-kind="interrupted"]'), /Interrupted/);
  await w.waitIdle();
  await waitFor(() => processesWith(`sleep ${marker}`).length === 0,
    { what: "the sandbox's command to be killed", describe: () => JSON.stringify(processesWith(`sleep ${marker}`)) });
  assert.notEqual(await card.getAttribute("data-status"), "running", "the card no longer says running");
  assert.equal(await page.locator("#stop").isVisible(), false);
  assert.equal(await page.locator("#prompt").isEditable(), true, "the box takes a new message");
  const sid = await w.sessionId();
  const s = await w.api("GET", `/api/sessions/${sid}`);
  assert.notEqual(s.json.state, "running", JSON.stringify(s.json));
});

uiTest("Stop during a slowly streamed reply ends the turn and shows Interrupted", async (w) => {
  const page = w.page;
  const words = Array.from({ length: 4000 }, (_, i) => `slow${String(i).padStart(4, "0")}`).join(" ");
  await w.mock.enqueue(text(words, { chunk_chars: 10, dribble: [40, 80], delay_ms: 40 }));
  await w.open();
  await w.send("Tell me a long story, slowly.");
  await waitText(w.turn(0).locator(".msg-assistant"), "slow0003");
  await page.locator("#stop").click();
  await waitText(w.turn(0).locator('.turn-note[data-kind="interrupted"]'), /Interrupted/);
  await w.waitIdle();
  const shown = await w.turn(0).locator(".msg-assistant").innerText();
  assert.ok(!shown.includes("slow3999"), "the reply was cut, not finished");
  // the model call was abandoned: the mock's stream to agentd broke off
  await waitFor(async () => (await w.mock.requests())[0]?.client_disconnected === true,
    { what: "the mock to see agentd abandon the streamed reply", describe: async () => JSON.stringify((await w.mock.requests())[0]?.t_done) });
  assert.equal(await page.locator("#stop").isVisible(), false);
});

uiTest("a reload in the middle of a turn reattaches and loses nothing (tool card, whole reply, once)", async (w) => {
  let page = w.page;
  const N = 300;
  const final = Array.from({ length: N }, (_, i) => `w${String(i).padStart(4, "0")}`).join(" ");
  await w.mock.enqueue(
    sayThenBash("Before the tool.", w.gated("r1")),
    text(final, { chunk_chars: 16, dribble: [30, 60], delay_ms: 15 }),
  );
  await w.open();
  await w.send("Do the thing.");
  const sid = await w.sessionId();
  await waitFor(async () => (await w.turn(0).locator(".tool-card").getAttribute("data-status", { timeout: 1000 }).catch(() => "")) === "running",
    { what: "the gated command's card to be running" });
  await waitText(w.turn(0).locator(".msg-assistant"), "Before the tool.");

  await page.reload();
  await w.ready();
  assert.equal(await w.sessionId(), sid, "the reload reopened the session of the URL");
  const t0 = w.turn(0);
  await waitCount(t0.locator("details.tool-card"), 1);
  await waitFor(async () => (await t0.locator("details.tool-card").getAttribute("data-status")) === "running",
    { what: "the reattached card to be running" });
  await w.waitRunning();
  assert.equal(await page.locator("#stop").isVisible(), true, "Stop is back after the reload");

  w.release("r1");
  // a second reload while the answer streams in
  await waitText(t0.locator(".msg-assistant"), "w0005");
  await page.reload();
  await w.ready();
  await w.waitIdle();
  await waitText(w.turn(0).locator(".msg-assistant"), `w${String(N - 1).padStart(4, "0")}`);
  const check = async (when) => {
    const all = await conversationText(page);
    assert.equal(await page.locator("#conversation article.turn").count(), 1, `${when}: one turn`);
    assert.equal(await page.locator("#conversation .msg-user").count(), 1, `${when}: one user message`);
    assert.equal(occurrences(all, "Do the thing."), 1, `${when}: the user's message once`);
    assert.equal(occurrences(all, "Before the tool."), 1, `${when}: the text before the tool once`);
    assert.equal(await page.locator("#conversation details.tool-card").count(), 1, `${when}: one tool card`);
    const words = all.match(/\bw\d{4}\b/g) || [];
    assert.equal(words.join(" "), final, `${when}: the whole reply, exactly once and in order`);
    const card = page.locator("#conversation details.tool-card");
    assert.equal(await card.getAttribute("data-status"), "ok", `${when}: the card ended ok`);
    assert.match(await card.locator(".tool-output").textContent(), /started\s*\n\s*released/, `${when}: the card's whole output`);
  };
  await check("after the reloads");
  page = w.page;
  await page.reload();
  await w.ready();
  await waitText(w.turn(0).locator(".msg-assistant"), `w${String(N - 1).padStart(4, "0")}`);
  await check("after a reload once the turn was over");
});

uiTest("a second tab sees the same conversation, live, and its messages show in the first", async (w) => {
  // Each tab lists the workspace when a turn ends; a turn the other tab starts meanwhile
  // makes agentd refuse that listing (409: no file operation during a turn), which the
  // page takes in its stride (it lists again at that turn's end), but Chromium logs.
  w.expectConsole(/status of 409 \(Conflict\) \(http:\/\/[^)]*\/files\//);
  const a = w.page;
  await w.mock.enqueue(sayThenBash("Working on it.", w.gated("t1")), text("First answer: FIRST-DONE."),
    text("Second answer: SECOND-DONE."));
  await w.open(a);
  await w.send("Message from tab A", a);
  const sid = await w.sessionId(a);
  await waitCount(w.turn(0, a).locator("details.tool-card"), 1);

  const b = await w.context.newPage();
  await w.open(b, `#/s/${sid}`);
  await waitText(w.turn(0, b).locator(".msg-user"), "Message from tab A");
  await waitCount(w.turn(0, b).locator("details.tool-card"), 1);
  await waitText(w.turn(0, b).locator(".msg-assistant"), "Working on it.");
  w.release("t1");
  await waitText(w.turn(0, a).locator(".msg-assistant"), "FIRST-DONE");
  await waitText(w.turn(0, b).locator(".msg-assistant"), "FIRST-DONE");
  await w.waitIdle(a);
  await w.waitIdle(b);

  await w.send("Message from tab B", b);
  await waitText(w.turn(1, b).locator(".msg-assistant"), "SECOND-DONE");
  await waitText(w.turn(1, a).locator(".msg-user"), "Message from tab B");
  await waitText(w.turn(1, a).locator(".msg-assistant"), "SECOND-DONE");
  for (const p of [a, b]) {
    const all = await conversationText(p);
    assert.equal(occurrences(all, "FIRST-DONE"), 1);
    assert.equal(occurrences(all, "SECOND-DONE"), 1);
    assert.equal(await p.locator("#conversation article.turn").count(), 2);
  }
});

uiTest("a 300 KB streamed reply completes, and the page answers clicks while it streams", async (w) => {
  const page = w.page;
  const lines = [];
  for (let i = 0; lines.join("\n\n").length < 300_000; i++) {
    lines.push(`Line ${String(i).padStart(5, "0")}: the quick brown fox jumps over the lazy dog, again and again and again.`);
  }
  const big = lines.join("\n\n");
  await w.mock.enqueue(bashCall("echo warm-up"), text(big, { chunk_chars: 64, dribble: [200, 400], delay_ms: 2 }));
  await w.open();
  await w.send("Write a very long answer.");
  const reply = w.turn(0).locator(".msg-assistant");
  await waitText(reply, "Line 00010");
  // while it streams: a click on the tool card's summary opens and closes it (the page's
  // main thread takes the click), and the turn is still running after each
  const card = w.turn(0).locator("details.tool-card");
  let answered = 0;
  for (let i = 0; i < 4; i++) {
    const before = await card.evaluate((el) => el.open);
    await card.locator("summary").click();
    await waitFor(async () => (await card.evaluate((el) => el.open)) !== before, { what: "the card to open or close on a click" });
    if ((await w.turnState()) === "running") answered++;
  }
  assert.ok(answered >= 1, "the page answered clicks only once the reply had finished streaming");
  await w.waitIdle();
  await waitText(reply, `Line ${String(lines.length - 1).padStart(5, "0")}`, { timeout: 120_000 });
  const shown = await reply.innerText();
  const got = shown.match(/Line \d{5}/g) || [];
  assert.equal(got.length, lines.length, "every line once");
  assert.equal(new Set(got).size, lines.length);
  assert.ok(shown.includes(lines[lines.length - 1]), "the last line whole");
});
