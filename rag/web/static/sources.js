// Sources: a server folder with globs and a schedule (previewed in words), sync now and
// follow it, the job history with each file that failed.

import { $, api, all, el, when, notice, report, state, needCollection } from "/ui/api.js";
import { describeCron } from "/ui/cron.js";
import { loadCollections } from "/ui/app.js";

function globs(value) {
  return value.split(",").map((g) => g.trim()).filter(Boolean);
}

function preview() {
  const hint = $("schedule-preview");
  try {
    hint.textContent = describeCron($("source-schedule").value);
    hint.classList.remove("error");
  } catch (error) {
    hint.textContent = error.message;
    hint.classList.add("error");
  }
}

$("source-schedule").addEventListener("input", preview);

$("source-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!needCollection()) return;
  const schedule = $("source-schedule").value.trim();
  try {
    await api("POST", "/sources", {
      path: $("source-path").value.trim(), collection: state.collection, kind: "folder",
      include: globs($("source-include").value), exclude: globs($("source-exclude").value),
      schedule: schedule || null,
    });
    $("source-form").reset();
    preview();
    notice("Source added; its first sync has started.");
    await loadSources();
  } catch (error) {
    report(error);
  }
});

export async function loadSources() {
  if (!state.collection) return;
  let sources;
  let jobs;
  try {
    sources = await all("/sources", "sources", { collection: state.collection });
    jobs = (await api("GET", `/jobs?${new URLSearchParams({ collection: state.collection, limit: "20" })}`)).jobs;
  } catch (error) {
    if (error.status === 403) {
      notice("Sources and jobs need an admin key.", "error");
      return;
    }
    throw error;
  }
  const list = $("sources");
  list.replaceChildren();
  for (const source of sources) {
    const item = el("li", null, { class: "source" });
    let schedule;
    try {
      schedule = describeCron(source.schedule || "");
    } catch {
      schedule = source.schedule;
    }
    const sync = el("button", "Sync now", { type: "button", "aria-label": `Sync ${source.path} now` });
    sync.addEventListener("click", () => syncNow(source, sync).catch(report));
    item.append(el("strong", source.path), el("span", ` ${schedule} Last sync: ${when(source.last_sync_at)}.`), sync);
    if (source.include.length || source.exclude.length) {
      item.append(el("div", `include ${source.include.join(", ") || "everything"}; exclude ${source.exclude.join(", ") || "nothing"}`, { class: "hint" }));
    }
    list.append(item);
  }
  $("sources-empty").hidden = sources.length > 0;
  renderJobs(jobs);
}

function renderJobs(jobs) {
  const list = $("jobs");
  list.replaceChildren();
  for (const job of jobs) {
    const counts = Object.entries(job.counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(", ") || "nothing yet";
    const progress = job.progress.total ? ` (${job.progress.done} of ${job.progress.total} files)` : "";
    const item = el("li", `${job.kind} ${job.state}${progress}: ${counts}; started ${when(job.started_at || job.created_at)}`, {
      class: `job ${job.state}`,
    });
    if (job.reason) item.append(el("div", job.reason, { class: "hint" }));
    if (job.errors.length) {
      const errors = el("ul", null, { class: "errors" });
      for (const error of job.errors) errors.append(el("li", `${error.file}: ${error.reason}`));
      item.append(errors);
    }
    list.append(item);
  }
  $("jobs-empty").hidden = jobs.length > 0;
}

async function syncNow(source, button) {
  button.disabled = true;
  try {
    const job = await api("POST", `/sources/${encodeURIComponent(source.id)}/sync`);
    notice(`Sync of ${source.path} ${job.state}…`);
    let current = job;
    while (!["succeeded", "failed", "cancelled"].includes(current.state)) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      current = await api("GET", `/jobs/${encodeURIComponent(job.id)}`);
    }
    await loadCollections(state.collection); // new counts; shows this view again
    notice(`Sync of ${source.path} ${current.state}.`, current.state === "succeeded" ? "info" : "error");
  } finally {
    button.disabled = false;
  }
}

