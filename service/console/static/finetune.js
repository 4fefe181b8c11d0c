// Fine-tuning: the jobs with their status; one job's details, events, checkpoints and
// validation curves (drawn from its "metrics" events); and the models the server offers.

import { api, qs, seg } from "./api.js";
import { errorBox, fmt, h, show } from "./dom.js";
import { lineChart } from "./chart.js";
import { link, route } from "./nav.js";

const ACTIVE = new Set(["validating_files", "queued", "running"]);
const POLL_MS = 2000;

export async function fineTuningPanel(root, [jobId]) {
  return jobId ? jobView(root, jobId) : listView(root);
}

/** Draws now, then again every `ms` while `draw` resolves true; returns the stop function. */
async function polling(draw, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (!stopped && (await draw()) && !stopped) timer = setTimeout(tick, ms);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function listView(root) {
  return polling(async () => {
    const [jobs, models] = await Promise.all([api.get(`/v1/fine_tuning/jobs${qs({ limit: 100 })}`), api.get("/v1/models")]);
    show(
      root,
      h("h1", {}, "Fine-tuning"),
      h("h2", {}, "Jobs"),
      jobs.data.length ? jobTable(jobs.data) : h("p", { class: "empty" }, "No jobs yet. Create one with the OpenAI SDK: client.fine_tuning.jobs.create(model=..., training_file=...)."),
      h("h2", {}, "Models"),
      h("table", { class: "grid", id: "models" },
        h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "owned by"), h("th", {}, "created"))),
        h("tbody", {}, models.data.map((m) => h("tr", {}, h("td", {}, m.id), h("td", {}, m.owned_by), h("td", {}, fmt.time(m.created))))),
      ),
    );
    return jobs.data.some((j) => ACTIVE.has(j.status));
  }, POLL_MS * 2);
}

function status(job) {
  return h("span", { class: `badge ${job.status}` }, job.status);
}

function jobTable(jobs) {
  return h(
    "table",
    { class: "grid", id: "jobs" },
    h("thead", {}, h("tr", {}, ["job", "status", "base model", "fine-tuned model", "created", "finished"].map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      jobs.map((job) =>
        h(
          "tr",
          { dataset: { job: job.id } },
          h("td", {}, link(route("fine-tuning", job.id), job.id)),
          h("td", {}, status(job)),
          h("td", {}, job.model),
          h("td", {}, job.fine_tuned_model || "–"),
          h("td", {}, fmt.time(job.created_at)),
          h("td", {}, fmt.time(job.finished_at)),
        ),
      ),
    ),
  );
}

/** Every event of a job, oldest first (the API pages them newest first). */
async function allEvents(jobId) {
  const events = [];
  let after;
  for (let page = 0; page < 10; page++) {
    const answer = await api.get(`/v1/fine_tuning/jobs/${seg(jobId)}/events${qs({ limit: 1000, after })}`);
    events.push(...answer.data);
    if (!answer.has_more || !answer.data.length) break;
    after = answer.data[answer.data.length - 1].id;
  }
  return events.reverse();
}

/** Validation curves from "metrics" events: by epoch for local jobs, by step otherwise. */
export function curves(events) {
  const rows = events.filter((e) => e.type === "metrics" && e.data).map((e) => e.data);
  const x = (d) => d.epoch ?? d.step;
  const series = (key, label, dashed = false) => ({
    label,
    dashed,
    points: rows.filter((d) => typeof d[key] === "number" && x(d) !== undefined).map((d) => [x(d), d[key]]),
  });
  return {
    xLabel: rows.some((d) => d.epoch !== undefined) ? "epoch" : "step",
    quality: [series("valid_ndcg_at_10", "validation nDCG@10"), series("base_valid_ndcg_at_10", "base model nDCG@10", true), series("valid_mrr_at_10", "validation MRR@10")],
    loss: [series("train_loss", "training loss"), series("valid_loss", "validation loss")],
  };
}

function jobView(root, jobId) {
  return polling(async () => {
    let job;
    let events;
    let checkpoints;
    try {
      [job, events, checkpoints] = await Promise.all([
        api.get(`/v1/fine_tuning/jobs/${seg(jobId)}`),
        allEvents(jobId),
        api.get(`/v1/fine_tuning/jobs/${seg(jobId)}/checkpoints`).catch(() => ({ data: [] })),
      ]);
    } catch (error) {
      show(root, h("h1", {}, link(route("fine-tuning"), "Fine-tuning"), " / ", jobId), errorBox(error));
      return false;
    }
    const c = curves(events);
    const details = [
      ["Status", status(job)],
      ["Base model", job.model],
      ["Fine-tuned model", job.fine_tuned_model || "–"],
      ["Training file", job.training_file],
      ["Validation file", job.validation_file || "–"],
      ["Hyperparameters", JSON.stringify(job.hyperparameters || {})],
      ["Created", fmt.time(job.created_at)],
      ["Finished", fmt.time(job.finished_at)],
      ["Result files", (job.result_files || []).join(", ") || "–"],
    ];
    if (job.error && job.error.message) details.push(["Error", h("span", { class: "error-text" }, `${job.error.code || ""} ${job.error.message}`)]);
    show(
      root,
      h("h1", {}, link(route("fine-tuning"), "Fine-tuning"), " / ", h("span", { id: "job-id" }, job.id)),
      h("dl", { class: "settings", id: "job-details" }, details.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h2", {}, "Validation"),
      h("div", { class: "charts", id: "job-charts" },
        lineChart(c.quality, { title: "retrieval quality on the validation queries", xLabel: c.xLabel }),
        lineChart(c.loss, { title: "loss", xLabel: c.xLabel }),
      ),
      checkpoints.data.length ? h("h2", {}, "Checkpoints") : null,
      checkpoints.data.length
        ? h("table", { class: "grid", id: "checkpoints" },
            h("thead", {}, h("tr", {}, ["checkpoint model", "step", "metrics"].map((t) => h("th", {}, t)))),
            h("tbody", {}, checkpoints.data.map((cp) => h("tr", {}, h("td", {}, cp.fine_tuned_model_checkpoint), h("td", { class: "num" }, cp.step_number), h("td", {}, Object.entries(cp.metrics || {}).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k} ${fmt.num(v)}`).join(" · "))))))
        : null,
      h("h2", {}, `Events (${events.length})`),
      h("ol", { class: "events", id: "job-events", reversed: true },
        [...events].reverse().map((e) => h("li", { class: `event ${e.level}` }, h("time", {}, fmt.time(e.created_at)), " ", h("span", { class: "level" }, e.level), " ", e.message)),
      ),
    );
    return ACTIVE.has(job.status);
  }, POLL_MS);
}
