"""Documents in over HTTP, grounded and cited answers out, with the real models."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests import docs

C = "e2e"

FILES = {
    "offices.md": docs.markdown("Office guide", {
        "Lisbon office": "The access code of the Lisbon office is 7-Q-42. Visitors sign in at reception.",
        "Porto office": "The Porto office opens at 08:45 and closes at 17:30.",
    }),
    "festival.html": docs.html("Quellmoor events", {
        "Lantern festival": "The Quellmoor lantern festival is organised by Maren Vostrikova.",
        "Market": "The Quellmoor market sells smoked trout every Thursday.",
    }),
    "staff.docx": docs.docx("Fenwick Logistics staff", {
        "Warehouse": "The warehouse manager of Fenwick Logistics is Petra Okonkwo.",
        "Canteen": "The Fenwick canteen serves lunch from 12:15.",
    }),
    "maintenance.pdf": docs.pdf([
        ["Building C maintenance", "General rules for contractors working in building C."],
        ["Generators", "The backup generator in building C is serviced every 45 days."],
    ]),
}


def upload(client: TestClient, files: dict[str, bytes], collection: str = C):
    return client.post(f"/collections/{collection}/documents?wait=true",
                       files=[("files", (name, data)) for name, data in files.items()])


def ask(client: TestClient, question: str, collection: str = C) -> dict:
    r = client.post(f"/collections/{collection}/query", json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def ingested(client: TestClient) -> dict[str, dict]:
    r = upload(client, FILES)
    assert r.status_code == 200, r.text
    return {f["name"]: f for f in r.json()["files"]}


def test_upload_reports_each_file(ingested: dict[str, dict]) -> None:
    assert set(ingested) == set(FILES)
    for result in ingested.values():
        assert result["status"] == "added", result
        assert result["chunks"] >= 1 and result["document_id"].startswith("doc_")


def test_reupload_of_identical_content_is_a_noop(client: TestClient, ingested: dict[str, dict]) -> None:
    before = client.get(f"/collections/{C}/documents").json()["documents"]
    r = upload(client, {"staff.docx": FILES["staff.docx"]})
    assert r.json()["files"][0]["status"] == "unchanged"
    after = client.get(f"/collections/{C}/documents").json()["documents"]
    assert before == after  # same versions, same ingestion times, same chunk counts


@pytest.mark.parametrize("question, fact, document, page", [
    ("What is the access code of the Lisbon office?", "7-Q-42", "offices.md", None),
    ("Who organises the Quellmoor lantern festival?", "Vostrikova", "festival.html", None),
    ("Who is the warehouse manager of Fenwick Logistics?", "Okonkwo", "staff.docx", None),
    ("How often is the backup generator in building C serviced?", "45 days", "maintenance.pdf", 2),
])
def test_answer_states_the_fact_and_cites_its_source(
    client: TestClient, ingested: dict, question: str, fact: str, document: str, page: int | None
) -> None:
    body = ask(client, question)
    assert fact.lower() in body["answer"].lower(), body
    assert body["grounded"] is True
    cited = {(c["document_name"], c["page"]) for c in body["citations"]}
    assert (document, page) in cited, body["citations"]
    # Every [n] left in the text maps to a returned citation.
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert numbers and numbers <= {c["n"] for c in body["citations"]}
    source = next(s for s in body["sources"] if s["document"] == document)
    assert source["version"] == 1 and source["ingested_at"]
    assert set(body["timings_ms"]) == {"retrieve", "generate", "total"}


def test_question_outside_the_documents_gets_not_found(client: TestClient, ingested: dict) -> None:
    body = ask(client, "What is the boiling point of liquid nitrogen?")
    assert "could not find the answer in the documents" in body["answer"].lower()
    assert body["grounded"] is False and body["citations"] == []
    assert body["timings_ms"]["generate"] == 0  # the LLM was not called


def test_search_ranks_the_right_chunk_first(client: TestClient, ingested: dict) -> None:
    r = client.post(f"/collections/{C}/search", json={"query": "Lisbon office access code", "top_k": 3})
    hits = r.json()["results"]
    assert hits[0]["document_name"] == "offices.md" and "7-Q-42" in hits[0]["text"]
    assert hits[0]["section"] == "Lisbon office"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_filters_restrict_before_ranking(client: TestClient, ingested: dict) -> None:
    staff = ingested["staff.docx"]["document_id"]
    r = client.post(f"/collections/{C}/search", json={
        "query": "Lisbon office access code", "top_k": 5, "filters": {"document_ids": [staff]}})
    hits = r.json()["results"]
    assert hits and {h["document_id"] for h in hits} == {staff}
    # All of the permitted chunks come back although none ranks high on the query.
    assert len(hits) == ingested["staff.docx"]["chunks"]


def test_update_then_delete(client: TestClient, ingested: dict) -> None:
    changed = docs.markdown("Office guide", {
        "Lisbon office": "The access code of the Lisbon office is 8-R-13 since the new locks were fitted.",
        "Porto office": "The Porto office opens at 08:45 and closes at 17:30.",
    })
    r = upload(client, {"offices.md": changed})
    result = r.json()["files"][0]
    assert result["status"] == "updated" and result["version"] == 2
    assert result["document_id"] == ingested["offices.md"]["document_id"]

    body = ask(client, "What is the access code of the Lisbon office?")
    assert "8-R-13" in body["answer"] and "7-Q-42" not in body["answer"], body
    hits = client.post(f"/collections/{C}/search", json={"query": "Lisbon access code 7-Q-42", "top_k": 10}).json()
    assert not any("7-Q-42" in h["text"] for h in hits["results"])  # old chunks are gone
    assert next(s for s in body["sources"] if s["document"] == "offices.md")["version"] == 2

    doc_id = result["document_id"]
    assert client.delete(f"/collections/{C}/documents/{doc_id}").status_code == 204
    hits = client.post(f"/collections/{C}/search", json={"query": "Lisbon office access code", "top_k": 10}).json()
    assert all(h["document_id"] != doc_id for h in hits["results"])
    body = ask(client, "What is the access code of the Lisbon office?")
    assert "8-R-13" not in body["answer"]
    assert client.get(f"/collections/{C}/documents/{doc_id}").status_code == 404
    assert client.delete(f"/collections/{C}/documents/{doc_id}").status_code == 404


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_retrieval_mode_finds_the_passage(client: TestClient, ingested: dict, mode: str) -> None:
    r = client.post(f"/collections/{C}/search", json={
        "query": "Quellmoor lantern festival organiser", "top_k": 3, "mode": mode,
        "filters": {"source": "upload", "ingested_after": "2000-01-01T00:00:00Z"}})
    hits = r.json()["results"]
    assert hits[0]["document_name"] == "festival.html" and "Vostrikova" in hits[0]["text"], (mode, hits)
    assert hits[0]["relevance"] is not None
    none = client.post(f"/collections/{C}/search", json={
        "query": "Quellmoor lantern festival organiser", "mode": mode, "filters": {"source": "src_nothing"}})
    assert none.json()["results"] == []
    assert client.post(f"/collections/{C}/search", json={"query": "x", "mode": "fuzzy"}).status_code == 422
