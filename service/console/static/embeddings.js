// The embeddings playground: two texts through /v1/embeddings, and their cosine similarity.

import { api } from "./api.js";
import { errorBox, field, fmt, h, select, show } from "./dom.js";

export function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

export async function embeddingsPanel(root) {
  const models = (await api.get("/v1/models")).data.map((m) => m.id);
  const model = select(models, models[0], { id: "embed-model" });
  const dimensions = h("input", { type: "number", id: "embed-dimensions", min: 1, placeholder: "native" });
  const a = h("textarea", { id: "text-a", rows: 3, value: "A kitten sleeps on the rug" });
  const b = h("textarea", { id: "text-b", rows: 3, value: "The cat sat on the mat" });
  const result = h("div", { id: "similarity" });
  const form = h(
    "form",
    { id: "embed-form", class: "card" },
    h("div", { class: "row" }, field("Model", model), field("Dimensions", dimensions)),
    h("div", { class: "row grow" }, field("Text A", a), field("Text B", b)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Compare")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { model: model.value, input: [a.value, b.value] };
    if (dimensions.value) body.dimensions = Number(dimensions.value);
    show(result, h("p", { class: "muted" }, "Embedding…"));
    try {
      const answer = await api.post("/v1/embeddings", body);
      const [va, vb] = answer.data.map((d) => d.embedding);
      const similarity = cosine(va, vb);
      show(
        result,
        h("p", { class: "big" }, "cosine similarity ", h("strong", { id: "cosine" }, similarity.toFixed(4))),
        h("meter", { min: -1, max: 1, value: similarity, low: 0.2, high: 0.6, optimum: 1 }),
        h("p", { class: "muted" }, `${va.length} dimensions · ${fmt.int(answer.usage.total_tokens)} tokens · model ${answer.model}`),
      );
    } catch (error) {
      show(result, errorBox(error));
    }
  });
  show(root, h("h1", {}, "Embeddings playground"), h("p", { class: "muted" }, "Embed two texts with a model and see how close they are."), form, result);
}
