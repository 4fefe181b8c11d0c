// Search: a query with mode, alpha, k, typo tolerance and a `where` filter; hits with their
// score, the parts of a hybrid score, metadata, the text with the query's words marked (and
// the best passage, on collections that have passages); the request as a curl line.

import { api, getKey, seg } from "./api.js";
import { errorBox, field, fmt, h, select, show } from "./dom.js";
import { highlight, matcher, queryTerms, snippet } from "./highlight.js";
import { link, route } from "./nav.js";
import { pickCollection } from "./picker.js";

export async function searchPanel(root, [name]) {
  const { current, control } = await pickCollection("search", name);
  show(root, h("h1", {}, "Search"), control);
  if (!current) return;
  const c = current;

  const query = h("input", { type: "search", id: "query", name: "query", placeholder: "what are you looking for?", required: true, autofocus: true });
  const mode = select(
    [{ value: "", label: `collection default (${c.default_mode})` }, "hybrid", "vector", "lexical"],
    "",
    { id: "mode", name: "mode" },
  );
  const alpha = h("input", { type: "range", id: "alpha", name: "alpha", min: 0, max: 1, step: 0.05, value: c.alpha });
  const alphaShown = h("output", { for: "alpha" }, String(c.alpha));
  const k = h("input", { type: "number", id: "k", name: "k", min: 1, max: 1000, value: 10 });
  const typos = h("input", { type: "checkbox", id: "typo-tolerance", checked: true });
  const where = h("textarea", { id: "where", name: "where", rows: 2, spellcheck: false, placeholder: '{"year": {"$gte": 2020}}' });
  const whereError = h("small", { class: "error-text" });
  const effectiveMode = () => mode.value || c.default_mode;
  const syncAlpha = () => {
    alpha.disabled = effectiveMode() !== "hybrid";
    alphaShown.value = alpha.disabled ? "n/a" : Number(alpha.value).toFixed(2);
  };
  alpha.addEventListener("input", syncAlpha);
  mode.addEventListener("change", syncAlpha);
  syncAlpha();

  const parseWhere = () => {
    whereError.textContent = "";
    if (!where.value.trim()) return undefined;
    try {
      const value = JSON.parse(where.value);
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("a filter is a JSON object");
      return value;
    } catch (error) {
      whereError.textContent = `Not a valid filter: ${error.message}`;
      return null;
    }
  };
  where.addEventListener("input", parseWhere);

  const results = h("div", { id: "results" });
  const curl = h("div", { id: "curl" });
  const form = h(
    "form",
    { id: "search-form", class: "card" },
    h("div", { class: "row grow" }, field("Query", query), h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search"))),
    h("div", { class: "row" },
      field("Mode", mode),
      field("Alpha (vector weight)", h("span", { class: "range" }, alpha, alphaShown)),
      field("k", k),
      h("label", { class: "check" }, typos, " typo tolerance"),
    ),
    field("where (metadata filter, JSON)", where, "operators: $eq $ne $gt $gte $lt $lte $in $nin $and $or"),
    whereError,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const filter = parseWhere();
    if (filter === null) return;
    const body = { query: query.value, k: Number(k.value) || 10, include: ["text", "metadata", "scores"] };
    if (c.passages) body.include.push("passages");
    if (mode.value) body.mode = mode.value;
    if (effectiveMode() === "hybrid") body.alpha = Number(alpha.value);
    if (!typos.checked) body.typo_tolerance = false;
    if (filter) body.where = filter;
    const path = `/collections/${seg(c.name)}/query`;
    show(curl, curlLine(path, body));
    show(results, h("p", { class: "muted" }, "Searching…"));
    const started = performance.now();
    try {
      const answer = await api.post(path, body);
      const ms = performance.now() - started;
      const matches = matcher(queryTerms(body.query, { language: c.lexical && c.lexical.language }), { typos: typos.checked });
      show(results, summary(answer, ms), hitList(c, answer.data, matches));
    } catch (error) {
      show(results, errorBox(error));
    }
  });
  root.append(form, curl, results);
  query.focus();
}

function summary(answer, ms) {
  return h(
    "p",
    { class: "summary", id: "search-summary" },
    `${answer.data.length} hits · mode `,
    h("strong", { class: "answer-mode" }, answer.mode),
    ` · ${ms.toFixed(1)} ms · ${answer.usage.total_tokens} tokens · model ${answer.model}`,
  );
}

function hitList(c, hits, matches) {
  if (!hits.length) return h("p", { class: "empty" }, "No results.");
  return h("ol", { class: "hits" }, hits.map((hit, i) => hitItem(c, hit, i + 1, matches)));
}

function hitItem(c, hit, rank, matches) {
  const parts = hit.scores
    ? h("span", { class: "parts", title: "raw parts of the score: BM25 of the text, similarity of the vector" }, `lexical ${fmt.num(hit.scores.lexical)} · vector ${fmt.num(hit.scores.vector)}`)
    : null;
  const text = hit.text || "";
  const short = snippet(text, matches);
  const body = h("p", { class: "text" }, highlight(short.text, matches));
  const more = short.cut
    ? h("button", { type: "button", class: "link small", onclick: (event) => { show(body, highlight(text, matches)); event.target.remove(); } }, "whole text")
    : null;
  return h(
    "li",
    { class: "hit", dataset: { id: hit.id } },
    h("div", { class: "hit-head" },
      h("span", { class: "rank" }, `${rank}.`),
      link(route("documents", c.name, hit.id), hit.id),
      h("span", { class: "score", title: "score" }, fmt.num(hit.score)),
      parts,
    ),
    passage(hit, matches),
    body,
    more,
    metadata(hit.metadata),
  );
}

function passage(hit, matches) {
  if (!hit.passages || !hit.passages.length) return null;
  const best = hit.passages.reduce((a, b) => (b.score > a.score ? b : a));
  // A document that was not split is one passage, its whole text: already shown below.
  if (hit.text != null && best.start === 0 && best.end === hit.text.length) return null;
  return h(
    "blockquote",
    { class: "passage" },
    h("small", { class: "muted" }, `best passage, characters ${best.start}-${best.end}, score ${fmt.num(best.score)}`),
    h("p", {}, highlight(best.text, matches)),
  );
}

export function metadata(meta) {
  if (!meta || !Object.keys(meta).length) return null;
  return h("ul", { class: "chips" }, Object.entries(meta).map(([key, value]) => h("li", {}, h("span", { class: "key" }, key), " ", Array.isArray(value) ? value.join(", ") : String(value))));
}

/** A shell-safe single-quoted word. */
function quote(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function curlLine(path, body) {
  const auth = getKey() ? ' -H "Authorization: Bearer $SEMSEARCH_API_KEY"' : "";
  const line = `curl -s ${quote(location.origin + path)} -H 'Content-Type: application/json'${auth} -d ${quote(JSON.stringify(body))}`;
  const code = h("code", { id: "curl-line" }, line);
  const copy = h("button", { type: "button", class: "small", onclick: async (event) => {
    try {
      await navigator.clipboard.writeText(line);
      event.target.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(code); // no clipboard permission: select it for Ctrl+C
      event.target.textContent = "Selected";
    }
  } }, "Copy");
  return h("div", { class: "curl" }, h("span", { class: "muted" }, "The same request: "), copy, h("pre", {}, code));
}
