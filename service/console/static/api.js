// The console talks to semsearch only through its public HTTP API, on the page's own origin.
// The API key, when the server wants one, lives in sessionStorage: gone when the tab closes,
// never in localStorage, a cookie or a URL.

const KEY = "semsearch.apiKey";

export function getKey() {
  return sessionStorage.getItem(KEY);
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An error answer, with the fields of OpenAI's error envelope. */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    const error = (body && typeof body === "object" && body.error) || {};
    super(error.message || fallback || `HTTP ${status}`);
    this.status = status;
    this.type = error.type || null;
    this.param = error.param || null;
    this.code = error.code || null;
  }
}

let unauthorized = () => {};

/** Called with the ApiError of any 401 (the app then asks for a key). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function headers(json) {
  const out = json ? { "Content-Type": "application/json" } : {};
  const key = getKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function send(method, path, body, { signal, json = true } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, null, `cannot reach the server (${exc.message})`);
  }
  const text = await response.text();
  let data = text;
  if (json || !response.ok) {
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, text.slice(0, 200));
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path, options) => send("GET", path, undefined, options),
  post: (path, body, options) => send("POST", path, body, options),
  patch: (path, body, options) => send("PATCH", path, body, options),
  delete: (path, options) => send("DELETE", path, undefined, options),
  /** A text answer (the Prometheus exposition of /metrics). */
  text: (path, options) => send("GET", path, undefined, { ...options, json: false }),
};

/** A path segment, escaped: collection names are safe, document ids may hold anything. */
export const seg = encodeURIComponent;

/** Query-string from an object, leaving out empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Every collection, with its count and settings. */
export async function listCollections() {
  return (await api.get("/collections")).data;
}
