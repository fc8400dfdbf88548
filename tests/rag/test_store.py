"""SQLite is the truth: documents and chunks change atomically with the generation."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import IndexCorrupt, NotFound
from rag.store.faiss_index import FaissIndex
from rag.store.sqlite import SQLiteStore
from rag.types import ChunkDraft, Filters


def _drafts(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(t, i, 1, "S", 3) for i, t in enumerate(texts)]


def _vecs(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _put(store: SQLiteStore, texts: tuple[str, ...], content_hash: str = "h1"):
    return store.replace_document(
        collection="c", document_id="doc_1", name="a.md", source="upload", content_hash=content_hash,
        config_hash="cfg", size=10, mime_type="text/markdown", metadata={"team": "ops"},
        chunks=_drafts(*texts), embeddings=_vecs(len(texts)),
    )


@pytest.fixture()
def store(tmp_path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "db.sqlite3")
    s.open()
    return s


def test_replace_is_atomic_and_bumps_generation(store: SQLiteStore) -> None:
    first = _put(store, ("alpha bravo", "charlie delta"))
    assert first.generation == 1 and len(first.added_chunk_ids) == 2 and first.removed_chunk_ids == []
    second = _put(store, ("echo foxtrot",), "h2")
    assert second.generation == 2 and second.removed_chunk_ids == first.added_chunk_ids
    assert store.chunk_ids(first.collection_id) == set(second.added_chunk_ids)
    assert second.document.version == 2 and second.document.content_hash == "h2"
    conn = store.connection()
    # The FTS table follows the chunk table in the same transaction.
    assert [r[0] for r in conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'alpha'")] == []
    assert [r[0] for r in conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'echo'")] == second.added_chunk_ids


def test_failed_write_changes_nothing(store: SQLiteStore) -> None:
    first = _put(store, ("alpha",))
    with pytest.raises(ValueError):
        store.replace_document(
            collection="c", document_id="doc_1", name="a.md", source="upload", content_hash="h9",
            config_hash="cfg", size=1, mime_type="text/plain", metadata={},
            chunks=_drafts("x", "y"), embeddings=_vecs(1),
        )
    assert store.generation(first.collection_id) == 1
    assert store.find_document("c", "a.md").content_hash == "h1"


def test_chunk_ids_are_never_reused(store: SQLiteStore) -> None:
    first = _put(store, ("a", "b"))
    store.delete_document("c", "doc_1")
    again = _put(store, ("a", "b"))
    assert not set(first.added_chunk_ids) & set(again.added_chunk_ids)


def test_delete_and_not_found(store: SQLiteStore) -> None:
    first = _put(store, ("alpha",))
    gone = store.delete_document("c", "doc_1")
    assert gone.removed_chunk_ids == first.added_chunk_ids and gone.generation == 2
    with pytest.raises(NotFound):
        store.delete_document("c", "doc_1")
    with pytest.raises(NotFound):
        store.get_collection("missing")


def test_metadata_filter_selects_chunks(store: SQLiteStore) -> None:
    first = _put(store, ("alpha", "beta"))
    cid = first.collection_id
    assert sorted(store.allowed_chunk_ids(cid, Filters(metadata={"team": "ops"}))) == first.added_chunk_ids
    assert store.allowed_chunk_ids(cid, Filters(metadata={"team": "sales"})) == []
    assert store.allowed_chunk_ids(cid, Filters(document_ids=("doc_other",))) == []
    assert store.allowed_chunk_ids(cid, Filters(exclude_document_ids=("doc_1",))) == []


def test_lexical_search_ranks_and_filters(store: SQLiteStore) -> None:
    first = _put(store, ("the quokka eats leaves", "the wombat digs burrows at night"))
    cid = first.collection_id
    hits = store.lexical_search(cid, ["wombat", "night"], 5, Filters())
    assert [h[0] for h in hits] == [first.added_chunk_ids[1]] and hits[0][1] > 0
    assert [h[0] for h in store.lexical_search(cid, ['"wombat'], 5, Filters())] == [first.added_chunk_ids[1]]  # quotes escaped
    assert store.lexical_search(cid, ["wombat"], 5, Filters(exclude_document_ids=("doc_1",))) == []


def test_faiss_file_round_trip_and_tamper_detection(tmp_path) -> None:
    index = FaissIndex(8)
    index.add(np.array([5, 9, 11]), _vecs(3))
    path = tmp_path / "i.faiss"
    index.save(path, generation=7)
    loaded, gen = FaissIndex.load(path, 8)
    assert gen == 7 and loaded.ids() == {5, 9, 11}
    assert [i for i, _ in loaded.search(_vecs(3)[1:2], 1)[0]] == [9]
    assert [i for i, _ in loaded.search(_vecs(3)[1:2], 3, allowed=[11])[0]] == [11]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        FaissIndex.load(path, 8)
    with pytest.raises(IndexCorrupt):
        index.save(path, 1) or FaissIndex.load(path, 16)


def test_source_and_time_filters(store: SQLiteStore) -> None:
    from datetime import datetime, timedelta, timezone

    first = _put(store, ("alpha",))
    cid = first.collection_id
    now = datetime.now(timezone.utc)
    assert store.allowed_chunk_ids(cid, Filters(source="upload")) == first.added_chunk_ids
    assert store.allowed_chunk_ids(cid, Filters(source="src_other")) == []
    assert store.allowed_chunk_ids(cid, Filters(ingested_after=now - timedelta(minutes=1))) == first.added_chunk_ids
    assert store.allowed_chunk_ids(cid, Filters(ingested_after=now + timedelta(minutes=1))) == []
    assert store.allowed_chunk_ids(cid, Filters(ingested_before=now - timedelta(minutes=1))) == []
    naive = (now + timedelta(minutes=1)).replace(tzinfo=None)  # naive datetimes are taken as UTC
    assert store.allowed_chunk_ids(cid, Filters(ingested_before=naive)) == first.added_chunk_ids
