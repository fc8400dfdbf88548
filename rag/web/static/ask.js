// Asking: the answer streamed as Server-Sent Events, its citations as marks that open the
// quoted passage, "not in the documents" shown as such.

import { $, el, when, notice, report, state, headers, failure, ApiError, needCollection } from "/ui/api.js";

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

