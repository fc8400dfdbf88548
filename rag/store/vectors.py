"""Keeps each collection's FAISS cache equal to the database: verify, follow the change log
or rebuild, apply writes, search.

Readers search an immutable snapshot; a writer changes a copy and swaps it in, so queries
never wait for ingestion and always see one whole state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from rag.errors import IndexCorrupt, NotCaughtUp, OutOfRange
from rag.store.base import Store
from rag.store.faiss_index import AnnParams, FaissIndex, IndexKind
from rag.store.records import WriteResult

log = logging.getLogger(__name__)

_CATCH_UP_S = 2.0
# A replica that only follows others' writes saves its file every this many generations
# (well inside the change log's reach, rag.store.base.CHANGE_LOG_KEEP).
_SAVE_FOLLOWED_EVERY = 200


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
    origin: str  # "loaded", "rebuilt", "empty", "updated", "followed"
    kind: str = "flat"
    tombstones: int = 0
    damaged: str | None = None  # why the file on disk was not used (then rebuilt from the database)


class VectorIndexes:
    """The FAISS caches of all collections, checked against the database."""

    def __init__(self, store: Store, index_dir: Path, dimension: int,
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
        self._catch_up_lock = threading.Lock()  # one catch-up at a time (follower or query)
        self._local_writes = 0
        self._bulk_depth = 0
        self._bulk_touched: set[int] = set()  # collections written during the bulk load
        self._saved: dict[int, int] = {}  # generation of each collection's file, as last saved here
        self._damaged: dict[int, str] = {}  # collections whose file was damaged or not ours, and why

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
                           snap.index.kind, snap.index.tombstones, self._damaged.get(cid))
                for cid, snap in sorted(self._snapshots.items())
            ]

    def _load_or_rebuild(self, collection_id: int) -> _Snapshot:
        """The saved file, brought forward from the change log if it is behind and checked
        against the chunk table; rebuilt if it is missing, ahead, unreadable or wrong."""
        path = self.path(collection_id)
        generation = self.store.generation(collection_id)
        if path.exists():
            try:
                index, file_gen = FaissIndex.load(path, self.dimension, self.policy.ann)
                if file_gen > generation:
                    raise IndexCorrupt(f"{path} is generation {file_gen}, the database is at {generation}")
                snap = _Snapshot(index, file_gen)
                self._saved[collection_id] = file_gen
                if file_gen < generation:
                    forward = self._forward(collection_id, snap)
                    if forward is None:
                        raise IndexCorrupt(f"{path} is generation {file_gen}, the database is at {generation} "
                                           "and its change log no longer reaches back that far")
                    snap = forward
                    self._save(collection_id, snap.index, snap.generation)
                db_gen, ids = self.store.chunk_ids_at(collection_id)
                if db_gen == snap.generation and snap.index.ids() != ids:
                    raise IndexCorrupt(f"{path} ids differ from the chunk table")
                if not self._needs_rebuild(snap.index):
                    return self._install(collection_id, snap, "loaded")
                log.info("collection %s: rebuilding its %s index as %s (RAG_INDEX__*)", collection_id,
                         snap.index.kind, self.policy.kind_for(snap.index.size, snap.index.kind))
                return self.rebuild(collection_id, snap.index.kind)
            except IndexCorrupt as exc:
                log.warning("rebuilding FAISS index of collection %s: %s", collection_id, exc)
                with self._lock:
                    self._damaged[collection_id] = str(exc)
        return self.rebuild(collection_id)

    def _forward(self, collection_id: int, snap: _Snapshot) -> _Snapshot | None:
        """`snap` brought to the database's generation from the change log (a new snapshot, not
        saved: the file may lag, since loading forwards it from the log too; `snap` itself if
        nothing changed), or None if the log does not reach back."""
        changes = self.store.changes_since(collection_id, snap.generation)
        if changes is None:
            return None
        if changes.generation <= snap.generation:
            return snap
        # The log can only be replayed onto the state it starts from: every id it removes must
        # be in the index and none it adds may be (a file not truly at its generation fails here).
        if (snap.index.count_live(changes.removed) != len(changes.removed)
                or snap.index.count_live(changes.added)):
            raise IndexCorrupt(f"collection {collection_id}: the index does not hold generation "
                               f"{snap.generation} exactly, so the change log cannot be replayed onto it")
        index = snap.index.copy()
        index.remove(changes.removed)
        if changes.added:
            self._add(index, np.asarray(changes.added, dtype=np.int64), changes.vectors)
        if self._needs_rebuild(index):
            return self.rebuild(collection_id, index.kind)
        return _Snapshot(index, changes.generation)

    def catch_up(self, collection_id: int) -> int:
        """Bring a collection's snapshot to the database's generation, incrementally from the
        change log (a full rebuild only if the log does not reach back); the generation reached."""
        with self._catch_up_lock:
            with self._lock:
                snap = self._snapshots.get(collection_id)
            if snap is None:
                return self._load_or_rebuild(collection_id).generation
            try:
                forward = self._forward(collection_id, snap)
            except IndexCorrupt as exc:
                log.warning("%s; rebuilding", exc)
                return self.rebuild(collection_id).generation
            if forward is None:
                log.warning("collection %s: change log does not reach back to generation %s; rebuilding",
                            collection_id, snap.generation)
                return self.rebuild(collection_id).generation
            if forward is not snap:
                self._install(collection_id, forward, "followed")
                if forward.generation - self._saved.get(collection_id, 0) >= _SAVE_FOLLOWED_EVERY:
                    # Keep a follower's file within reach of the change log for its next start.
                    self._save(collection_id, forward.index, forward.generation)
            return forward.generation

    @contextmanager
    def local_write(self) -> Iterator[None]:
        """Around a write of this process (store commit, then apply): the follower leaves the
        caches alone meanwhile, so it never races the writer's own update of them."""
        with self._lock:
            self._local_writes += 1
        try:
            yield
        finally:
            with self._lock:
                self._local_writes -= 1

    def writing_here(self) -> bool:
        """Whether a write of this process is between its commit and its cache update."""
        with self._lock:
            return self._local_writes > 0

    def writing(self, collection_id: int) -> bool:
        """Whether a write of this process to the collection is committed but not yet in its
        snapshot (a bulk load in progress, or an update being applied): behind, not broken.
        Any local write counts too, so the instant between a commit and its apply is covered."""
        with self._lock:
            return (self._local_writes > 0 or collection_id in self._applying
                    or collection_id in self._bulk_touched)

    def forget(self, collection_id: int) -> None:
        """Drop a deleted collection's cache and file (ids are never reused: no stale file is misread)."""
        with self._catch_up_lock, self._lock:
            self._snapshots.pop(collection_id, None)
            self._origin.pop(collection_id, None)
            self._saved.pop(collection_id, None)
            self._damaged.pop(collection_id, None)
            self._bulk_touched.discard(collection_id)
            self.path(collection_id).unlink(missing_ok=True)

    def _save(self, collection_id: int, index: FaissIndex, generation: int) -> None:
        # Only a cache of the database: unwritable (disk full), memory serves; the next save catches up.
        try:
            index.save(self.path(collection_id), generation)
        except OSError as exc:
            log.warning("collection %s: could not save its index to %s (%s); answering from memory, "
                        "saved again with the next write", collection_id, self.index_dir, exc.strerror or exc)
            return
        self._saved[collection_id] = generation

    def generation_of(self, collection_id: int) -> int | None:
        """The generation of the collection's current snapshot here (None: none loaded)."""
        with self._lock:
            snap = self._snapshots.get(collection_id)
        return snap.generation if snap else None

    def _needs_rebuild(self, index: FaissIndex) -> bool:
        """The wrong kind for its size (or for the settings), or too many tombstones."""
        stored = index.size + index.tombstones
        return (self.policy.kind_for(index.size, index.kind) != index.kind
                or (stored > 0 and index.tombstones / stored > self.policy.max_tombstones))

    def rebuild(self, collection_id: int, current: IndexKind | None = None) -> _Snapshot:
        """Build the index from the embeddings stored in the database and save it (`current`: the
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
        self._save(collection_id, index, generation)
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
            current = self._snapshots.get(collection_id)
            if current is not None and current.generation > snap.generation:
                return current  # a follower got further meanwhile: snapshots only move forward
            self._snapshots[collection_id] = snap
            self._origin[collection_id] = origin
        return snap

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """A bulk load: writes inside are committed to the database as usual, but the caches
        are not copied, extended and saved per write. Queries meanwhile answer from the
        snapshot of before; at the end each collection written is brought forward once from
        the change log (one add of every new vector, or one build, and one save)."""
        with self._lock:
            self._bulk_depth += 1
            self._local_writes += 1
        try:
            yield
        finally:
            with self._lock:
                self._bulk_depth -= 1
                self._local_writes -= 1
                touched = sorted(self._bulk_touched) if self._bulk_depth == 0 else []
            if touched:
                self.store.after_bulk_load()
            for collection_id in touched:
                self.catch_up(collection_id)
                with self._lock:
                    self._bulk_touched.discard(collection_id)
                    snap = self._snapshots[collection_id]
                if self._saved.get(collection_id) != snap.generation:
                    self._save(collection_id, snap.index, snap.generation)

    def apply(self, write: WriteResult, vectors: np.ndarray | None = None) -> None:
        """Mirror a committed write into the cache (caller holds the collection's write lock)."""
        with self._lock:
            if self._bulk_depth:
                self._bulk_touched.add(write.collection_id)  # brought forward when the bulk load ends
                return
            current = self._snapshots.get(write.collection_id)
            self._applying.add(write.collection_id)
        try:
            self._apply(write, current, vectors)
        finally:
            with self._lock:
                self._applying.discard(write.collection_id)

    def _apply(self, write: WriteResult, current: _Snapshot | None, vectors: np.ndarray | None) -> None:
        if current is None:
            self.rebuild(write.collection_id)
            return
        if current.generation != write.generation - 1:
            # Someone else (another process or replica) wrote in between: follow the log.
            self.catch_up(write.collection_id)
            return
        index = current.index.copy()
        index.remove(write.removed_chunk_ids)
        if write.added_chunk_ids:
            assert vectors is not None and len(vectors) == len(write.added_chunk_ids)
            self._add(index, np.asarray(write.added_chunk_ids, dtype=np.int64), vectors)
        if self._needs_rebuild(index):
            # Crossed the size threshold (Flat <-> HNSW) or HNSW tombstones piled up: build
            # afresh from the database, which already holds this write. Readers keep the old snapshot.
            self.rebuild(write.collection_id, index.kind)
            return
        self._save(write.collection_id, index, write.generation)
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

    def require(self, collection_id: int, min_generation: int | None, wait_s: float) -> int:
        """The generation a query reads now, at least `min_generation`: waits up to `wait_s`
        for this replica to catch up, then NotCaughtUp (503). A `min_generation` the database
        has not reached is OutOfRange (422): no write has returned it."""
        if min_generation is not None:
            reached = self.store.generation(collection_id)
            if min_generation > reached:
                raise OutOfRange(f"min_generation {min_generation} is ahead of the collection, which is at "
                                 f"generation {reached}: pass a generation that a write returned")
        deadline = time.monotonic() + wait_s
        while True:
            snap = self._current(collection_id)
            if min_generation is None or snap.generation >= min_generation:
                return snap.generation
            if time.monotonic() >= deadline:
                raise NotCaughtUp(
                    f"this replica's index of the collection is at generation {snap.generation}, not yet "
                    f"{min_generation} (waited {wait_s:g} s, RAG_REPLICA__WAIT_S); retry shortly, or ask "
                    "without min_generation to read what it has")
            time.sleep(0.02)

    def _current(self, collection_id: int) -> _Snapshot:
        generation = self.store.generation(collection_id)
        deadline = time.monotonic() + _CATCH_UP_S
        while True:
            with self._lock:
                snap = self._snapshots.get(collection_id)
                applying = collection_id in self._applying
                in_bulk = collection_id in self._bulk_touched
            if snap is not None and (snap.generation >= generation or in_bulk):
                return snap
            if snap is None or not applying:
                break
            if time.monotonic() > deadline:
                # A writer here is still at it (an HNSW rebuild takes minutes): its write is not
                # acknowledged yet, so the previous state is the one to answer from.
                return snap
            # A writer in this process committed and is about to swap in the new snapshot:
            # wait for it rather than reading the log.
            time.sleep(0.005)
        # Another process or replica wrote: follow the change log.
        self.catch_up(collection_id)
        with self._lock:
            return self._snapshots[collection_id]
