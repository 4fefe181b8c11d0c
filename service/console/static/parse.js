// Documents from a file or pasted text, read as `semsearch ingest` reads them
// (service/sources.py): JSONL (a BEIR corpus.jsonl as it is: `_id`, `title`, `text`), CSV with
// a header (`id`, `text`, optional `title`; other columns become metadata), or plain text.
// Every document is {id, text, metadata}; its text is `title + " " + text` and its title is
// kept in its metadata. Empty texts are kept (text "") for the caller to skip and count.

export class SourceError extends Error {}

function documentOf(id, title, text, meta, where) {
  if (id === undefined || id === null || String(id) === "") throw new SourceError(`${where}: no id (expected an 'id' or '_id' field)`);
  if (meta !== undefined && meta !== null && (typeof meta !== "object" || Array.isArray(meta))) {
    throw new SourceError(`${where}: metadata must be an object`);
  }
  const metadata = { ...(meta || {}) };
  const cleanTitle = String(title ?? "").trim();
  if (cleanTitle && !("title" in metadata)) metadata.title = cleanTitle;
  const full = `${cleanTitle} ${String(text ?? "").trim()}`.trim();
  return { id: String(id), text: full, metadata: Object.keys(metadata).length ? metadata : null };
}

export function parseJsonl(text, name = "input") {
  const docs = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${name}:${i + 1}`;
    let row;
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new SourceError(`${where}: not valid JSON (${error.message})`);
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) throw new SourceError(`${where}: expected a JSON object`);
    docs.push(documentOf(row.id ?? row._id, row.title, row.text, row.metadata, where));
  });
  return docs;
}

/** RFC 4180 rows: quoted fields may hold commas, doubled quotes and line breaks. */
export function csvRows(text) {
  const rows = [];
  let row = [];
  let value = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        value += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        value += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ",") {
      row.push(value);
      value = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(value);
      rows.push(row);
      row = [];
      value = "";
    } else {
      value += ch;
    }
  }
  if (value !== "" || row.length) {
    row.push(value);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== "");
}

export function parseCsv(text, name = "input") {
  const [header, ...rows] = csvRows(text);
  if (!header || !header.includes("text")) throw new SourceError(`${name}: a CSV needs a header with a 'text' column`);
  const stem = name.replace(/\.[^.]*$/, "");
  return rows.map((cells, i) => {
    const row = Object.fromEntries(header.map((key, j) => [key, cells[j] ?? ""]));
    const id = row.id || row._id || `${stem}-${i + 1}`;
    const { id: _a, _id: _b, title, text: body, ...rest } = row;
    const meta = Object.fromEntries(Object.entries(rest).filter(([key, value]) => key && value !== ""));
    return documentOf(id, title, body, meta, `${name}:${i + 2}`);
  });
}

/** A whole text as one document (a dropped .txt or .md file: its name is its id). */
export function oneDocument(text, id) {
  return [documentOf(id, null, text, { path: id }, id)];
}

/** Pasted text, one document per paragraph (blank-line separated): ids `${prefix}-1`, ... */
export function paragraphs(text, prefix = "pasted") {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p, i) => documentOf(`${prefix}-${i + 1}`, null, p, null, `paragraph ${i + 1}`));
}

/** The format a file name suggests: "csv", "text" (one document) or "jsonl". */
export function formatOf(fileName) {
  const lower = fileName.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".txt") || lower.endsWith(".md")) return "text";
  return "jsonl";
}

export function parse(raw, format, name) {
  const text = raw.replace(/^\uFEFF/, ""); // a spreadsheet's byte-order mark
  if (format === "csv") return parseCsv(text, name);
  if (format === "text") return oneDocument(text, name);
  if (format === "paragraphs") return paragraphs(text);
  return parseJsonl(text, name);
}
