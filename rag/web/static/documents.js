// Documents: upload by drop or picker with each file's progress and stage, the list (paged),
// delete with confirmation.

import { $, api, el, when, notice, report, state, needCollection, hooks } from "/ui/api.js";
import { loadCollections } from "/ui/app.js";

const STAGE = { added: "indexed (new)", updated: "indexed (new version)", unchanged: "already indexed, unchanged" };
const WORKING = { queued: "queued", parsing: "parsing…", embedding: "embedding…" };

function show(outcome, item, stage) {
  if (outcome.status === "failed" || outcome.stage === "cancelled") {
    stage.textContent = `${outcome.stage === "cancelled" ? "cancelled" : "failed"}: ${outcome.reason}`;
    item.classList.add("failed");
  } else {
    stage.textContent = `${STAGE[outcome.status] || outcome.status}: version ${outcome.version}, ${outcome.chunks} chunks`;
    if (outcome.note) stage.textContent += ` (${outcome.note})`;
    item.classList.add("done");
  }
}

// The upload was stored and queued (202): follow its job until the file is done.
async function follow(jobId, item, stage) {
  for (;;) {
    const job = await api("GET", `/jobs/${encodeURIComponent(jobId)}`);
    const file = job.files[0];
    if (WORKING[file.stage]) {
      stage.textContent = WORKING[file.stage];
    } else {
      show(file, item, stage);
      return;
    }
    await new Promise((wake) => setTimeout(wake, 400));
  }
}

function upload(file) {
  const item = el("li", null, { class: "upload" });
  const name = el("span", file.name, { class: "name" });
  const bar = el("progress", null, { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
  const stage = el("span", "waiting", { class: "stage" });
  item.append(name, bar, stage);
  $("uploads").prepend(item);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/collections/${encodeURIComponent(state.collection)}/documents`);
    if (state.key) request.setRequestHeader("Authorization", `Bearer ${state.key}`);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.value = Math.round((100 * event.loaded) / event.total);
        stage.textContent = `uploading ${bar.value}%`;
      }
    });
    request.upload.addEventListener("load", () => {
      bar.removeAttribute("value"); // indeterminate while the server parses and embeds
      stage.textContent = "stored, queued…";
    });
    request.addEventListener("load", async () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status === 202 && body) {
        await follow(body.job_id, item, stage).catch((error) => {
          stage.textContent = `stored and queued (job ${body.job_id}); its progress could not be read: ${error.message}`;
        });
        bar.value = 100;
      } else {
        bar.value = 100;
        let message = body && body.error ? body.error.message : `${request.status} ${request.statusText}`;
        const supported = body && body.error && body.error.detail && body.error.detail.supported_types;
        if (supported) message += `. Convert it to one of: ${supported.join(", ")}, and upload it again.`;
        stage.textContent = `failed: ${message}`;
        item.classList.add("failed");
        if (request.status === 401) hooks.unauthorized("The key was not accepted. Sign in again.");
      }
      resolve();
    });
    request.addEventListener("error", () => {
      stage.textContent = "failed: the server could not be reached; check the connection and upload again";
      item.classList.add("failed");
      resolve();
    });
    const form = new FormData();
    form.append("files", file, file.name);
    request.send(form);
  });
}

async function uploadAll(files) {
  if (!needCollection() || !files.length) return;
  for (const file of files) await upload(file); // one at a time: each file's own progress
  await loadDocuments();
  await loadCollections(state.collection).catch(report);
}

$("files").addEventListener("change", (event) => {
  uploadAll([...event.target.files]).catch(report);
  event.target.value = "";
});

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  uploadAll([...event.dataTransfer.files]).catch(report);
});
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    $("files").click();
  }
});

export async function loadDocuments(more = false) {
  if (!state.collection) {
    $("documents-empty").hidden = true;
    $("documents-table").hidden = true;
    return;
  }
  const query = new URLSearchParams({ limit: "50", ...(more && state.cursor ? { cursor: state.cursor } : {}) });
  const page = await api("GET", `/collections/${encodeURIComponent(state.collection)}/documents?${query}`);
  const body = $("documents");
  if (!more) body.replaceChildren();
  for (const doc of page.documents) {
    const row = el("tr");
    const remove = el("button", "Delete", { type: "button", "aria-label": `Delete ${doc.name}` });
    remove.addEventListener("click", () => deleteDocument(doc).catch(report));
    const actions = el("td");
    actions.append(remove);
    row.append(el("td", doc.name), el("td", doc.version), el("td", doc.chunks), el("td", when(doc.ingested_at)), actions);
    body.append(row);
  }
  state.cursor = page.next_cursor;
  $("documents-more").hidden = !page.next_cursor;
  const empty = body.children.length === 0;
  $("documents-empty").hidden = !empty;
  $("documents-table").hidden = empty;
}

$("documents-more").addEventListener("click", () => loadDocuments(true).catch(report));

async function deleteDocument(doc) {
  if (!window.confirm(`Delete "${doc.name}"? It can no longer be found in answers once deleted.`)) return;
  await api("DELETE", `/collections/${encodeURIComponent(state.collection)}/documents/${encodeURIComponent(doc.id)}`);
  notice(`Deleted ${doc.name}.`);
  await loadDocuments();
}

