// Status: the models, and whether each collection's index is in sync with the store.

import { $, el, report, headers } from "/ui/api.js";

export async function loadStatus() {
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

