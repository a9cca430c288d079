// The token dialog: opened when agentd answers 401, once for all the requests that
// are waiting; says so when the token given was refused.

import { $ } from "./dom.js";
import { onUnauthorized, setToken } from "./api.js";

let waiting = null; // the promise every refused request waits on while the dialog is open

function ask(message, refusedToken) {
  if (waiting) return waiting;
  const dialog = $("token-dialog");
  const input = $("token-input");
  const error = $("token-error");
  const intro = $("token-intro");
  if (refusedToken) {
    error.textContent = `That token was refused (${message}).`;
    error.hidden = false;
    intro.textContent = "Enter another API token for this agentd.";
  } else {
    error.textContent = "";
    error.hidden = true;
    intro.textContent = "This agentd asks for an API token. Its administrator makes one with " +
      "“agentd token add NAME” on the server.";
  }
  input.value = "";
  waiting = new Promise((resolve) => {
    const form = dialog.querySelector("form");
    const onSubmit = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.textContent = "Enter a token first.";
        error.hidden = false;
        input.focus();
        return;
      }
      setToken(token);
      form.removeEventListener("submit", onSubmit);
      dialog.close();
      waiting = null;
      resolve();
    };
    form.addEventListener("submit", onSubmit);
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return waiting;
}

export function setupTokenDialog() {
  const dialog = $("token-dialog");
  // Without a token nothing works here: Escape does not close the dialog.
  dialog.addEventListener("cancel", (ev) => ev.preventDefault());
  onUnauthorized(ask);
}
