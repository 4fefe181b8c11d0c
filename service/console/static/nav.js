// Moving between panels: every panel is a hash route, so Back and Forward work.

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export function link(hash, ...children) {
  const a = document.createElement("a");
  a.href = hash;
  a.append(...children.map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return a;
}

/** The hash of a panel with arguments, each escaped (document ids may hold "/" or "#"). */
export function route(panel, ...args) {
  return `#/${[panel, ...args.filter((a) => a !== undefined && a !== null && a !== "")].map(encodeURIComponent).join("/")}`;
}
