// Collections: the list (counts, model, dimensions, metric, default mode), create, drop with a
// confirmation, and one collection's settings (PATCH default_mode, alpha, ef_search).

import { api, listCollections, seg } from "./api.js";
import { confirmDialog, errorBox, field, fmt, h, notice, select, show } from "./dom.js";
import { go, link, route } from "./nav.js";

const MODES = ["hybrid", "vector", "lexical"];
const LANGUAGES = ["english", "none", "arabic", "danish", "dutch", "finnish", "french", "german", "greek", "hungarian", "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "turkish"];

export async function collectionsPanel(root, [name]) {
  if (name) return settingsView(root, name);
  const list = h("div", { id: "collections-list" }, h("p", { class: "muted" }, "Loading…"));
  show(root, h("h1", {}, "Collections"), list, await createForm());
  await refresh(list);
}

function mode(c) {
  return c.default_mode === "hybrid" ? `hybrid (alpha ${c.alpha})` : c.default_mode;
}

async function refresh(list) {
  let collections;
  try {
    collections = await listCollections();
  } catch (error) {
    show(list, errorBox(error));
    throw error;
  }
  if (!collections.length) {
    show(list, h("p", { class: "empty" }, "No collections yet: create one below, then ingest documents into it."));
    return;
  }
  const rows = collections.map((c) =>
    h(
      "tr",
      { dataset: { collection: c.name } },
      h("td", {}, link(route("collections", c.name), c.name)),
      h("td", { class: "num count" }, fmt.int(c.count)),
      h("td", {}, c.model),
      h("td", { class: "num" }, c.dimensions),
      h("td", {}, c.metric),
      h("td", {}, mode(c)),
      h("td", {}, c.passages ? `${c.passages.size} / ${c.passages.overlap}` : "–"),
      h(
        "td",
        { class: "actions" },
        link(route("search", c.name), "Search"),
        link(route("documents", c.name), "Documents"),
        link(route("ingest", c.name), "Ingest"),
        h("button", { type: "button", class: "danger small", onclick: () => drop(c, list) }, "Drop"),
      ),
    ),
  );
  show(
    list,
    h(
      "table",
      { class: "grid" },
      h("thead", {}, h("tr", {}, ["Name", "Documents", "Model", "Dims", "Metric", "Default mode", "Passages", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows),
    ),
  );
}

async function drop(collection, list) {
  const confirmed = await confirmDialog({
    title: `Drop collection ${collection.name}?`,
    message: `This deletes the collection and its ${fmt.int(collection.count)} documents for good.`,
    confirmLabel: "Drop collection",
    typeToConfirm: collection.name,
  });
  if (!confirmed) return;
  try {
    await api.delete(`/collections/${seg(collection.name)}`);
    await refresh(list);
    list.prepend(notice(`Dropped ${collection.name}.`));
  } catch (error) {
    list.prepend(errorBox(error));
  }
}

async function createForm() {
  let models = [];
  try {
    models = (await api.get("/v1/models")).data.map((m) => m.id);
  } catch {
    // the list is a convenience: the server's default model is used when none is chosen
  }
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_\\-]{1,64}", placeholder: "notes" });
  const model = select([{ value: "", label: "server default" }, ...models], "", { name: "model" });
  const dimensions = h("input", { name: "dimensions", type: "number", min: 1, placeholder: "native" });
  const metric = select(["cosine", "ip", "l2"], "cosine", { name: "metric" });
  const language = h("input", { name: "language", value: "english", list: "languages" });
  const defaultMode = select(MODES, "hybrid", { name: "default_mode" });
  const alpha = h("input", { name: "alpha", type: "number", min: 0, max: 1, step: 0.05, placeholder: "0.3" });
  const status = h("div", { class: "status" });
  const form = h(
    "form",
    { id: "create-collection", class: "card" },
    h("h2", {}, "New collection"),
    h("div", { class: "row" },
      field("Name", name, "1-64 of A-Z a-z 0-9 _ -"),
      field("Model", model),
      field("Dimensions", dimensions),
      field("Metric", metric),
    ),
    h("div", { class: "row" },
      field("Language (lexical)", language),
      field("Default mode", defaultMode),
      field("Alpha (hybrid)", alpha, "weight of the vector side"),
    ),
    h("datalist", { id: "languages" }, LANGUAGES.map((l) => h("option", { value: l }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), metric: metric.value, default_mode: defaultMode.value };
    if (model.value) body.model = model.value;
    if (dimensions.value) body.dimensions = Number(dimensions.value);
    if (language.value.trim()) body.lexical = { language: language.value.trim() };
    if (alpha.value !== "") body.alpha = Number(alpha.value);
    try {
      await api.post("/collections", body);
      go(route("collections"));
    } catch (error) {
      show(status, errorBox(error));
    }
  });
  return form;
}

// -- one collection -------------------------------------------------------------------------

async function settingsView(root, name) {
  const head = h("h1", {}, link(route("collections"), "Collections"), " / ", name);
  let c;
  try {
    c = await api.get(`/collections/${seg(name)}`);
  } catch (error) {
    show(root, head, errorBox(error));
    throw error;
  }
  const rows = [
    ["Documents", fmt.int(c.count)],
    ["Model", c.model],
    ["Dimensions", c.dimensions],
    ["Metric", c.metric],
    ["HNSW", `m ${c.hnsw.m}, ef_construction ${c.hnsw.ef_construction}, ef_search ${c.hnsw.ef_search}`],
    ["Lexical analyzer", c.lexical ? c.lexical.language : "–"],
    ["Default mode", c.default_mode],
    ["Alpha", c.alpha],
    ["Passages", c.passages ? `size ${c.passages.size}, overlap ${c.passages.overlap}` : "off"],
    ["Created", fmt.time(c.created_at)],
    ["Metadata", JSON.stringify(c.metadata || {})],
  ];
  const defaultMode = select(MODES, c.default_mode, { name: "default_mode" });
  const alpha = h("input", { name: "alpha", type: "number", min: 0, max: 1, step: 0.05, value: c.alpha });
  const efSearch = h("input", { name: "ef_search", type: "number", min: 1, value: c.hnsw.ef_search });
  const status = h("div", { class: "status" });
  const form = h(
    "form",
    { id: "collection-settings", class: "card" },
    h("h2", {}, "Search defaults"),
    h("p", { class: "muted" }, "What a query does when it does not say. The model, metric, dimensions and analyzer stay as created."),
    h("div", { class: "row" }, field("Default mode", defaultMode), field("Alpha", alpha), field("ef_search", efSearch)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const updated = await api.patch(`/collections/${seg(name)}`, {
        default_mode: defaultMode.value,
        alpha: Number(alpha.value),
        ef_search: Number(efSearch.value),
      });
      show(status, notice(`Saved: ${updated.default_mode}, alpha ${updated.alpha}, ef_search ${updated.hnsw.ef_search}.`));
    } catch (error) {
      show(status, errorBox(error));
    }
  });
  show(
    root,
    head,
    h("p", { class: "links" }, link(route("search", name), "Search"), " · ", link(route("documents", name), "Documents"), " · ", link(route("ingest", name), "Ingest")),
    h("dl", { class: "settings", id: "collection-info" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    form,
  );
}
