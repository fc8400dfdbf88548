"""Flat and HNSW indexes: recall against exact search, tombstones, filters, the automatic
switch by collection size (real FAISS and SQLite; vectors are synthetic and seeded)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import rag.store.faiss_index as faiss_index
from rag.store.base import Store
from rag.store.faiss_index import FaissIndex
from rag.store.sqlite import DocumentWrite, SQLiteStore
from rag.store.vectors import IndexPolicy, VectorIndexes
from rag.types import ChunkDraft

DIM = 384


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """Vectors around 50 centres, like embeddings of documents on a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM)).astype(np.float32)
    data = centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _hnsw(vectors: np.ndarray, ids: np.ndarray | None = None) -> FaissIndex:
    index = FaissIndex.new(DIM, "hnsw")
    index.add(np.arange(len(vectors)) if ids is None else ids, vectors)
    return index


def test_hnsw_recall_at_10_against_exact_search() -> None:
    data = _clustered(6000)
    queries = _clustered(60, seed=1)
    exact = FaissIndex.new(DIM, "flat")
    exact.add(np.arange(len(data)), data)
    approx = _hnsw(data)
    assert approx.kind == "hnsw" and exact.kind == "flat"
    truth = exact.search(queries, 10)
    found = approx.search(queries, 10)
    recall = np.mean([len({i for i, _ in f} & {i for i, _ in t}) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95, recall


def test_hnsw_removed_vectors_never_come_back_and_survive_a_restart(tmp_path) -> None:
    data = _clustered(1000)
    index = _hnsw(data)
    query = data[:1]
    nearest = [i for i, _ in index.search(query, 20)[0]]
    assert nearest[0] == 0
    assert index.remove(nearest[:10] + [99_999]) == 10  # an unknown id is not counted
    assert index.remove(nearest[:3]) == 0  # already gone
    assert index.size == 990 and index.tombstones == 10
    after = [i for i, _ in index.search(query, 10)[0]]
    assert len(after) == 10 and not set(after) & set(nearest[:10])
    assert after == nearest[10:20]
    index.save(tmp_path / "i.faiss", generation=3)
    loaded, generation = FaissIndex.load(tmp_path / "i.faiss", DIM)
    assert generation == 3 and loaded.kind == "hnsw" and loaded.tombstones == 10
    assert loaded.ids() == set(range(1000)) - set(nearest[:10])
    assert [i for i, _ in loaded.search(query, 10)[0]] == after


def test_hnsw_filter_returns_k_permitted_vectors(monkeypatch) -> None:
    data = _clustered(3000)
    index = _hnsw(data)
    index.remove([5])
    rng = np.random.default_rng(3)
    allowed = rng.choice(3000, 400, replace=False).tolist() + [5]
    exact = FaissIndex.new(DIM, "flat")
    keep = np.array(sorted(set(allowed) - {5}))
    exact.add(keep, data[keep])
    for subset_cutoff in (20_000, 10):  # the exact-subset path, then the graph walk with a selector
        monkeypatch.setattr(faiss_index, "_EXACT_SUBSET", subset_cutoff)
        hits = index.search(data[:1], 8, allowed=allowed)[0]
        assert len(hits) == 8 and {i for i, _ in hits} <= set(allowed) - {5}
        assert [i for i, _ in hits][:3] == [i for i, _ in exact.search(data[:1], 3)[0]]
    # Very few permitted vectors: the graph walk finds too few of them, the exact scan does not.
    assert {i for i, _ in index.search(data[:1], 5, allowed=[7, 2999, 1500])[0]} == {7, 2999, 1500}


def _write(store: Store, doc: int, vectors: np.ndarray):
    drafts = [ChunkDraft(f"chunk {doc}-{i}", i, None, None, 3) for i in range(len(vectors))]
    return store.replace_documents("c", [DocumentWrite(
        document_id=f"doc_{doc}", name=f"{doc}.txt", source="upload", content_hash=f"h{doc}-{len(vectors)}",
        config_hash="cfg", size=1, mime_type="text/plain", metadata={}, chunks=drafts, embeddings=vectors)])


def test_collection_switches_to_hnsw_and_back_by_size(store: Store, tmp_path) -> None:
    policy = IndexPolicy("auto", hnsw_above=300)
    indexes = VectorIndexes(store, tmp_path / "index", DIM, policy)
    data = _clustered(600)
    writes = []
    for doc in range(4):  # 4 x 100 vectors: the third write reaches the threshold
        part = data[doc * 100:(doc + 1) * 100]
        writes.append(_write(store, doc, part))
        indexes.apply(writes[-1], part)
        state = indexes.states()[0]
        assert (state.kind, state.vectors) == ("hnsw" if doc >= 2 else "flat", (doc + 1) * 100)
    cid = writes[0].collection_id
    assert [i for i, _ in indexes.search(cid, data[150], 1)] == [writes[1].added_chunk_ids[50]]
    # Replacing a document leaves tombstones (HNSW cannot delete) and keeps the index in sync.
    replaced = _write(store, 1, data[400:440])
    indexes.apply(replaced, data[400:440])
    state = indexes.states()[0]
    assert (state.kind, state.tombstones, state.vectors) == ("hnsw", 100, 340)
    assert not {i for i, _ in indexes.search(cid, data[150], 10)} & set(replaced.removed_chunk_ids)
    # A restart loads the saved HNSW with its tombstones and checks it against SQLite.
    reopened = VectorIndexes(store, tmp_path / "index", DIM, policy)
    [state] = reopened.load_all()
    assert (state.origin, state.kind, state.tombstones, state.vectors) == ("loaded", "hnsw", 100, 340)
    # Tombstones above a quarter of the index (200 of 450): rebuilt from SQLite, none left.
    replaced = _write(store, 2, data[440:450])
    reopened.apply(replaced, data[440:450])
    state = reopened.states()[0]
    assert (state.origin, state.kind, state.tombstones, state.vectors) == ("rebuilt", "hnsw", 0, 250)
    # Shrinking: HNSW down to half the threshold, exact search below it.
    reopened.apply(store.delete_document("c", "doc_0"))
    assert (reopened.states()[0].kind, reopened.states()[0].vectors) == ("hnsw", 150)
    reopened.apply(store.delete_document("c", "doc_3"))
    assert (reopened.states()[0].kind, reopened.states()[0].vectors) == ("flat", 50)
    # Settings name a kind: the saved index of the other kind is rebuilt at start.
    forced = VectorIndexes(store, tmp_path / "index", DIM, IndexPolicy("hnsw"))
    [state] = forced.load_all()
    assert (state.origin, state.kind, state.vectors) == ("rebuilt", "hnsw", 50)


@pytest.mark.parametrize("hnsw_above,vectors,current,expected", [
    (100, 99, None, "flat"), (100, 100, None, "hnsw"), (100, 60, "hnsw", "hnsw"), (100, 49, "hnsw", "flat"),
])
def test_auto_policy_has_hysteresis(hnsw_above, vectors, current, expected) -> None:
    assert IndexPolicy("auto", hnsw_above).kind_for(vectors, current) == expected


def test_each_searching_thread_uses_the_configured_faiss_threads(tmp_path) -> None:
    # OpenMP's thread count is per thread: a value set at start would not reach request threads.
    # (SQLite only: the store plays no part in it.)
    import threading

    import faiss

    store = SQLiteStore(tmp_path / "db.sqlite3")
    store.open()
    indexes = VectorIndexes(store, tmp_path / "index", DIM, search_threads=1)
    data = _clustered(10)
    indexes.apply(_write(store, 0, data), data)
    seen = []

    def search() -> None:
        before = faiss.omp_get_max_threads()
        indexes.search(store.collection_id("c"), data[0], 3)
        seen.append((before, faiss.omp_get_max_threads()))

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen == [(os.cpu_count(), 1)]
    store.close()


def test_searches_during_a_long_rebuild_use_the_previous_index(store: Store, tmp_path, monkeypatch) -> None:
    # Crossing the threshold rebuilds the index in the writer (minutes at a million vectors);
    # a reader must answer from the previous snapshot, not start a rebuild of its own.
    import threading

    import rag.store.vectors as vectors

    monkeypatch.setattr(vectors, "_CATCH_UP_S", 0.2)
    indexes = VectorIndexes(store, tmp_path / "index", DIM, IndexPolicy("auto", hnsw_above=200))
    data = _clustered(300)
    first = _write(store, 0, data[:150])
    indexes.apply(first, data[:150])
    cid = first.collection_id
    building, release = threading.Event(), threading.Event()
    rebuilds: list[str] = []
    original = VectorIndexes.rebuild

    def slow_rebuild(self, collection_id, current=None):
        rebuilds.append(threading.current_thread().name)
        building.set()
        release.wait(30)
        return original(self, collection_id, current)

    monkeypatch.setattr(VectorIndexes, "rebuild", slow_rebuild)
    second = _write(store, 1, data[150:])
    writer = threading.Thread(target=indexes.apply, args=(second, data[150:]), name="writer")
    writer.start()
    try:
        assert building.wait(30)
        hits = indexes.search(cid, data[0], 3)  # SQLite is a generation ahead of the snapshot
        assert hits[0][0] == first.added_chunk_ids[0]
        assert rebuilds == ["writer"]
    finally:
        release.set()
        writer.join()
    assert (indexes.states()[0].kind, indexes.states()[0].vectors) == ("hnsw", 300)
    assert {i for i, _ in indexes.search(cid, data[200], 1)} == {second.added_chunk_ids[50]}
    store.close()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_filter_naming_chunks_the_snapshot_lacks(kind) -> None:
    # A reader on the previous snapshot can get a filter computed from SQLite's newer state:
    # ids the index does not hold are skipped, not looked up.
    data = _clustered(300)
    index = FaissIndex.new(DIM, kind)
    index.add(np.arange(300), data)
    hits = index.search(data[:1], 5, allowed=[0, 1, 2, 10_000, 10_001])[0]
    assert sorted(i for i, _ in hits) == [0, 1, 2]


def test_a_second_replica_follows_writes_incrementally_never_rebuilding(store: Store, tmp_path,
                                                                         monkeypatch) -> None:
    """Replica A writes; replica B (its own connections and index directory) brings its FAISS
    snapshot forward from the change log, and its ids equal the database's at each generation."""
    from rag.errors import OutOfRange
    from rag.store.follow import Follower
    from tests.conftest import same_database

    other = same_database(store)
    a = VectorIndexes(store, tmp_path / "a", DIM)
    b = VectorIndexes(other, tmp_path / "b", DIM)
    data = _clustered(200)
    first = _write(store, 0, data[:50])
    a.apply(first, data[:50])
    cid = first.collection_id
    assert [s.origin for s in b.load_all()] == ["rebuilt"]  # B starts with no file: built once
    rebuilds: list[int] = []
    original = VectorIndexes.rebuild
    monkeypatch.setattr(VectorIndexes, "rebuild",
                        lambda self, c, current=None: rebuilds.append(c) or original(self, c, current))
    follower = Follower(other, b, poll_s=0.05)
    for doc in (1, 2):
        w = _write(store, doc, data[doc * 50:(doc + 1) * 50])
        a.apply(w, data[doc * 50:(doc + 1) * 50])
    a.apply(store.delete_document("c", "doc_0"))
    assert follower.follow_once() == [cid]
    [state] = b.states()
    assert (state.origin, state.generation, state.vectors) == ("followed", 4, 100)
    assert b._snapshots[cid].index.ids() == store.chunk_ids(cid)
    assert [i for i, _ in b.search(cid, data[120], 1)] == [i for i, _ in a.search(cid, data[120], 1)]
    # A generation no write has returned is the client's mistake.
    with pytest.raises(OutOfRange, match="min_generation 9 is ahead of the collection, which is at generation 4"):
        b.require(cid, 9, wait_s=0.1)
    assert b.require(cid, 4, wait_s=0) == 4
    # The follower thread, woken by NOTIFY on PostgreSQL (by polling on SQLite), keeps up alone.
    follower.start()
    try:
        w = _write(store, 3, data[150:])
        a.apply(w, data[150:])
        deadline = time.monotonic() + 10
        while b.generation_of(cid) != 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.generation_of(cid) == 5
    finally:
        follower.stop()
    # B restarts: its saved file is behind; it is brought forward from the log, not rebuilt.
    _write(store, 4, data[:10])
    restarted = VectorIndexes(other, tmp_path / "b", DIM)
    [state] = restarted.load_all()
    assert (state.origin, state.generation, state.vectors) == ("loaded", 6, 160)
    assert rebuilds == []
    other.close()


def test_a_bulk_load_updates_the_cache_once_at_the_end(store: Store, tmp_path, monkeypatch) -> None:
    indexes = VectorIndexes(store, tmp_path / "index", DIM)
    data = _clustered(400)
    first = _write(store, 0, data[:100])
    indexes.apply(first, data[:100])
    cid = first.collection_id
    saves: list[int] = []
    original = FaissIndex.save
    monkeypatch.setattr(FaissIndex, "save", lambda self, path, generation: saves.append(generation)
                        or original(self, path, generation))
    from rag.errors import NotCaughtUp

    with indexes.bulk():
        for doc in (1, 2, 3):
            indexes.apply(_write(store, doc, data[doc * 100:(doc + 1) * 100]), data[doc * 100:(doc + 1) * 100])
        # Queries meanwhile answer from the snapshot of before, without waiting...
        assert indexes.require(cid, None, wait_s=0) == 1
        # ... and one that must read the bulk load's writes is told this replica is not there yet.
        with pytest.raises(NotCaughtUp, match="generation 1, not yet 4"):
            indexes.require(cid, 4, wait_s=0.1)
        assert saves == []
    [state] = indexes.states()
    assert (state.generation, state.vectors, saves) == (4, 400, [4])
    assert indexes._snapshots[cid].index.ids() == store.chunk_ids(cid)
