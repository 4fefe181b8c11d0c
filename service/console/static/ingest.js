// Ingest: drop a JSONL/CSV/text file or paste text; documents go to the documents endpoint in
// batches (each all or nothing, as with `semsearch ingest`), with a progress bar and, at the
// end, the summary: documents, empty ones skipped, tokens, time and rate.

import { api, seg } from "./api.js";
import { errorBox, field, fmt, h, select, show } from "./dom.js";
import { link, route } from "./nav.js";
import { SourceError, formatOf, parse } from "./parse.js";
import { pickCollection } from "./picker.js";

export async function ingestPanel(root, [name]) {
  const { current, control } = await pickCollection("ingest", name);
  show(root, h("h1", {}, "Ingest"), control);
  if (!current) return;

  let dropped = null; // {name, text}
  const fileInput = h("input", { type: "file", id: "ingest-file", accept: ".jsonl,.json,.ndjson,.csv,.txt,.md" });
  const fileShown = h("span", { class: "muted", id: "ingest-file-name" }, "no file");
  const drop = h("div", { class: "dropzone", id: "dropzone", tabindex: 0 }, h("p", {}, "Drop a JSONL, CSV, .txt or .md file here, or "), fileInput, fileShown);
  const pasted = h("textarea", { id: "ingest-text", rows: 6, spellcheck: false, placeholder: '{"id": "1", "text": "The cat sat on the mat", "metadata": {"topic": "pets"}}' });
  const format = select(
    [
      { value: "auto", label: "from the file name (JSONL otherwise)" },
      { value: "jsonl", label: "JSONL: one {id, text, metadata} per line" },
      { value: "csv", label: "CSV with a header (id, text, title, ...)" },
      { value: "text", label: "plain text: one document" },
      { value: "paragraphs", label: "plain text: one document per paragraph" },
    ],
    "auto",
    { id: "ingest-format" },
  );
  const batch = h("input", { type: "number", id: "ingest-batch", min: 1, max: 2048, value: 256 });
  const progress = h("progress", { id: "ingest-progress", max: 1, value: 0, hidden: true });
  const progressText = h("span", { class: "muted", id: "ingest-progress-text" });
  const result = h("div", { id: "ingest-result" });
  const start = h("button", { type: "submit", class: "primary", id: "ingest-start" }, "Ingest");
  const stop = h("button", { type: "button", id: "ingest-stop", hidden: true }, "Stop");

  const take = async (file) => {
    dropped = { name: file.name, text: await file.text() };
    fileShown.textContent = `${file.name} (${fmt.int(file.size)} bytes)`;
  };
  fileInput.addEventListener("change", () => fileInput.files[0] && take(fileInput.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files[0]) take(event.dataTransfer.files[0]);
  });

  let controller = null;
  stop.addEventListener("click", () => controller && controller.abort());

  const form = h(
    "form",
    { id: "ingest-form", class: "card" },
    drop,
    field("…or paste", pasted),
    h("div", { class: "row" }, field("Format", format), field("Documents per request", batch)),
    h("div", { class: "actions" }, start, stop),
    h("div", { class: "progress" }, progress, progressText),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(result);
    const source = pasted.value.trim() ? { name: "pasted", text: pasted.value } : dropped;
    if (!source) return show(result, errorBox("Drop or choose a file, or paste some text, first."));
    let docs;
    try {
      const chosen = format.value === "auto" ? (source === dropped ? formatOf(source.name) : "jsonl") : format.value;
      docs = parse(source.text, chosen, source.name);
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      return show(result, errorBox(error.message));
    }
    controller = new AbortController();
    start.disabled = true;
    stop.hidden = false;
    try {
      const summary = await send(current.name, docs, Number(batch.value) || 256, controller.signal, (done, total, rate) => {
        progress.hidden = false;
        progress.max = total;
        progress.value = done;
        const eta = rate > 0 && done < total ? ` · ETA ${Math.ceil((total - done) / rate)} s` : "";
        progressText.textContent = `${fmt.int(done)} / ${fmt.int(total)} documents · ${Math.floor((100 * done) / total)}% · ${fmt.int(Math.round(rate))} docs/s${eta}`;
      });
      show(result, summaryBox(current.name, summary));
    } finally {
      start.disabled = false;
      stop.hidden = true;
      controller = null;
    }
  });
  root.append(form, result);
}

/** Batches in order; stops at the first error (naming its document) or when aborted. */
async function send(name, docs, size, signal, onProgress) {
  const path = `/collections/${seg(name)}/documents`;
  const started = performance.now();
  const out = { sent: 0, skipped: 0, tokens: 0, seconds: 0, error: null, stopped: false, total: docs.length };
  onProgress(0, docs.length, 0);
  for (let i = 0; i < docs.length; i += size) {
    const batch = docs.slice(i, i + size);
    const kept = batch.filter((d) => d.text);
    out.skipped += batch.length - kept.length;
    if (kept.length) {
      try {
        const answer = await api.post(path, { documents: kept }, { signal });
        out.sent += answer.upserted;
        out.tokens += answer.usage.total_tokens;
      } catch (error) {
        if (error.name === "AbortError") out.stopped = true;
        else out.error = named(error, kept);
        break;
      }
    }
    out.seconds = (performance.now() - started) / 1000;
    onProgress(Math.min(i + size, docs.length), docs.length, (i + batch.length) / Math.max(out.seconds, 1e-3));
  }
  out.seconds = (performance.now() - started) / 1000;
  return out;
}

/** "documents[7].text" -> the id of the document the server rejected. */
function named(error, batch) {
  const match = /^documents\[(\d+)\]/.exec(error.param || "");
  if (match && batch[Number(match[1])]) error.message = `document ${JSON.stringify(batch[Number(match[1])].id)} rejected: ${error.message}`;
  return error;
}

function summaryBox(name, s) {
  const rate = s.sent / Math.max(s.seconds, 1e-9);
  const line = `Ingested ${fmt.int(s.sent)} document${s.sent === 1 ? "" : "s"} into ${name} (${fmt.int(s.skipped)} empty skipped), ${fmt.int(s.tokens)} tokens, ${s.seconds.toFixed(1)} s, ${fmt.int(Math.round(rate))} docs/s.`;
  return h(
    "div",
    { class: `summary-box ${s.error ? "failed" : "done"}`, id: "ingest-summary" },
    h("p", {}, line),
    s.stopped ? h("p", { class: "muted" }, `Stopped: ${fmt.int(s.total - s.sent - s.skipped)} documents were not sent.`) : null,
    s.error ? errorBox(s.error) : null,
    h("p", {}, link(route("search", name), "Search them"), " · ", link(route("documents", name), "browse them")),
  );
}
