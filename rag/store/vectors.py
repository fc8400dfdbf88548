"""Keeps each collection's FAISS cache equal to SQLite: verify or rebuild, apply writes, search.

Readers search an immutable snapshot; a writer changes a copy and swaps it in, so queries
never wait for ingestion and always see one whole state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import IndexCorrupt
from rag.store.faiss_index import FaissIndex
from rag.store.sqlite import SQLiteStore, WriteResult

log = logging.getLogger(__name__)

_CATCH_UP_S = 2.0


@dataclass
class _Snapshot:
    index: FaissIndex
    generation: int


@dataclass(frozen=True)
class IndexState:
    """What /health reports per collection."""

    collection_id: int
    generation: int
    vectors: int
    origin: str  # "loaded", "rebuilt", "empty"


class VectorIndexes:
    """The FAISS caches of all collections, checked against SQLite."""

    def __init__(self, store: SQLiteStore, index_dir: Path, dimension: int):
        self.store = store
        self.index_dir = Path(index_dir)
        self.dimension = dimension
        self._snapshots: dict[int, _Snapshot] = {}
        self._origin: dict[int, str] = {}
        self._lock = threading.Lock()

    def path(self, collection_id: int) -> Path:
        return self.index_dir / f"collection-{collection_id}.faiss"

    def load_all(self) -> list[IndexState]:
        """Load every collection's file, rebuilding any whose generation or ids disagree."""
        for info in self.store.list_collections():
            self._load_or_rebuild(info.id)
        return self.states()

    def states(self) -> list[IndexState]:
        with self._lock:
            return [
                IndexState(cid, snap.generation, snap.index.size, self._origin.get(cid, "?"))
                for cid, snap in sorted(self._snapshots.items())
            ]

    def _load_or_rebuild(self, collection_id: int) -> _Snapshot:
        path = self.path(collection_id)
        generation = self.store.generation(collection_id)
        if path.exists():
            try:
                index, file_gen = FaissIndex.load(path, self.dimension)
                if file_gen != generation:
                    raise IndexCorrupt(f"{path} is generation {file_gen}, SQLite is at {generation}")
                if index.ids() != self.store.chunk_ids(collection_id):
                    raise IndexCorrupt(f"{path} ids differ from the chunk table")
                return self._install(collection_id, _Snapshot(index, generation), "loaded")
            except IndexCorrupt as exc:
                log.warning("rebuilding FAISS index of collection %s: %s", collection_id, exc)
        return self.rebuild(collection_id)

    def rebuild(self, collection_id: int) -> _Snapshot:
        """Build the index from the embeddings stored in SQLite and save it."""
        generation, ids, vectors = self.store.embeddings(collection_id)
        index = FaissIndex(self.dimension)
        if len(ids):
            index.add(ids, vectors)
        index.save(self.path(collection_id), generation)
        return self._install(collection_id, _Snapshot(index, generation), "rebuilt" if len(ids) else "empty")

    def _install(self, collection_id: int, snap: _Snapshot, origin: str) -> _Snapshot:
        with self._lock:
            self._snapshots[collection_id] = snap
            self._origin[collection_id] = origin
        return snap

    def apply(self, write: WriteResult, vectors: np.ndarray | None = None) -> None:
        """Mirror a committed SQLite write into the cache (caller holds the collection's write lock)."""
        with self._lock:
            current = self._snapshots.get(write.collection_id)
        if current is None or current.generation != write.generation - 1:
            # Someone else (another process, or a missed write) moved the truth: rebuild.
            self.rebuild(write.collection_id)
            return
        index = current.index.copy()
        index.remove(write.removed_chunk_ids)
        if write.added_chunk_ids:
            assert vectors is not None and len(vectors) == len(write.added_chunk_ids)
            index.add(np.asarray(write.added_chunk_ids, dtype=np.int64), vectors)
        index.save(self.path(write.collection_id), write.generation)
        self._install(write.collection_id, _Snapshot(index, write.generation), "updated")

    def search(
        self, collection_id: int, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine) in the collection's current snapshot."""
        snap = self._current(collection_id)
        return snap.index.search(query.reshape(1, -1), k, allowed)[0]

    def _current(self, collection_id: int) -> _Snapshot:
        generation = self.store.generation(collection_id)
        deadline = time.monotonic() + _CATCH_UP_S
        while True:
            with self._lock:
                snap = self._snapshots.get(collection_id)
            if snap is not None and snap.generation >= generation:
                return snap
            if snap is None or time.monotonic() > deadline:
                break
            # A writer in this process committed to SQLite and is about to swap in the new
            # snapshot: wait for it rather than rebuilding the whole index here.
            time.sleep(0.005)
        # Another process (e.g. `rag ingest` beside a running server) wrote: rebuild.
        return self._load_or_rebuild(collection_id)
