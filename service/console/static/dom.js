// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so a document's text
// or metadata can hold any characters without becoming markup.

/** h("a", {href: "#/x", class: "link", onclick: fn}, "text", child, [more children]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value; // properties such as value, checked, disabled
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace everything in el with children. */
export function show(el, ...children) {
  clear(el);
  return append(el, children);
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  num: (n, digits = 4) =>
    n === null || n === undefined || Number.isNaN(n) ? "–" : Number(n).toFixed(digits),
  pct: (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)}%`),
  ms: (s) => (s === null || s === undefined || Number.isNaN(s) ? "–" : `${(1000 * s).toFixed(1)} ms`),
  time: (unix) => (unix ? new Date(unix * 1000).toLocaleString() : "–"),
};

/** An error from the API (or anything else) as a visible, readable block. */
export function errorBox(error) {
  const box = h("div", { class: "error", role: "alert" });
  if (error && error.status !== undefined) {
    box.append(h("strong", {}, `${error.status || "network"} ${error.type || "error"}`), ": ");
    box.append(error.message);
    if (error.param) box.append(h("span", { class: "muted" }, ` (param: ${error.param})`));
  } else {
    box.append(String((error && error.message) || error));
  }
  return box;
}

export function notice(text, kind = "ok") {
  return h("div", { class: `notice ${kind}`, role: "status" }, text);
}

/**
 * A modal confirmation; resolves true when confirmed. With `typeToConfirm`, the button stays
 * disabled until that exact text is typed (for dropping a collection).
 */
export function confirmDialog({ title, message, confirmLabel = "Confirm", typeToConfirm = null }) {
  return new Promise((resolve) => {
    const input = typeToConfirm
      ? h("input", { type: "text", "aria-label": "Type to confirm", autocomplete: "off" })
      : null;
    const ok = h("button", { class: "danger", type: "submit", disabled: !!typeToConfirm }, confirmLabel);
    const cancel = h("button", { type: "button" }, "Cancel");
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      h("p", {}, message),
      typeToConfirm ? h("label", {}, "Type ", h("code", {}, typeToConfirm), " to confirm: ", input) : null,
      h("div", { class: "actions" }, cancel, ok),
    );
    const dialog = h("dialog", { class: "confirm" }, form);
    if (input) input.addEventListener("input", () => (ok.disabled = input.value !== typeToConfirm));
    let answer = false;
    form.addEventListener("submit", () => (answer = true));
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || ok).focus();
  });
}

/** A <select> of options [{value, label}] or plain strings. */
export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const option of options) {
    const { value: v, label } = typeof option === "object" ? option : { value: option, label: option };
    el.append(h("option", { value: v, selected: v === value }, label));
  }
  return el;
}

/** A labelled form field. */
export function field(label, control, hint = null) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), control, hint ? h("small", { class: "muted" }, hint) : null);
}
