"""Keeps each collection's FAISS cache equal to SQLite: verify or rebuild, apply writes, search.

Readers search an immutable snapshot; a writer changes a copy and swaps it in, so queries
never wait for ingestion and always see one whole state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from rag.errors import IndexCorrupt
from rag.store.faiss_index import AnnParams, FaissIndex, IndexKind
from rag.store.sqlite import SQLiteStore, WriteResult

log = logging.getLogger(__name__)

_CATCH_UP_S = 2.0


@dataclass
class _Snapshot:
    index: FaissIndex
    generation: int


@dataclass(frozen=True)
class IndexPolicy:
    """Which FAISS index a collection gets: exact search while it is fast, HNSW beyond."""

    kind: str = "auto"  # "auto", "flat" or "hnsw"
    hnsw_above: int = 50_000
    ann: AnnParams = AnnParams()
    # HNSW keeps removed vectors as tombstones; past this share of the index it is rebuilt.
    max_tombstones: float = 0.25

    def kind_for(self, vectors: int, current: IndexKind | None = None) -> IndexKind:
        """The kind for a collection of `vectors`; an HNSW index stays HNSW down to half the
        threshold, so a collection hovering around it is not rebuilt back and forth."""
        if self.kind in ("flat", "hnsw"):
            return self.kind  # type: ignore[return-value]
        if current == "hnsw":
            return "hnsw" if vectors >= self.hnsw_above // 2 else "flat"
        return "hnsw" if vectors >= self.hnsw_above else "flat"


@dataclass(frozen=True)
class IndexState:
    """What /health reports per collection."""

    collection_id: int
    generation: int
    vectors: int
    origin: str  # "loaded", "rebuilt", "empty", "updated"
    kind: str = "flat"
    tombstones: int = 0


class VectorIndexes:
    """The FAISS caches of all collections, checked against SQLite."""

    def __init__(self, store: SQLiteStore, index_dir: Path, dimension: int,
                 policy: IndexPolicy = IndexPolicy(), build_threads: int | None = None,
                 search_threads: int = 1):
        """Index files live in `index_dir`. `build_threads` (default: all cores) is the OpenMP
        thread count for building an HNSW graph, `search_threads` that of each searching thread."""
        self.store = store
        self.index_dir = Path(index_dir)
        self.dimension = dimension
        self.policy = policy
        # OpenMP threads while building an HNSW graph (a rebuild runs beside queries, which
        # keep their own single thread); None: all cores.
        self.build_threads = build_threads or (os.cpu_count() or 1)
        # OpenMP's thread count is per calling thread (a value set at start does not reach
        # the server's request threads), so each searching thread sets it once itself.
        self.search_threads = search_threads
        self._thread_state = threading.local()
        self._snapshots: dict[int, _Snapshot] = {}
        self._origin: dict[int, str] = {}
        self._lock = threading.Lock()
        self._applying: set[int] = set()  # collections a writer in this process is updating

    def path(self, collection_id: int) -> Path:
        """The index file of a collection."""
        return self.index_dir / f"collection-{collection_id}.faiss"

    def load_all(self) -> list[IndexState]:
        """Load every collection's file, rebuilding any whose generation or ids disagree."""
        for info in self.store.list_collections():
            self._load_or_rebuild(info.id)
        return self.states()

    def states(self) -> list[IndexState]:
        """The state of every loaded index, ordered by collection id."""
        with self._lock:
            return [
                IndexState(cid, snap.generation, snap.index.size, self._origin.get(cid, "?"),
                           snap.index.kind, snap.index.tombstones)
                for cid, snap in sorted(self._snapshots.items())
            ]

    def _load_or_rebuild(self, collection_id: int) -> _Snapshot:
        path = self.path(collection_id)
        generation = self.store.generation(collection_id)
        if path.exists():
            try:
                index, file_gen = FaissIndex.load(path, self.dimension, self.policy.ann)
                if file_gen != generation:
                    raise IndexCorrupt(f"{path} is generation {file_gen}, SQLite is at {generation}")
                if index.ids() != self.store.chunk_ids(collection_id):
                    raise IndexCorrupt(f"{path} ids differ from the chunk table")
                if not self._needs_rebuild(index):
                    return self._install(collection_id, _Snapshot(index, generation), "loaded")
                log.info("collection %s: rebuilding its %s index as %s (RAG_INDEX__*)", collection_id,
                         index.kind, self.policy.kind_for(index.size, index.kind))
                return self.rebuild(collection_id, index.kind)
            except IndexCorrupt as exc:
                log.warning("rebuilding FAISS index of collection %s: %s", collection_id, exc)
        return self.rebuild(collection_id)

    def _needs_rebuild(self, index: FaissIndex) -> bool:
        """The wrong kind for its size (or for the settings), or too many tombstones."""
        stored = index.size + index.tombstones
        return (self.policy.kind_for(index.size, index.kind) != index.kind
                or (stored > 0 and index.tombstones / stored > self.policy.max_tombstones))

    def rebuild(self, collection_id: int, current: IndexKind | None = None) -> _Snapshot:
        """Build the index from the embeddings stored in SQLite and save it (`current`: the
        kind it had, for the policy's hysteresis)."""
        generation, ids, vectors = self.store.embeddings(collection_id)
        kind = self.policy.kind_for(len(ids), current)
        index = FaissIndex.new(self.dimension, kind, self.policy.ann)
        if len(ids):
            started = time.monotonic()
            self._add(index, ids, vectors)
            if kind == "hnsw":
                log.info("collection %s: HNSW over %d vectors built in %.1f s", collection_id, len(ids),
                         time.monotonic() - started)
        index.save(self.path(collection_id), generation)
        return self._install(collection_id, _Snapshot(index, generation), "rebuilt" if len(ids) else "empty")

    def _add(self, index: FaissIndex, ids: np.ndarray, vectors: np.ndarray) -> None:
        previous = faiss.omp_get_max_threads()
        # HNSW graph construction parallelises well; OpenMP's thread count is per thread, so
        # raising it here leaves the query threads at RAG_RETRIEVAL__FAISS_THREADS.
        faiss.omp_set_num_threads(self.build_threads)
        try:
            index.add(ids, vectors)
        finally:
            faiss.omp_set_num_threads(previous)

    def _install(self, collection_id: int, snap: _Snapshot, origin: str) -> _Snapshot:
        with self._lock:
            self._snapshots[collection_id] = snap
            self._origin[collection_id] = origin
        return snap

    def apply(self, write: WriteResult, vectors: np.ndarray | None = None) -> None:
        """Mirror a committed SQLite write into the cache (caller holds the collection's write lock)."""
        with self._lock:
            current = self._snapshots.get(write.collection_id)
            self._applying.add(write.collection_id)
        try:
            self._apply(write, current, vectors)
        finally:
            with self._lock:
                self._applying.discard(write.collection_id)

    def _apply(self, write: WriteResult, current: _Snapshot | None, vectors: np.ndarray | None) -> None:
        if current is None or current.generation != write.generation - 1:
            # Someone else (another process, or a missed write) moved the truth: rebuild.
            self.rebuild(write.collection_id)
            return
        index = current.index.copy()
        index.remove(write.removed_chunk_ids)
        if write.added_chunk_ids:
            assert vectors is not None and len(vectors) == len(write.added_chunk_ids)
            self._add(index, np.asarray(write.added_chunk_ids, dtype=np.int64), vectors)
        if self._needs_rebuild(index):
            # Crossed the size threshold (Flat <-> HNSW) or HNSW tombstones piled up: build
            # afresh from SQLite, which already holds this write. Readers keep the old snapshot.
            self.rebuild(write.collection_id, index.kind)
            return
        index.save(self.path(write.collection_id), write.generation)
        self._install(write.collection_id, _Snapshot(index, write.generation), "updated")

    def search(
        self, collection_id: int, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine) in the collection's current snapshot."""
        snap = self._current(collection_id)
        if getattr(self._thread_state, "omp_threads", None) != self.search_threads:
            faiss.omp_set_num_threads(self.search_threads)
            self._thread_state.omp_threads = self.search_threads
        return snap.index.search(query.reshape(1, -1), k, allowed)[0]

    def _current(self, collection_id: int) -> _Snapshot:
        generation = self.store.generation(collection_id)
        deadline = time.monotonic() + _CATCH_UP_S
        while True:
            with self._lock:
                snap = self._snapshots.get(collection_id)
                applying = collection_id in self._applying
            if snap is not None and snap.generation >= generation:
                return snap
            if snap is not None and applying and time.monotonic() > deadline:
                # A writer here is still at it (an HNSW rebuild takes minutes): its write is not
                # acknowledged yet, so the previous state is the one to answer from.
                return snap
            if snap is None or time.monotonic() > deadline:
                break
            # A writer in this process committed to SQLite and is about to swap in the new
            # snapshot: wait for it rather than rebuilding the whole index here.
            time.sleep(0.005)
        # Another process (e.g. `rag ingest` beside a running server) wrote: rebuild.
        return self._load_or_rebuild(collection_id)
