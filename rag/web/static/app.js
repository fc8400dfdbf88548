// The Groundwork page: sign in, pick or create a collection, upload and follow each file,
// list and delete documents, ask with the answer streamed and its citations opened, sources
// and their jobs, status. Everything a document or an answer holds is shown as text
// (textContent, never innerHTML), so a hostile document stays inert.

import { describeCron } from "/ui/cron.js";

const KEY = "groundwork-key";
const COLLECTION = "groundwork-collection";
const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem(KEY), collection: null, cursor: null, sources: [] };

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  return state.key ? { ...extra, Authorization: `Bearer ${state.key}` } : extra;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : { code: "error", message: `${response.status} ${response.statusText}` };
  return new ApiError(response.status, error.code, error.message);
}

/** Call the API; JSON in and out; ApiError (with the server's message) on an error status. */
async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    showSignIn("The key was not accepted (unknown or revoked). Sign in again.");
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** Every row of a paged list. */
async function all(path, field, params = {}) {
  const rows = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "200", ...params, ...(cursor ? { cursor } : {}) });
    const page = await api("GET", `${path}?${query}`);
    rows.push(...page[field]);
    cursor = page.next_cursor;
  } while (cursor);
  return rows;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function report(error) {
  notice(error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`, "error");
}

// -- signing in -----------------------------------------------------------------------------

function showSignIn(message) {
  sessionStorage.removeItem(KEY);
  state.key = null;
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  const error = $("sign-in-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("api-key").focus();
}

async function start() {
  const probe = await fetch("/health/details", { headers: headers() });
  if (probe.status === 401) {
    showSignIn(state.key ? "The key was not accepted (unknown or revoked). Sign in again." : "");
    return;
  }
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = !state.key;
  await loadCollections(sessionStorage.getItem(COLLECTION));
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.key = $("api-key").value.trim();
  $("api-key").value = "";
  sessionStorage.setItem(KEY, state.key);
  await start().catch(report);
});

$("sign-out").addEventListener("click", () => showSignIn(""));

// -- views ----------------------------------------------------------------------------------

const loaders = { ask: () => {}, documents: () => loadDocuments(), sources: () => loadSources(), status: () => loadStatus() };

function show(view) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
  }
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  notice("");
  Promise.resolve(loaders[view]()).catch(report);
}

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));

// -- collections ----------------------------------------------------------------------------

async function loadCollections(preferred) {
  const collections = await all("/collections", "collections");
  const select = $("collection");
  select.replaceChildren(...collections.map((c) => el("option", `${c.name} (${c.documents} documents)`, { value: c.name })));
  const empty = collections.length === 0;
  $("collection-empty").hidden = !empty;
  $("new-collection").open = empty;
  select.disabled = empty;
  const names = collections.map((c) => c.name);
  state.collection = names.includes(preferred) ? preferred : names[0] || null;
  if (state.collection) select.value = state.collection;
  sessionStorage.setItem(COLLECTION, state.collection || "");
  const current = document.querySelector(".tab[aria-pressed=true]");
  show(current ? current.dataset.view : "ask");
}

$("collection").addEventListener("change", (event) => {
  state.collection = event.target.value;
  sessionStorage.setItem(COLLECTION, state.collection);
  $("answer").hidden = true;
  $("citation").hidden = true;
  const current = document.querySelector(".tab[aria-pressed=true]");
  show(current.dataset.view);
});

$("create-collection-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("new-name").value.trim();
  try {
    await api("POST", "/collections", { name, description: $("new-description").value });
    $("new-name").value = "";
    $("new-description").value = "";
    $("new-collection").open = false;
    await loadCollections(name);
    show("documents");
    notice(`Collection ${name} created. Upload documents into it.`);
  } catch (error) {
    report(error);
  }
});

function needCollection() {
  if (!state.collection) {
    notice("Create a collection first.", "error");
    return false;
  }
  return true;
}

// -- uploads and documents ------------------------------------------------------------------

const STAGE = { added: "indexed (new)", updated: "indexed (new version)", unchanged: "already indexed, unchanged" };

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
      stage.textContent = "parsing and embedding…";
    });
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      bar.value = 100;
      if (request.status === 200 && body) {
        const outcome = body.files[0];
        if (outcome.status === "failed") {
          stage.textContent = `failed: ${outcome.reason}`;
          item.classList.add("failed");
        } else {
          stage.textContent = `${STAGE[outcome.status] || outcome.status}: version ${outcome.version}, ${outcome.chunks} chunks`;
          if (outcome.note) stage.textContent += ` (${outcome.note})`;
          item.classList.add("done");
        }
      } else {
        let message = body && body.error ? body.error.message : `${request.status} ${request.statusText}`;
        const supported = body && body.error && body.error.detail && body.error.detail.supported_types;
        if (supported) message += `. Convert it to one of: ${supported.join(", ")}, and upload it again.`;
        stage.textContent = `failed: ${message}`;
        item.classList.add("failed");
        if (request.status === 401) showSignIn("The key was not accepted. Sign in again.");
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

async function loadDocuments(more = false) {
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

// -- asking ---------------------------------------------------------------------------------

function* events(buffer) {
  // Complete Server-Sent Events in `buffer.text`; what is left waits for more bytes.
  let end;
  while ((end = buffer.text.indexOf("\n\n")) >= 0) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end + 2);
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    yield { name, data: data.length ? JSON.parse(data.join("\n")) : null };
  }
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  ask($("question").value.trim()).catch(report);
});

$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("ask-form").requestSubmit();
  }
});

async function ask(question) {
  if (!question || !needCollection()) return;
  const text = $("answer-text");
  const article = $("answer");
  text.textContent = "";
  text.hidden = false;
  $("answer-none").hidden = true;
  $("answer-sources").replaceChildren();
  $("sources-title").hidden = true;
  $("citation").hidden = true;
  article.hidden = false;
  article.setAttribute("aria-busy", "true");
  $("ask-button").disabled = true;
  notice("");
  try {
    const response = await fetch(`/collections/${encodeURIComponent(state.collection)}/query`, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ question, stream: true }),
    });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const buffer = { text: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer.text += decoder.decode(value, { stream: true });
      for (const item of events(buffer)) {
        if (item.name === "token") text.textContent += item.data.text;
        else if (item.name === "answer") showAnswer(item.data);
        else if (item.name === "error") throw new ApiError(503, item.data.error.code, item.data.error.message);
      }
    }
  } catch (error) {
    article.hidden = true;
    report(error);
  } finally {
    article.setAttribute("aria-busy", "false");
    $("ask-button").disabled = false;
  }
}

function showAnswer(answer) {
  const text = $("answer-text");
  text.replaceChildren();
  if (!answer.grounded && answer.citations.length === 0) {
    // Not an error: the documents simply do not say.
    text.hidden = true;
    $("answer-none").hidden = false;
    return;
  }
  const byNumber = new Map(answer.citations.map((c) => [c.n, c]));
  const sources = new Map(answer.sources.map((s) => [s.document_id, s]));
  for (const part of answer.answer.split(/(\[\d+\])/)) {
    const match = part.match(/^\[(\d+)\]$/);
    const citation = match && byNumber.get(Number(match[1]));
    if (citation) {
      const mark = el("button", `[${citation.n}]`, {
        type: "button", class: "cite", "aria-label": `Citation ${citation.n}: ${citation.document_name}`,
      });
      mark.addEventListener("click", () => openCitation(citation, sources.get(citation.document_id), mark));
      text.append(mark);
    } else {
      text.append(document.createTextNode(part));
    }
  }
  const list = $("answer-sources");
  for (const source of answer.sources) {
    list.append(el("li", `${source.document} (version ${source.version}, ingested ${when(source.ingested_at)})`));
  }
  $("sources-title").hidden = answer.sources.length === 0;
}

let opener = null;

function openCitation(citation, source, mark) {
  opener = mark;
  $("citation-title").textContent = `[${citation.n}] ${citation.document_name}`;
  $("citation-quote").textContent = citation.quote;
  const meta = $("citation-meta");
  meta.replaceChildren();
  const rows = [["Document", citation.document_name]];
  if (citation.page) rows.push(["Page", citation.page]);
  if (citation.section) rows.push(["Section", citation.section]);
  if (source) rows.push(["Version", source.version], ["Ingested", when(source.ingested_at)]);
  if (!citation.supported) rows.push(["Note", "this passage shares few words with the sentence citing it"]);
  for (const [name, value] of rows) meta.append(el("dt", name), el("dd", value));
  const aside = $("citation");
  aside.hidden = false;
  aside.focus();
}

function closeCitation() {
  $("citation").hidden = true;
  if (opener) opener.focus();
}

$("citation-close").addEventListener("click", closeCitation);
$("citation").addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeCitation();
});

// -- sources and jobs -----------------------------------------------------------------------

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

async function loadSources() {
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

// -- status ---------------------------------------------------------------------------------

async function loadStatus() {
  const response = await fetch("/health/details", { headers: headers() });
  const health = await response.json(); // 503 is a degraded report, still worth showing
  const models = $("status-models");
  models.replaceChildren();
  const m = health.models;
  const rows = [
    ["Service", `${health.status} (version ${health.version})`],
    ["Embedding", `${m.embedding.backend}: ${m.embedding.path} (${m.embedding.dimension} dimensions)`],
    ["LLM", `${m.llm.backend}: ${m.llm.model || m.llm.path}${m.llm.loaded ? "" : " (not loaded yet)"}`],
    ["Reranker", m.reranker ? `${m.reranker.backend}: ${m.reranker.path}` : "off"],
  ];
  if (m.llm.engine) rows.push(["LLM engine", `${m.llm.engine.url}: ${m.llm.engine.reachable ? "reachable" : "unreachable"}`]);
  for (const [name, value] of rows) models.append(el("dt", name), el("dd", value));
  const body = $("status-indexes").querySelector("tbody");
  body.replaceChildren();
  for (const c of health.collections) {
    const sync = c.index.in_sync ? "in sync" : `behind (generation ${c.index.generation} of ${c.generation})`;
    const row = el("tr");
    row.append(el("td", c.name), el("td", c.documents), el("td", c.chunks), el("td", `${sync}, ${c.index.vectors ?? 0} vectors`));
    body.append(row);
  }
}

start().catch(report);
