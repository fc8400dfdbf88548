// The Groundwork page: sign in, the views, the collection picker. The views live in their
// own modules (ask, documents, sources, status); api.js holds what they share.

import { $, api, all, el, notice, report, state, headers, hooks, KEY, COLLECTION } from "/ui/api.js";
import "/ui/ask.js";
import { loadDocuments } from "/ui/documents.js";
import { loadSources } from "/ui/sources.js";
import { loadStatus } from "/ui/status.js";

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

export async function loadCollections(preferred) {
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


hooks.unauthorized = showSignIn;
start().catch(report);
