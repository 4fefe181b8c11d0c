// Line charts as inline SVG: no library, no canvas, text stays selectable.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f4e8c", "#d1495b", "#2e933c", "#e69500", "#7b4fa0"];

function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  return el;
}

/**
 * series: [{label, points: [[x, y], ...], dashed?}] -> an <svg> with axes, a legend and one
 * polyline per series (a point per x). Empty series are left out.
 */
export function lineChart(series, { width = 560, height = 220, title = "", xLabel = "" } = {}) {
  const drawn = series.filter((s) => s.points.length);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  if (title) root.append(svg("title", {}, title));
  if (!drawn.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted" }, "no data yet"));
    return root;
  }
  const pad = { left: 48, right: 12, top: 24, bottom: 30 };
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0]));
  const ys = drawn.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const margin = (y1 - y0) * 0.08;
  [y0, y1] = [y0 - margin, y1 + margin];
  const X = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const Y = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const axes = svg("g", { class: "axes" });
  axes.append(svg("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }));
  axes.append(svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom }));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    axes.append(svg("text", { x: pad.left - 6, y: Y(y) + 4, "text-anchor": "end" }, y.toPrecision(3)));
  }
  axes.append(svg("text", { x: pad.left, y: height - 10 }, String(x0)));
  axes.append(svg("text", { x: width - pad.right, y: height - 10, "text-anchor": "end" }, String(x1)));
  if (xLabel) axes.append(svg("text", { x: (width + pad.left) / 2, y: height - 10, "text-anchor": "middle" }, xLabel));
  root.append(axes);
  drawn.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const points = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.dashed ? "5 4" : "none", "data-series": s.label }));
    root.append(svg("text", { x: pad.left + 8 + i * 150, y: 14, fill: color }, s.label));
  });
  return root;
}
