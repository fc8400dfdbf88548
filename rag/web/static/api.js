// Shared by the page's modules: the API key and the chosen collection, calls to the API with
// its one error shape, paging, and small DOM helpers. Everything a document or an answer
// holds is shown as text (textContent, never innerHTML), so a hostile document stays inert.

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
  if (response.status === 401) hooks.unauthorized("The key was not accepted (unknown or revoked). Sign in again.");
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

/** What the page does when the server refuses the key (set by app.js: show the sign-in form). */
export const hooks = { unauthorized: (_message) => {} };

export function needCollection() {
  if (!state.collection) {
    notice("Create a collection first.", "error");
    return false;
  }
  return true;
}

export { KEY, COLLECTION, $, state, ApiError, headers, failure, api, all, el, when, notice, report };
