// The Prometheus text format of /metrics, parsed, and the figures the dashboard shows.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** [{name, labels: {...}, value}] for every sample line. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, key, raw] of (match[2] || "").matchAll(LABEL)) {
      labels[key] = raw.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const value = match[3] === "+Inf" ? Infinity : match[3] === "-Inf" ? -Infinity : Number(match[3]);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** The console's own requests (its page, its files, the dashboard's polling) are left out. */
export function ownRoute(route) {
  return route === "/metrics" || route === "/" || route === "/console" || route.startsWith("/console/");
}

function sum(samples, name, keep = () => true) {
  return samples.filter((s) => s.name === name && keep(s.labels)).reduce((total, s) => total + s.value, 0);
}

/** Cumulative latency buckets {le: count} over the routes `keep` accepts. */
export function buckets(samples, keep = (labels) => !ownRoute(labels.route)) {
  const out = new Map();
  for (const s of samples) {
    if (s.name !== "semsearch_http_request_duration_seconds_bucket" || !keep(s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    out.set(le, (out.get(le) || 0) + s.value);
  }
  return out;
}

/** Bucket counts of `now` minus those of `before` (a window between two scrapes). */
export function bucketDelta(now, before) {
  const out = new Map();
  for (const [le, count] of now) out.set(le, count - ((before && before.get(le)) || 0));
  return out;
}

/** The q-quantile (0..1) from cumulative buckets, interpolated inside its bucket as
 * Prometheus's histogram_quantile does; null without observations. */
export function quantile(cumulative, q) {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) || 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const count = cumulative.get(bound);
    if (count >= rank) {
      if (bound === Infinity) return lower; // beyond the last finite bound: its value
      return lower + ((bound - lower) * (rank - below)) / Math.max(count - below, 1e-12);
    }
    lower = bound;
    below = count;
  }
  return lower;
}

/** The figures of one scrape. */
export function summarize(samples) {
  const hits = sum(samples, "semsearch_embedding_cache_hits_total");
  const misses = sum(samples, "semsearch_embedding_cache_misses_total");
  const routes = new Map();
  for (const s of samples) {
    if (s.name !== "semsearch_http_requests_total" || ownRoute(s.labels.route)) continue;
    const key = `${s.labels.method} ${s.labels.route}`;
    const row = routes.get(key) || { method: s.labels.method, route: s.labels.route, requests: 0, errors: 0 };
    row.requests += s.value;
    if (Number(s.labels.status) >= 500) row.errors += s.value;
    routes.set(key, row);
  }
  return {
    requests: sum(samples, "semsearch_http_requests_total", (l) => !ownRoute(l.route)),
    errors5xx: sum(samples, "semsearch_http_requests_total", (l) => !ownRoute(l.route) && Number(l.status) >= 500),
    cacheHits: hits,
    cacheMisses: misses,
    cacheHitRate: hits + misses ? hits / (hits + misses) : null,
    tokens: sum(samples, "semsearch_embedding_tokens_total"),
    upstreamRequests: sum(samples, "semsearch_upstream_requests_total"),
    upstreamErrors: sum(samples, "semsearch_upstream_errors_total"),
    buckets: buckets(samples),
    routeBuckets: (route, method) => buckets(samples, (l) => l.route === route && l.method === method),
    routes: [...routes.values()].sort((a, b) => b.requests - a.requests),
  };
}
