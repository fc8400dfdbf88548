"""The store is the truth: documents and chunks change atomically with the generation (the
contract suite: every test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import IndexCorrupt, NotFound
from rag.store.base import Store
from rag.store.faiss_index import FaissIndex
from rag.types import ChunkDraft, Filters


def _drafts(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(t, i, 1, "S", 3) for i, t in enumerate(texts)]


def _vecs(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _put(store: Store, texts: tuple[str, ...], content_hash: str = "h1"):
    return store.replace_document(
        collection="c", document_id="doc_1", name="a.md", source="upload", content_hash=content_hash,
        config_hash="cfg", size=10, mime_type="text/markdown", metadata={"team": "ops"},
        chunks=_drafts(*texts), embeddings=_vecs(len(texts)),
    )


def test_replace_is_atomic_and_bumps_generation(store: Store) -> None:
    first = _put(store, ("alpha bravo", "charlie delta"))
    assert first.generation == 1 and len(first.added_chunk_ids) == 2 and first.removed_chunk_ids == []
    second = _put(store, ("echo foxtrot",), "h2")
    assert second.generation == 2 and second.removed_chunk_ids == first.added_chunk_ids
    assert store.chunk_ids(first.collection_id) == set(second.added_chunk_ids)
    assert second.document.version == 2 and second.document.content_hash == "h2"
    # The text index follows the chunk table in the same transaction.
    assert store.lexical_search(first.collection_id, ["alpha"], 5, Filters()) == []
    assert [h[0] for h in store.lexical_search(first.collection_id, ["echo"], 5, Filters())] == second.added_chunk_ids


def test_failed_write_changes_nothing(store: Store) -> None:
    first = _put(store, ("alpha",))
    with pytest.raises(ValueError):
        store.replace_document(
            collection="c", document_id="doc_1", name="a.md", source="upload", content_hash="h9",
            config_hash="cfg", size=1, mime_type="text/plain", metadata={},
            chunks=_drafts("x", "y"), embeddings=_vecs(1),
        )
    assert store.generation(first.collection_id) == 1
    assert store.find_document("c", "a.md").content_hash == "h1"


def test_chunk_ids_are_never_reused(store: Store) -> None:
    first = _put(store, ("a", "b"))
    store.delete_document("c", "doc_1")
    again = _put(store, ("a", "b"))
    assert not set(first.added_chunk_ids) & set(again.added_chunk_ids)


def test_delete_and_not_found(store: Store) -> None:
    first = _put(store, ("alpha",))
    gone = store.delete_document("c", "doc_1")
    assert gone.removed_chunk_ids == first.added_chunk_ids and gone.generation == 2
    with pytest.raises(NotFound):
        store.delete_document("c", "doc_1")
    with pytest.raises(NotFound):
        store.get_collection("missing")


def test_metadata_filter_selects_chunks(store: Store) -> None:
    first = _put(store, ("alpha", "beta"))
    cid = first.collection_id
    assert sorted(store.allowed_chunk_ids(cid, Filters(metadata={"team": "ops"}))) == first.added_chunk_ids
    assert store.allowed_chunk_ids(cid, Filters(metadata={"team": "sales"})) == []
    assert store.allowed_chunk_ids(cid, Filters(document_ids=("doc_other",))) == []
    assert store.allowed_chunk_ids(cid, Filters(exclude_document_ids=("doc_1",))) == []


def test_lexical_search_ranks_and_filters(store: Store) -> None:
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


def test_source_and_time_filters(store: Store) -> None:
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


def test_the_change_log_composes_what_each_generation_did(store: Store) -> None:
    first = _put(store, ("alpha", "beta"))
    cid = first.collection_id
    second = _put(store, ("gamma",), "h2")  # replaces alpha, beta
    other = store.replace_document(
        collection="c", document_id="doc_2", name="b.md", source="upload", content_hash="h3", config_hash="cfg",
        size=1, mime_type="text/plain", metadata={}, chunks=_drafts("delta"), embeddings=_vecs(1, seed=3))
    assert other.generation == 3
    since_first = store.changes_since(cid, 1)
    assert since_first is not None and since_first.generation == 3
    assert since_first.removed == sorted(first.added_chunk_ids)
    assert since_first.added == second.added_chunk_ids + other.added_chunk_ids
    assert np.allclose(since_first.vectors[-1], _vecs(1, seed=3)[0])
    # From the start: what was added and removed again inside the span is neither.
    from_zero = store.changes_since(cid, 0)
    assert from_zero is not None and from_zero.removed == []
    assert sorted(from_zero.added) == sorted(store.chunk_ids(cid))
    assert store.changes_since(cid, 3).added == []
    assert store.generations() == {cid: 3}


def test_the_change_log_says_when_it_no_longer_reaches_back(store: Store, monkeypatch) -> None:
    import rag.store.base

    monkeypatch.setattr(rag.store.base, "CHANGE_LOG_KEEP", 2)
    first = _put(store, ("alpha",))
    for n in range(3):
        _put(store, (f"word{n}",), f"h{n + 2}")
    assert store.changes_since(first.collection_id, 0) is None  # generations 1 and 2 were pruned
    assert store.changes_since(first.collection_id, 2) is not None


def test_two_writers_on_one_collection_lose_and_duplicate_nothing(store: Store) -> None:
    """Two store objects (two processes' connections) writing one collection at once."""
    import threading

    from tests.conftest import same_database

    other = same_database(store)
    errors: list[BaseException] = []

    def load(s: Store, prefix: str) -> None:
        try:
            for n in range(15):
                s.replace_document(
                    collection="c", document_id=f"{prefix}_{n}", name=f"{prefix}_{n}.md", source="upload",
                    content_hash=f"{prefix}{n}", config_hash="cfg", size=1, mime_type="text/plain", metadata={},
                    chunks=_drafts(f"{prefix} one {n}", f"{prefix} two {n}"), embeddings=_vecs(2, seed=n))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(s, p)) for s, p in ((store, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert not errors, errors
    info = store.get_collection("c")
    assert info.document_count == 30 and info.chunk_count == 60 and info.generation == 30
    # Every generation is in the log exactly once, so a follower can replay them all.
    replay = store.changes_since(info.id, 0)
    assert replay is not None and len(replay.added) == 60 == len(set(replay.added))


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_a_store_copies_whole_into_an_empty_one(direction: str, tmp_path, request) -> None:
    from rag.store.copy import copy_store
    from rag.store.jobs import JobStore
    from rag.store.keys import KeyStore
    from tests.conftest import open_store

    kinds = direction.split("-to-")
    source = open_store(kinds[0], tmp_path / "src", request)
    target = open_store(kinds[1], tmp_path / "dst", request)
    first = _put(source, ("the wombat digs", "the quokka eats"))
    key_id, key = KeyStore(source).create("ops", ["read:c"])
    JobStore(source).create("upload", "c")
    counts = copy_store(source, target)
    assert counts["chunks"] == 2 and counts["documents"] == 1 and counts["api_keys"] == 1
    cid = first.collection_id
    assert target.chunk_ids_at(cid) == source.chunk_ids_at(cid)
    assert target.get_document("c", "doc_1") == source.get_document("c", "doc_1")
    assert [h[0] for h in target.lexical_search(cid, ["wombat"], 5, Filters())] == [first.added_chunk_ids[0]]
    assert KeyStore(target).verify(key).key_id == key_id
    assert len(JobStore(target).list()) == 1
    # New writes continue after the copied ids and generation.
    again = _put(target, ("the heron waits",), "h2")
    assert again.generation == 2 and min(again.added_chunk_ids) > max(first.added_chunk_ids)
    from rag.errors import InvalidInput

    with pytest.raises(InvalidInput, match="empty database"):
        copy_store(source, target)
    source.close()
    target.close()


def test_sources_and_their_seen_files(store: Store) -> None:
    from rag.store.sources import SeenFile, SourceStore

    sources = SourceStore(store)
    src = sources.add(kind="folder", path="/srv/docs", collection="c", include=["**/*.md"], exclude=[],
                      schedule="*/15 * * * *", delete_missing=True)
    assert sources.get(src.id).include == ["**/*.md"] and sources.list() == [src]
    changed = sources.update(src.id, {"exclude": ["tmp/**"], "delete_missing": False, "schedule": None})
    assert (changed.exclude, changed.delete_missing, changed.schedule) == (["tmp/**"], False, None)
    big = SeenFile("a/b.md", 5_000_000_000, 1_764_633_600_123_456_789, "h" * 64, "cfg", "doc_1")  # 64-bit
    sources.record(src.id, big)
    sources.record(src.id, SeenFile("a/b.md", 7, 8, "h2", "cfg", "doc_1"))  # replaces
    sources.record(src.id, big)
    assert sources.seen(src.id) == {"a/b.md": big}
    sources.mark_synced(src.id)
    assert sources.get(src.id).last_sync_at is not None
    sources.forget(src.id, "a/b.md")
    assert sources.seen(src.id) == {}
    sources.remove(src.id)
    with pytest.raises(NotFound):
        sources.get(src.id)


def test_keys_are_hashed_scoped_rated_and_revoked(store: Store) -> None:
    from rag.errors import InvalidInput
    from rag.store.keys import KeyStore

    keys = KeyStore(store)
    key_id, key = keys.create("ops", ["read:c", "write:c"], rate_per_minute=30)
    principal = keys.verify(key)
    assert principal is not None and principal.key_id == key_id and principal.rate_per_minute == 30
    assert principal.can("write", "c") and not principal.can("read", "other")
    assert keys.verify(key + "x") is None
    assert key not in str(store.connection().execute("SELECT * FROM api_keys").fetchall())
    with pytest.raises(InvalidInput):
        keys.create("bad", ["root"])
    keys.revoke(key_id)
    assert keys.verify(key) is None and keys.list()[0]["revoked_at"] is not None
    with pytest.raises(NotFound):
        keys.revoke(key_id)


def test_an_unreachable_postgresql_is_a_clear_store_unavailable() -> None:
    """PostgreSQL only: SQLite has no server to lose. Refused at once, with what to check."""
    import time

    from rag.errors import StoreUnavailable
    from rag.store.postgres import PostgresStore
    from tests.server import free_port

    store = PostgresStore(f"postgresql://groundwork:secret@127.0.0.1:{free_port()}/groundwork")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"not reachable .*RAG_DATABASE_URL") as caught:
        store.open()
    assert time.monotonic() - started < 10
    assert "secret" not in str(caught.value)  # the password is never part of the message
    assert store.describe().startswith("postgresql://groundwork@127.0.0.1:") and "secret" not in store.describe()
