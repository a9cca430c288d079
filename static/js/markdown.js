// Markdown to safe DOM: marked renders (GitHub flavour: tables, lists, fences), code is
// highlighted by highlight.js, and DOMPurify sanitizes all of it before it becomes DOM.
// The model's HTML is never live: raw HTML is shown as text, and DOMPurify removes any
// script, handler or javascript: link; links open in a new tab without a referrer; images
// become links (nothing is fetched from elsewhere).

import { Marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlight/highlight.min.js";
import { h } from "./dom.js";

const AUTO_DETECT_MAX = 4000; // guessing a language costs a pass per language: small blocks only
const HIGHLIGHT_MAX = 200000;  // larger blocks stay plain text

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));

export function highlight(code, lang) {
  if (code.length <= HIGHLIGHT_MAX) {
    try {
      if (lang && hljs.getLanguage(lang)) return { html: hljs.highlight(code, { language: lang }).value, lang };
      if (!lang && code.length <= AUTO_DETECT_MAX) {
        const r = hljs.highlightAuto(code);
        if (r.relevance >= 5) return { html: r.value, lang: r.language };
      }
    } catch {
      /* fall through to plain text */
    }
  }
  return { html: escapeHtml(code), lang };
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const name = ((lang || "").match(/^[\w+#.-]+/) || [""])[0].toLowerCase();
      const r = highlight(text, name);
      const cls = `hljs${r.lang ? ` language-${r.lang}` : ""}`;
      return `<pre><code class="${cls}">${r.html}</code></pre>\n`;
    },
    // Raw HTML in the model's Markdown is shown as text: it never reaches an HTML parser
    // as markup (DOMPurify below stays as a second line).
    html({ text, block }) {
      return block ? `<p class="raw-html">${escapeHtml(text.replace(/\n+$/, ""))}</p>\n` : escapeHtml(text);
    },
    image({ href, title, text }) {
      const label = `image: ${text || title || href}`;
      return `<a href="${escapeHtml(href || "")}">${escapeHtml(label)}</a>`;
    },
  },
});

const purifyConfig = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "img", "picture", "source", "video", "audio", "track", "iframe", "frame",
    "object", "embed", "form", "input", "button", "textarea", "select", "option", "link", "meta", "base"],
  FORBID_ATTR: ["style", "srcset", "background", "poster", "action", "formaction"],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href");
    if (href && !href.startsWith("#")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  }
});

// Wraps each <pre><code> in a block with its language and a Copy button.
function decorateCode(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    if (!code || pre.parentElement?.classList.contains("code-block")) continue;
    if (!code.classList.contains("hljs")) code.classList.add("hljs");
    const lang = [...code.classList].find((c) => c.startsWith("language-"));
    const head = h("div", { class: "code-head" },
      h("span", { class: "code-lang", text: lang ? lang.slice(9) : "text" }),
      h("button", { type: "button", class: "copy-code", "aria-label": "Copy code", text: "Copy" }));
    const block = h("div", { class: "code-block" }, head);
    pre.replaceWith(block);
    block.append(pre);
  }
}

// Markdown source -> a sanitized DocumentFragment.
export function renderMarkdown(src) {
  const html = marked.parse(src, { async: false });
  const frag = DOMPurify.sanitize(html, purifyConfig);
  decorateCode(frag);
  return frag;
}

// The copy buttons work by delegation: one listener for the whole conversation.
export function handleCopyClicks(container) {
  container.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button.copy-code");
    if (!btn) return;
    const code = btn.closest(".code-block")?.querySelector("code");
    if (!code) return;
    const ok = await copyText(code.textContent);
    btn.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { btn.textContent = "Copy"; }, 1500);
  });
}

export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back below */
  }
  // Plain http on another host has no clipboard API: the old way still works there.
  const ta = h("textarea", { class: "offscreen", "aria-hidden": "true" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
