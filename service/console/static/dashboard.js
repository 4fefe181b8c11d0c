// A small live dashboard from /metrics: requests per second, latency percentiles (over the
// last interval and since start), the embedding cache's hit rate, and the busiest routes.

import { api } from "./api.js";
import { errorBox, fmt, h, show } from "./dom.js";
import { lineChart } from "./chart.js";
import { bucketDelta, parseMetrics, quantile, summarize } from "./metrics.js";

const INTERVAL_MS = 2000;
const HISTORY = 60; // points on the chart: two minutes

export function dashboardPanel(root) {
  const figures = h("div", { class: "figures", id: "dashboard-figures" }, h("p", { class: "muted" }, "Reading /metrics…"));
  const chart = h("div", { id: "dashboard-chart" });
  const routes = h("div", { id: "dashboard-routes" });
  show(root, h("h1", {}, "Dashboard"), h("p", { class: "muted" }, `From /metrics every ${INTERVAL_MS / 1000} s; the console's own page, files and polling are not counted.`), figures, chart, routes);

  let previous = null; // {at, summary}
  const history = [];
  let timer = null;
  let stopped = false;

  const tick = async () => {
    let summary;
    const at = performance.now() / 1000;
    try {
      summary = summarize(parseMetrics(await api.text("/metrics")));
    } catch (error) {
      show(figures, errorBox(error));
      if (error.status === 401) return;
      timer = setTimeout(tick, INTERVAL_MS);
      return;
    }
    if (stopped) return;
    let rate = null;
    let window = null;
    if (previous) {
      rate = (summary.requests - previous.summary.requests) / (at - previous.at);
      window = bucketDelta(summary.buckets, previous.summary.buckets);
      history.push([history.length ? history[history.length - 1][0] + INTERVAL_MS / 1000 : 0, rate]);
      if (history.length > HISTORY) history.shift();
    }
    previous = { at, summary };
    const tile = (label, value, id) => h("div", { class: "tile", id }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));
    const p = (q) => fmt.ms(quantile(summary.buckets, q));
    const recent = (q) => (window && quantile(window, q) !== null ? fmt.ms(quantile(window, q)) : "–");
    show(
      figures,
      tile("requests / s", rate === null ? "…" : rate.toFixed(2), "tile-rps"),
      tile("p50 latency (last interval)", recent(0.5), "tile-p50-now"),
      tile("p50 · p90 · p99 since start", `${p(0.5)} · ${p(0.9)} · ${p(0.99)}`, "tile-percentiles"),
      tile("embedding cache hit rate", fmt.pct(summary.cacheHitRate), "tile-cache"),
      tile("requests since start", fmt.int(summary.requests), "tile-requests"),
      tile("5xx answers", fmt.int(summary.errors5xx), "tile-errors"),
      tile("tokens embedded", fmt.int(summary.tokens), "tile-tokens"),
      tile("upstream requests · failures", `${fmt.int(summary.upstreamRequests)} · ${fmt.int(summary.upstreamErrors)}`, "tile-upstream"),
    );
    show(chart, lineChart([{ label: "requests / s", points: history }], { title: "requests per second", xLabel: "seconds", height: 160 }));
    show(
      routes,
      h("h2", {}, "Routes"),
      h("table", { class: "grid", id: "routes" },
        h("thead", {}, h("tr", {}, ["route", "requests", "5xx", "p50", "p99"].map((t) => h("th", {}, t)))),
        h("tbody", {}, summary.routes.slice(0, 20).map((r) => {
          const b = summary.routeBuckets(r.route, r.method);
          return h("tr", {}, h("td", {}, `${r.method} ${r.route}`), h("td", { class: "num" }, fmt.int(r.requests)), h("td", { class: "num" }, fmt.int(r.errors)), h("td", { class: "num" }, fmt.ms(quantile(b, 0.5))), h("td", { class: "num" }, fmt.ms(quantile(b, 0.99))));
        })),
      ),
    );
    timer = setTimeout(tick, INTERVAL_MS);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
