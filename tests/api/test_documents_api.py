"""Documents people manage, over HTTP on the real runtime: metadata on upload and after (filters
follow at once, nothing re-embedded), pages of documents while more arrive, originals and
chunks, whole collections created and deleted during questions, and keys scoped to each."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ingest.pipeline import IncomingFile
from rag.api.app import create_app
from rag.bootstrap import Runtime
from tests import docs

C = "managed"
ADMIN = "admin-secret-for-documents"


def _upload(client: TestClient, collection: str, files: dict[str, bytes], **form: Any) -> Any:
    return client.post(f"/collections/{collection}/documents?wait=true",
                       files=[("files", (n, d, "application/octet-stream")) for n, d in files.items()],
                       data={k: json.dumps(v) for k, v in form.items()})


def _search(client: TestClient, collection: str, query: str, **filters: Any) -> list[dict]:
    r = client.post(f"/collections/{collection}/search", json={"query": query, "top_k": 10, "filters": filters})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _names(client: TestClient, collection: str, **params: Any) -> list[str]:
    """Every document name of a listing, page after page."""
    names, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"/collections/{collection}/documents", params=query).json()
        names += [d["name"] for d in body["documents"]]
        if not (cursor := body["next_cursor"]):
            return names


POLICIES = {
    "travel.md": docs.markdown("Travel", {"Per diem": "The per diem for a full day of travel is 42 euros."}),
    "expenses.md": docs.markdown("Expenses", {"Receipts": "Receipts above 25 euros must be scanned within 5 days."}),
    "canteen.md": docs.markdown("Canteen", {"Lunch": "The Fenwick canteen serves lunch from 12:15 to 14:00."}),
}


def test_metadata_on_upload_filters_and_changes_without_re_embedding(client: TestClient) -> None:
    r = _upload(client, C, POLICIES, metadata={"team": "finance", "year": 2026},
                file_metadata={"canteen.md": {"team": "facilities"}})
    assert r.status_code == 200, r.text
    ids = {f["name"]: f["document_id"] for f in r.json()["files"]}
    listed = {d["name"]: d for d in client.get(f"/collections/{C}/documents").json()["documents"]}
    assert listed["travel.md"]["metadata"] == {"team": "finance", "year": 2026}
    assert listed["canteen.md"]["metadata"] == {"team": "facilities", "year": 2026}
    assert _names(client, C, metadata=json.dumps({"team": "finance"})) == ["expenses.md", "travel.md"]
    assert {h["document_name"] for h in _search(client, C, "lunch", metadata={"team": "finance"})} <= {
        "expenses.md", "travel.md"}

    before = client.get(f"/collections/{C}").json()
    r = client.patch(f"/collections/{C}/documents/{ids['canteen.md']}", json={"metadata": {"team": "finance"}})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["metadata"] == {"team": "finance", "year": 2026} and doc["version"] == 1
    assert doc["updated_at"] > doc["ingested_at"]
    assert client.get(f"/collections/{C}").json()["generation"] == before["generation"]  # no re-embedding
    hits = _search(client, C, "When does the canteen serve lunch?", metadata={"team": "finance"})
    assert "12:15" in hits[0]["text"]                                   # the filter sees the change at once
    r = client.patch(f"/collections/{C}/documents/{ids['canteen.md']}", json={"metadata": {"year": None}})
    assert r.json()["metadata"] == {"team": "finance"}
    year = _search(client, C, "When does the canteen serve lunch?", metadata={"year": 2026})
    assert year and all(h["document_name"] != "canteen.md" for h in year)

    r = client.post(f"/collections/{C}/search", json={"query": "lunch", "filters": {"metadata": {'a"b': "x"}}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_metadata"

    # The same bytes again with other metadata: only the metadata changes.
    r = _upload(client, C, {"travel.md": POLICIES["travel.md"]}, metadata={"team": "hr"})
    f = r.json()["files"][0]
    assert f["status"] == "unchanged" and "metadata updated" in f["note"] and f["version"] == 1
    assert client.get(f"/collections/{C}/documents/{ids['travel.md']}").json()["metadata"] == {"team": "hr"}
    # Without metadata, a new version keeps what the document had.
    r = _upload(client, C, {"travel.md": POLICIES["travel.md"] + b"\nUpdated for 2027.\n"})
    assert r.json()["files"][0]["status"] == "updated"
    assert client.get(f"/collections/{C}/documents/{ids['travel.md']}").json()["metadata"] == {"team": "hr"}


@pytest.mark.parametrize(("form", "message"), [
    ({"metadata": "{not json"}, "not valid JSON"),
    ({"metadata": json.dumps(["a"])}, "must be a JSON object"),
    ({"metadata": json.dumps({"tags": ["a", "b"]})}, "a list is not allowed"),
    ({"metadata": json.dumps({"k" * 65: 1})}, "is not allowed"),
    ({"metadata": json.dumps({f"k{i}": i for i in range(40)})}, "40 keys"),
    ({"metadata": json.dumps({"note": "x" * 2000})}, "at most 1000"),
    ({"file_metadata": json.dumps({"other.md": {"a": 1}})}, "not a file of this upload"),
])
def test_bad_metadata_is_a_422_that_changes_nothing(client: TestClient, form: dict[str, str], message: str) -> None:
    r = client.post(f"/collections/{C}-bad/documents?wait=true", files=[("files", ("a.md", b"# A\n\nText.\n", "text/markdown"))],
                    data=form)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_metadata" and message in error["message"]
    assert client.get(f"/collections/{C}-bad").status_code == 404     # nothing was created
    ok = _upload(client, f"{C}-ok", {"ok.md": b"# Ok\n\nFine.\n"}, metadata={"a": 1}).json()["files"][0]
    try:
        patch = {"metadata": json.loads(form["metadata"]), "replace": True}
    except (KeyError, ValueError):
        return
    if isinstance(patch["metadata"], dict):
        r = client.patch(f"/collections/{C}-ok/documents/{ok['document_id']}", json=patch)
        assert r.status_code == 422 and message in r.json()["error"]["message"]
        assert client.get(f"/collections/{C}-ok/documents/{ok['document_id']}").json()["metadata"] == {"a": 1}


def test_pages_of_500_documents_while_more_arrive(client: TestClient, runtime: Runtime) -> None:
    coll = "many"
    files = [IncomingFile(f"note-{i:04d}.txt", f"Note {i}: the locker {i} code is {1000 + i}.\n".encode(),
                          metadata={"shelf": i % 4}) for i in range(500)]
    runtime.ingestor.ingest_many(coll, files)
    late: list[str] = []

    def upload_more() -> None:
        for i in range(20):
            name = f"late-{i:02d}.txt"
            assert _upload(client, coll, {name: f"Late note {i}.\n".encode()}).status_code == 200
            late.append(name)
    writer = threading.Thread(target=upload_more)
    writer.start()
    names = _names(client, coll, limit=37)
    writer.join()
    originals = [f.name for f in files]
    assert [n for n in names if n.startswith("note-")] == originals  # each once, in order, none skipped
    assert len(names) == len(set(names))
    assert set(_names(client, coll, limit=1000)) == set(originals) | set(late)
    assert _names(client, coll, name_prefix="note-01", limit=30) == [f"note-{i:04d}.txt" for i in range(100, 200)]
    shelf = _names(client, coll, metadata=json.dumps({"shelf": 3}), sort="size", order="desc")
    assert len(shelf) == 125
    stats = client.get(f"/collections/{coll}").json()
    assert stats["documents"] == 520 and stats["bytes"] > 500 * 30 and stats["last_ingested_at"]
    bad = client.get(f"/collections/{coll}/documents", params={"sort": "colour"})
    assert bad.status_code == 400 and "sort must be one of" in bad.json()["error"]["message"]
    bad = client.get(f"/collections/{coll}/documents", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]["message"]


def test_originals_download_and_chunks_show_what_search_sees(client: TestClient) -> None:
    name = "Quarterly report: Q3 (final) ü.docx"
    data = docs.docx("Quarterly report", {"Sales": "Sales in the third quarter rose to 4.2 million euros.",
                      "Staff": "Headcount at the end of the quarter was 57."})
    r = _upload(client, "originals", {name: data})
    assert r.status_code == 200, r.text
    doc_id = r.json()["files"][0]["document_id"]
    got = client.get(f"/collections/originals/documents/{doc_id}/file")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Quarterly report_ Q3 _final_ _.docx"')
    assert "filename*=UTF-8''Quarterly%20report%3A%20Q3%20%28final%29%20%C3%BC.docx" in disposition
    assert "\n" not in disposition and got.headers["x-content-type-options"] == "nosniff"

    chunks, cursor = [], None
    while True:
        body = client.get(f"/collections/originals/documents/{doc_id}/chunks",
                          params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        chunks += body["chunks"]
        if not (cursor := body["next_cursor"]):
            break
    assert [c["position"] for c in chunks] == sorted(c["position"] for c in chunks)
    text = "\n".join(c["text"] for c in chunks)
    assert "4.2 million" in text and "57" in text
    assert any(c["section"] for c in chunks)
    assert client.get(f"/collections/originals/documents/{doc_id}x/file").status_code == 404
    assert client.get(f"/collections/originals/documents/{doc_id}x/chunks").status_code == 404


def test_a_collection_deleted_during_questions(client: TestClient, runtime: Runtime) -> None:
    coll = "doomed"
    r = client.post("/collections", json={"name": coll, "description": "Depot notes"})
    assert r.status_code == 201 and r.json()["description"] == "Depot notes"
    assert client.post("/collections", json={"name": coll}).status_code == 409
    unique = b"# Depot\n\nThe Harwick depot key is kept in cabinet 7-Q-42.\n"
    shared = b"# Shared\n\nThe shared page says the fire drill is on Tuesdays.\n"
    assert _upload(client, coll, {"depot.md": unique, "shared.md": shared}).status_code == 200
    assert _upload(client, "keeper", {"shared.md": shared}).status_code == 200
    old_id = runtime.store.collection_id(coll)
    statuses: list[int] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            r = client.post(f"/collections/{coll}/search", json={"query": "Where is the depot key?"})
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["results"] == [] or "7-Q-42" in r.json()["results"][0]["text"]
    askers = [threading.Thread(target=ask) for _ in range(2)]
    for t in askers:
        t.start()
    while len(statuses) < 4:
        pass
    r = client.delete(f"/collections/{coll}")
    stop.set()
    for t in askers:
        t.join()
    assert r.status_code == 204, r.text
    assert set(statuses) <= {200, 404} and 500 not in statuses
    assert client.post(f"/collections/{coll}/search", json={"query": "depot key"}).status_code == 404
    assert client.get(f"/collections/{coll}").status_code == 404
    # The original only it held is gone; the one another collection holds stays.
    assert not runtime.ingestor.original_path(hashlib.sha256(unique).hexdigest()).exists()
    assert runtime.ingestor.original_path(hashlib.sha256(shared).hexdigest()).exists()
    assert not runtime.indexes.path(old_id).exists()
    # The name can be used again: a new, empty collection.
    assert client.post("/collections", json={"name": coll}).status_code == 201
    assert runtime.store.collection_id(coll) != old_id
    assert client.post(f"/collections/{coll}/search", json={"query": "depot key"}).json()["results"] == []
    assert client.delete("/collections/never-was").status_code == 404


@pytest.fixture(scope="module")
def secured(runtime: Runtime) -> Iterator[TestClient]:
    settings = runtime.settings.model_copy(update={"admin_key": SecretStr(ADMIN)})
    with TestClient(create_app(runtime=runtime, settings=settings)) as c:
        yield c


def test_scoped_keys_see_nothing_of_other_collections(secured: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for name in ("scope-a", "scope-b"):
        assert secured.post("/collections", json={"name": name}, headers=admin).status_code == 201
        r = _upload_as(secured, name, {"doc.md": f"# {name}\n\nSecret of {name}.\n".encode()}, admin)
        assert r.status_code == 200
    doc_b = secured.get("/collections/scope-b/documents", headers=admin).json()["documents"][0]["id"]
    key = secured.post("/keys", json={"name": "a-only", "scopes": ["write:scope-a"]}, headers=admin).json()["key"]
    a = {"Authorization": f"Bearer {key}"}
    listed = secured.get("/collections", headers=a).json()["collections"]
    assert [c["name"] for c in listed] == ["scope-a"]
    for method, path, body in [
        ("GET", "/collections/scope-b", None),
        ("GET", "/collections/scope-b/documents", None),
        ("GET", f"/collections/scope-b/documents/{doc_b}/file", None),
        ("GET", f"/collections/scope-b/documents/{doc_b}/chunks", None),
        ("PATCH", f"/collections/scope-b/documents/{doc_b}", {"metadata": {"x": 1}}),
        ("PATCH", "/collections/scope-b", {"description": "mine now"}),
        ("DELETE", "/collections/scope-b", None),
    ]:
        r = secured.request(method, path, json=body, headers=a)
        assert r.status_code == 404 and r.json()["error"]["code"] == "collection_not_found", (method, path, r.text)
    r = secured.post("/collections", json={"name": "scope-c"}, headers=a)
    assert r.status_code == 403
    assert secured.get("/collections/scope-a", headers=a).json()["documents"] == 1
    assert secured.get("/jobs", headers=a).status_code == 403
    assert secured.get("/collections/scope-b", headers=admin).json()["documents"] == 1  # untouched


def _upload_as(client: TestClient, collection: str, files: dict[str, bytes], headers: dict[str, str]) -> Any:
    return client.post(f"/collections/{collection}/documents?wait=true", headers=headers,
                       files=[("files", (n, d, "application/octet-stream")) for n, d in files.items()])


def test_the_schema_documents_every_new_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [("/collections", "post"), ("/collections/{name}", "get"), ("/collections/{name}", "patch"),
                         ("/collections/{name}", "delete"),
                         ("/collections/{name}/documents/{document_id}", "patch"),
                         ("/collections/{name}/documents/{document_id}/file", "get"),
                         ("/collections/{name}/documents/{document_id}/chunks", "get")]:
        operation = paths[path][method]
        assert operation.get("description") or operation.get("summary"), (path, method)
        assert "404" in operation["responses"] or method == "post"
    listing = {p["name"] for p in paths["/collections/{name}/documents"]["get"]["parameters"]}
    assert {"limit", "cursor", "sort", "order", "name_prefix", "metadata", "source"} <= listing
    upload = paths["/collections/{name}/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]


def test_a_collection_with_a_chunk_size_of_its_own(client: TestClient, runtime: Runtime) -> None:
    long = docs.markdown("Fleet", {"Servicing": " ".join(
        f"Van {i} of the Harwick fleet is serviced every {30 + i} days at the Oldbridge garage." for i in range(12))})
    r = client.post("/collections", json={"name": "small-chunks", "chunk_max_tokens": 48})
    assert r.status_code == 201 and r.json()["chunk_max_tokens"] == 48
    assert client.post("/collections", json={"name": "huge-chunks", "chunk_max_tokens": 100_000}).status_code == 400
    small = _upload(client, "small-chunks", {"fleet.md": long}).json()["files"][0]
    default = _upload(client, "default-chunks", {"fleet.md": long}).json()["files"][0]
    assert small["chunks"] > default["chunks"]
    chunks = client.get(f"/collections/small-chunks/documents/{small['document_id']}/chunks").json()["chunks"]
    assert all(runtime.embedder.count_tokens(c["text"]) <= 48 for c in chunks)
    # The size is part of the config hash: the same bytes elsewhere are other documents' settings.
    assert (runtime.store.document_config_hash(small["document_id"])
            != runtime.store.document_config_hash(default["document_id"]))
    again = _upload(client, "small-chunks", {"fleet.md": long}).json()["files"][0]
    assert again["status"] == "unchanged"
    hits = _search(client, "small-chunks", "How often is van 7 serviced?")
    assert "37 days" in hits[0]["text"]
