"""Documents people manage, on both stores: metadata edits that touch only the row, keyset
pages that neither repeat nor skip under concurrent writes, whole collections created and
deleted (ids never reused)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rag.errors import Conflict, InvalidInput, InvalidMetadata, NotFound
from rag.store.base import Store
from rag.store.catalog import Catalog, DocumentQuery
from rag.store.jobs import JobStore
from rag.store.keys import KeyStore
from rag.store.paging import Page, PageRequest
from rag.store.sources import SourceStore
from rag.types import ChunkDraft, Filters
from tests.conftest import same_database


def _put(store: Store, name: str, collection: str = "c", size: int = 10, metadata: dict | None = None,
         content_hash: str | None = None, texts: tuple[str, ...] = ("alpha bravo", "charlie delta")):
    v = np.random.default_rng(len(name)).normal(size=(len(texts), 8)).astype(np.float32)
    return store.replace_document(
        collection=collection, document_id=f"{collection}:{name}", name=name, source="upload",
        content_hash=content_hash or f"h-{name}", config_hash="cfg", size=size, mime_type="text/plain",
        metadata=metadata, chunks=[ChunkDraft(t, i, i + 1, f"S{i}", 2) for i, t in enumerate(texts)],
        embeddings=v / np.linalg.norm(v, axis=1, keepdims=True))


def _all(fetch, request: PageRequest) -> list:
    """Every row, page after page."""
    rows, cursor = [], None
    while True:
        page: Page = fetch(PageRequest(request.limit, request.sort, request.descending, cursor))
        rows += page.items
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def test_metadata_changes_touch_only_the_row_and_filters_see_them(store: Store) -> None:
    catalog = Catalog(store)
    first = _put(store, "a.md", metadata={"team": "ops", "year": 2025})
    _put(store, "b.md", metadata={"team": "finance"})
    chunks_before = store.chunk_ids(first.collection_id)
    doc = catalog.update_metadata("c", "c:a.md", {"team": "finance", "year": None, "reviewed": True})
    assert doc.metadata == {"team": "finance", "reviewed": True}
    assert doc.version == 1 and doc.updated_at is not None and doc.updated_at >= doc.ingested_at
    assert store.chunk_ids(first.collection_id) == chunks_before            # nothing re-chunked
    assert store.generation(first.collection_id) == 2                      # nothing re-embedded
    finance = Filters(metadata={"team": "finance"})
    assert len(store.allowed_chunk_ids(first.collection_id, finance)) == 4  # both documents now
    typed = Filters(metadata={"reviewed": True})
    assert set(store.allowed_chunk_ids(first.collection_id, typed)) == set(first.added_chunk_ids)
    assert catalog.update_metadata("c", "c:a.md", {"x": "y"}, replace=True).metadata == {"x": "y"}
    # A new version keeps the metadata unless the write brings its own.
    assert _put(store, "a.md", content_hash="h-new").document.metadata == {"x": "y"}
    assert _put(store, "a.md", content_hash="h-3", metadata={}).document.metadata == {}
    with pytest.raises(InvalidMetadata, match="a list is not allowed"):
        catalog.update_metadata("c", "c:a.md", {"tags": ["a"]})
    with pytest.raises(InvalidMetadata, match="not allowed"):
        catalog.update_metadata("c", "c:a.md", {'bad"key': 1})
    with pytest.raises(NotFound):
        catalog.update_metadata("c", "c:nope.md", {"a": 1})
    assert store.get_document("c", "c:a.md").metadata == {}


def test_document_pages_neither_repeat_nor_skip_while_documents_arrive(store: Store) -> None:
    catalog = Catalog(store)
    for i in range(30):
        _put(store, f"doc-{i:03d}.md", size=1000 - i, metadata={"half": i % 2})
    seen: list[str] = []
    page = catalog.documents_page("c", PageRequest(limit=7))
    writer = same_database(store)
    n = 0
    while True:
        seen += [d.name for d in page.items]
        # Between pages, others write: new names before and after the cursor, one deletion.
        _put(writer, f"a-new-{n}.md")
        _put(writer, f"zz-new-{n}.md")
        n += 1
        if page.next_cursor is None:
            break
        page = catalog.documents_page("c", PageRequest(limit=7, cursor=page.next_cursor))
    originals = [f"doc-{i:03d}.md" for i in range(30)]
    assert [s for s in seen if s.startswith("doc-")] == originals  # each once, in order
    assert len(seen) == len(set(seen))
    assert any(s.startswith("zz-new") for s in seen)                 # ones written after the cursor show up
    writer.close()

    by_size = _all(lambda r: catalog.documents_page("c", r, DocumentQuery(name_prefix="doc-")),
                   PageRequest(limit=4, sort="size", descending=True))
    assert [d.size for d in by_size] == sorted((d.size for d in by_size), reverse=True) and len(by_size) == 30
    odd = _all(lambda r: catalog.documents_page("c", r, DocumentQuery(metadata={"half": 1})), PageRequest(limit=5))
    assert [d.name for d in odd] == originals[1::2]
    with pytest.raises(InvalidInput, match="another sort order"):
        catalog.documents_page("c", PageRequest(limit=5, sort="size", cursor=page_cursor(catalog)))
    with pytest.raises(InvalidInput, match="not one this service gave out"):
        catalog.documents_page("c", PageRequest(limit=5, cursor="garbage!"))
    with pytest.raises(NotFound):
        catalog.documents_page("nope", PageRequest())


def page_cursor(catalog: Catalog) -> str:
    cursor = catalog.documents_page("c", PageRequest(limit=1)).next_cursor
    assert cursor is not None
    return cursor


def test_chunk_pages_follow_reading_order(store: Store) -> None:
    texts = tuple(f"chunk number {i}" for i in range(11))
    _put(store, "long.md", texts=texts)
    chunks = _all(lambda r: Catalog(store).chunks_page("c", "c:long.md", r), PageRequest(limit=4, sort="position"))
    assert [c.text for c in chunks] == list(texts) and [c.page for c in chunks] == list(range(1, 12))


def test_a_deleted_collection_leaves_nothing_and_its_name_and_not_its_id_is_reused(store: Store) -> None:
    catalog = Catalog(store)
    created = catalog.create_collection("handbook", "The staff handbook")
    assert created.description == "The staff handbook" and created.document_count == 0
    with pytest.raises(Conflict):
        catalog.create_collection("handbook")
    first = _put(store, "a.md", "handbook", content_hash="shared")
    _put(store, "b.md", "handbook", content_hash="only-here")
    _put(store, "x.md", "other", content_hash="shared")
    sources, jobs = SourceStore(store), JobStore(store)
    source = sources.add(kind="folder", path="/srv/h", collection="handbook", include=[], exclude=[],
                         schedule=None, delete_missing=True)
    job = jobs.create("upload", "handbook")
    with pytest.raises(Conflict, match="cancel it"):
        catalog.delete_collection("handbook")                  # a queued job would write it again
    jobs.request_cancel(job.id)
    stats = store.get_collection("handbook")
    assert stats.bytes == 20 and stats.last_ingested_at is not None and stats.document_count == 2
    deleted = catalog.delete_collection("handbook")
    assert deleted.documents == 2 and deleted.orphaned_originals == ["only-here"]  # "shared" is still used
    with pytest.raises(NotFound):
        store.get_collection("handbook")
    with pytest.raises(NotFound):
        sources.get(source.id)
    with pytest.raises(NotFound):
        jobs.get(job.id)
    assert store.load_chunks(first.added_chunk_ids) == {}
    assert store.get_collection("other").chunk_count == 2
    again = catalog.create_collection("handbook")
    assert again.id > first.collection_id and again.document_count == 0
    assert Catalog(store).documents_page("handbook", PageRequest()).items == []


def test_collections_jobs_sources_and_keys_page(store: Store) -> None:
    catalog = Catalog(store)
    for i in range(5):
        catalog.create_collection(f"coll-{i}")
    names = [c.name for c in _all(lambda r: catalog.collections_page(r), PageRequest(limit=2))]
    assert names == [f"coll-{i}" for i in range(5)]
    assert [c.name for c in catalog.collections_page(PageRequest(), {"coll-3"}).items] == ["coll-3"]
    assert catalog.collections_page(PageRequest(), set()).items == []
    jobs = JobStore(store)
    made = [jobs.create("upload", f"coll-{i % 2}").id for i in range(7)]
    newest_first = _all(lambda r: jobs.page(r), PageRequest(limit=3, sort="created_at", descending=True))
    assert [j.id for j in newest_first] == list(reversed(made))
    assert {j.collection for j in _all(lambda r: jobs.page(r, collection="coll-1"),
                                       PageRequest(limit=2, sort="created_at"))} == {"coll-1"}
    sources = SourceStore(store)
    for i in range(4):
        sources.add(kind="folder", path=f"/srv/{i}", collection="coll-0", include=[], exclude=[],
                    schedule=None, delete_missing=True, metadata={"n": i})
    paged = _all(lambda r: sources.page(r), PageRequest(limit=3, sort="path"))
    assert [s.path for s in paged] == [f"/srv/{i}" for i in range(4)] and paged[2].metadata == {"n": 2}
    keys = KeyStore(store)
    ids = [keys.create(f"key-{i}", ["read:coll-0"])[0] for i in range(4)]
    keys.revoke(ids[1])
    active = _all(lambda r: keys.page(r, status="active"), PageRequest(limit=2, sort="name"))
    assert [k["name"] for k in active] == ["key-0", "key-2", "key-3"]


def test_metadata_edits_and_deletes_race_writers_without_losing_either(store: Store) -> None:
    """A metadata edit and a new version of the same document at once: both land, in some order."""
    catalog = Catalog(store)
    _put(store, "a.md", metadata={"n": 0})
    other = same_database(store)
    errors: list[BaseException] = []

    def edit() -> None:
        try:
            for i in range(20):
                Catalog(other).update_metadata("c", "c:a.md", {"n": i + 1})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    t = threading.Thread(target=edit)
    t.start()
    for i in range(5):
        _put(store, "a.md", content_hash=f"v{i}")
    t.join()
    other.close()
    assert errors == []
    doc = store.get_document("c", "c:a.md")
    assert doc.version == 6 and doc.chunk_count == 2 and catalog.documents_page("c", PageRequest()).items[0].id == doc.id
