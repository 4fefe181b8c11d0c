// The console's shell: hash routes (#/panel/args...), the navigation, and the API key prompt.

import { ApiError, getKey, onUnauthorized, setKey } from "./api.js";
import { errorBox, h, show } from "./dom.js";
import { collectionsPanel } from "./collections.js";
import { searchPanel } from "./search.js";
import { documentsPanel } from "./documents.js";
import { ingestPanel } from "./ingest.js";
import { embeddingsPanel } from "./embeddings.js";
import { fineTuningPanel } from "./finetune.js";
import { dashboardPanel } from "./dashboard.js";

const PANELS = {
  collections: collectionsPanel,
  search: searchPanel,
  documents: documentsPanel,
  ingest: ingestPanel,
  embeddings: embeddingsPanel,
  "fine-tuning": fineTuningPanel,
  dashboard: dashboardPanel,
};

const main = document.getElementById("main");
let stopCurrent = null; // a panel may return a function that stops its timers

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = parts[0] || "collections";
  return { name: name in PANELS ? name : "collections", args: parts.slice(1).filter(Boolean) };
}

async function render() {
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
  const { name, args } = parseRoute();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.panel === name);
  }
  const root = h("section", { class: "panel", id: `panel-${name}` });
  show(main, root);
  document.title = `${name} · semsearch console`;
  try {
    const stop = await PANELS[name](root, args);
    if (typeof stop === "function") stopCurrent = stop;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the key prompt is up
    if (!root.querySelector(".error")) root.append(errorBox(error)); // a panel may have shown it
    if (!(error instanceof ApiError)) console.error(error);
  }
}

// -- the API key ----------------------------------------------------------------------------

function renderAuthStatus() {
  const status = document.getElementById("auth-status");
  if (!getKey()) return show(status);
  show(
    status,
    h("span", { class: "muted" }, "API key set for this tab "),
    h("button", { type: "button", class: "small", id: "forget-key", onclick: () => { setKey(null); location.reload(); } }, "Forget key"),
  );
}

let prompting = false;

/** The server answered 401: ask for a key (once, however many requests failed). */
function askForKey(error) {
  if (prompting) return;
  prompting = true;
  const refused = Boolean(getKey());
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true, "aria-label": "API key" });
  const form = h(
    "form",
    { method: "dialog", id: "auth-form" },
    h("h2", {}, "This server needs an API key"),
    h("p", {}, "Give one of the keys in the server's ", h("code", {}, "SEMSEARCH_API_KEYS"), ". It is sent as a bearer token with every request, and kept only in this tab's session storage."),
    refused ? h("p", { class: "error", id: "auth-refused" }, `The key was refused: ${error.message}`) : null,
    h("label", { class: "field" }, h("span", { class: "label" }, "API key"), input),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Use this key")),
  );
  const dialog = h("dialog", { id: "auth-dialog" }, form);
  form.addEventListener("submit", () => setKey(input.value.trim()));
  dialog.addEventListener("cancel", (event) => event.preventDefault()); // no key, no console
  dialog.addEventListener("close", () => {
    dialog.remove();
    prompting = false;
    renderAuthStatus();
    render();
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}

onUnauthorized(askForKey);
window.addEventListener("hashchange", render);
renderAuthStatus();
render();
