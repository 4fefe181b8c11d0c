// Documents: pages of a collection in id order (the API's `after` cursor), one document with
// its text and metadata (and its vector on demand), and deleting one after a confirmation.

import { api, qs, seg } from "./api.js";
import { confirmDialog, errorBox, field, fmt, h, notice, show } from "./dom.js";
import { go, link, route } from "./nav.js";
import { pickCollection } from "./picker.js";
import { metadata } from "./search.js";

const PAGE = 20;
let flash = null; // a message for the next list view ("Deleted x")

export async function documentsPanel(root, [name, id]) {
  if (name && id) return documentView(root, name, id);
  const { current, control } = await pickCollection("documents", name);
  show(root, h("h1", {}, "Documents"), control);
  if (!current) return;
  if (flash) root.append(notice(flash));
  flash = null;

  const where = h("input", { id: "documents-where", placeholder: '{"topic": "pets"}', spellcheck: false });
  const table = h("div", { id: "documents-page" });
  const pager = h("div", { class: "pager" });
  const cursors = [null]; // cursors[i] is the `after` of page i
  let page = 0;

  async function load() {
    let filter;
    if (where.value.trim()) {
      try {
        filter = JSON.stringify(JSON.parse(where.value));
      } catch (error) {
        show(table, errorBox(`Not a valid filter: ${error.message}`));
        return;
      }
    }
    show(table, h("p", { class: "muted" }, "Loading…"));
    let answer;
    try {
      answer = await api.get(`/collections/${seg(current.name)}/documents${qs({ limit: PAGE, after: cursors[page], where: filter })}`);
    } catch (error) {
      show(table, errorBox(error));
      return;
    }
    cursors[page + 1] = answer.has_more ? answer.last_id : undefined;
    show(table, pageTable(current.name, answer.data));
    const first = page * PAGE + (answer.data.length ? 1 : 0);
    show(
      pager,
      h("button", { type: "button", id: "page-previous", disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Previous"),
      h("span", { class: "muted", id: "page-info" }, ` page ${page + 1} · documents ${fmt.int(first)}-${fmt.int(page * PAGE + answer.data.length)} of ${fmt.int(current.count)} `),
      h("button", { type: "button", id: "page-next", disabled: !answer.has_more, onclick: () => { page += 1; load(); } }, "Next →"),
    );
  }

  const filterForm = h(
    "form",
    { class: "row", onsubmit: (event) => { event.preventDefault(); page = 0; cursors.length = 1; load(); } },
    field("where (metadata filter, JSON)", where),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter")),
  );
  root.append(filterForm, table, pager);
  await load();
}

function pageTable(name, docs) {
  if (!docs.length) return h("p", { class: "empty" }, "No documents here.");
  return h(
    "table",
    { class: "grid documents" },
    h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "text"), h("th", {}, "metadata"))),
    h(
      "tbody",
      {},
      docs.map((doc) =>
        h(
          "tr",
          { dataset: { id: doc.id } },
          h("td", {}, link(route("documents", name, doc.id), doc.id)),
          h("td", { class: "preview" }, (doc.text || "").slice(0, 160) + ((doc.text || "").length > 160 ? "…" : "")),
          h("td", {}, metadata(doc.metadata)),
        ),
      ),
    ),
  );
}

async function documentView(root, name, id) {
  const head = h("h1", {}, link(route("documents", name), name), " / ", h("span", { id: "document-id" }, id));
  const path = `/collections/${seg(name)}/documents/${seg(id)}`;
  let doc;
  try {
    doc = await api.get(path);
  } catch (error) {
    show(root, head, errorBox(error));
    return;
  }
  const vector = h("div", { id: "vector" });
  const status = h("div", { class: "status" });
  const remove = async () => {
    const confirmed = await confirmDialog({
      title: `Delete document ${id}?`,
      message: `It is removed from ${name} at once: its text, metadata and vector.`,
      confirmLabel: "Delete document",
    });
    if (!confirmed) return;
    try {
      await api.delete(path);
      flash = `Deleted ${id}.`;
      go(route("documents", name));
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  const showVector = async (event) => {
    event.target.disabled = true;
    try {
      const full = await api.get(`${path}${qs({ include: "vector" })}`);
      const values = full.vector || [];
      show(vector, h("p", { class: "muted" }, `${values.length} dimensions: `), h("code", { class: "vector" }, `[${values.slice(0, 12).map((v) => v.toFixed(4)).join(", ")}${values.length > 12 ? ", …" : ""}]`));
    } catch (error) {
      show(vector, errorBox(error));
    }
  };
  show(
    root,
    head,
    h("div", { class: "card document" },
      h("h2", {}, "Text"),
      h("p", { class: "text", id: "document-text" }, doc.text ?? "(no text: a vector-only document)"),
      h("h2", {}, "Metadata"),
      metadata(doc.metadata) || h("p", { class: "muted" }, "none"),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: showVector }, "Show vector"),
        h("button", { type: "button", class: "danger", id: "delete-document", onclick: remove }, "Delete"),
      ),
      vector,
      status,
    ),
  );
}
