// On a narrow screen the sidebar and the side panel slide in over the chat, behind the
// two buttons of the top bar; Escape, a tap outside or a choice closes them.

import { $ } from "./dom.js";

const panels = [["toggle-sessions", "show-sessions"], ["toggle-side", "show-side"]];

export function closePanels() {
  for (const [btn, cls] of panels) {
    document.body.classList.remove(cls);
    $(btn).setAttribute("aria-expanded", "false");
  }
}

export function setupLayout() {
  for (const [btn, cls] of panels) {
    $(btn).addEventListener("click", () => {
      const open = !document.body.classList.contains(cls);
      closePanels();
      document.body.classList.toggle(cls, open);
      $(btn).setAttribute("aria-expanded", String(open));
    });
  }
  // A tap outside an open panel closes it (a phone has no Escape key).
  document.addEventListener("click", (ev) => {
    if (!document.body.matches(".show-sessions, .show-side")) return;
    if (ev.target.closest("#sessions, #side, #toggle-sessions, #toggle-side, dialog")) return;
    closePanels();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && document.body.matches(".show-sessions, .show-side")) closePanels();
  });
}
