"""FAISS vector index keyed by chunk id, exact (Flat) or approximate (HNSW), with atomic,
generation-stamped files.

HNSW cannot delete a vector, so a removed chunk becomes a tombstone: it stays in the graph,
is filtered out of every search, and is saved with the index. The owner (VectorIndexes)
rebuilds the index once tombstones pile up.

File layout (GWFAISS2): MAGIC, generation (u64), index length (u64), tombstone count (u64),
sha256 of the rest, ``faiss.serialize_index`` bytes, tombstone ids (int64). The checksum is
verified before the bytes reach FAISS, because ``read_index`` on a damaged file can corrupt
memory. Files of the first layout (GWFAISS1, no tombstones) are still read.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss as _faiss
import numpy as np

from rag import faults
from rag.errors import IndexCorrupt
from rag.files import atomic_path

# faiss's SWIG-generated stubs lack most of its classes and overloads: typed as Any here.
faiss: Any = _faiss

MAGIC_V1 = b"GWFAISS1"
MAGIC = b"GWFAISS2"
_HEADER_V1 = struct.Struct("<8sQQ32s")
_HEADER = struct.Struct("<8sQQQ32s")

IndexKind = Literal["flat", "hnsw"]

# A filter this small is searched exactly over its own vectors: cheaper than walking the
# HNSW graph past thousands of forbidden nodes, and it always finds k permitted chunks.
_EXACT_SUBSET = 20_000


@dataclass(frozen=True)
class AnnParams:
    """HNSW shape (M, efConstruction) and search breadth (efSearch); BENCHMARKS.md has the sweep."""

    m: int = 32
    ef_construction: int = 80
    ef_search: int = 256


class FaissIndex:
    """Inner-product index keyed by chunk id; vectors are L2-normalised, so IP = cosine."""

    def __init__(self, dimension: int, index: faiss.Index | None = None,
                 tombstones: Sequence[int] | np.ndarray = (), ann: AnnParams = AnnParams()):
        """Wrap a FAISS IndexIDMap2 (default: a new empty Flat one); `tombstones` are ids removed
        from an HNSW index that are still in its graph."""
        if dimension <= 0:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self.ann = ann
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        inner = faiss.downcast_index(self._index.index)
        self.kind: IndexKind = "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"
        self._tombstones = np.unique(np.asarray(list(tombstones), dtype=np.int64))
        self._tomb_selector = None  # built on first use; the tombstones of a snapshot never change
        self._sorted_ids: np.ndarray | None = None  # stored ids, sorted; built on first use

    @classmethod
    def new(cls, dimension: int, kind: IndexKind = "flat", ann: AnnParams = AnnParams()) -> "FaissIndex":
        """An empty index of the given kind."""
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dimension, ann.m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = ann.ef_construction
        else:
            inner = faiss.IndexFlatIP(dimension)
        return cls(dimension, faiss.IndexIDMap2(inner), ann=ann)

    @property
    def size(self) -> int:
        """Searchable vectors (tombstones not counted)."""
        return int(self._index.ntotal) - len(self._tombstones)

    @property
    def tombstones(self) -> int:
        """How many removed ids are still stored as tombstones (only HNSW keeps them)."""
        return len(self._tombstones)

    def _stored_ids(self) -> np.ndarray:
        if self._index.ntotal == 0:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map)

    def _live(self, ids: np.ndarray) -> np.ndarray:
        """Those of `ids` that this index holds and has not tombstoned."""
        if self._sorted_ids is None:
            self._sorted_ids = np.sort(self._stored_ids())
        stored = self._sorted_ids
        if not len(stored):
            return ids[:0]
        at = np.minimum(np.searchsorted(stored, ids), len(stored) - 1)
        live = ids[stored[at] == ids]
        if len(self._tombstones):
            live = live[~np.isin(live, self._tombstones)]
        return live

    def count_live(self, ids: Sequence[int]) -> int:
        """How many of `ids` this index holds (tombstones not counted)."""
        return int(len(np.unique(self._live(np.asarray(list(ids), dtype=np.int64))))) if len(ids) else 0

    def ids(self) -> set[int]:
        """The searchable chunk ids (tombstones left out)."""
        stored = self._stored_ids()
        if len(self._tombstones):
            stored = stored[~np.isin(stored, self._tombstones)]
        return set(stored.tolist())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under their chunk ids; the caller L2-normalises them. ValueError on the wrong width."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"expected {self.dimension}-d vectors, got {vectors.shape[1]}-d")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        self._sorted_ids = None

    def remove(self, ids: Sequence[int]) -> int:
        """Remove ids (Flat: really; HNSW: as tombstones); returns how many were present."""
        if not ids:
            return 0
        wanted = np.asarray(list(ids), dtype=np.int64)
        if self.kind == "flat":
            self._sorted_ids = None
            return int(self._index.remove_ids(wanted))
        live = np.unique(self._live(wanted))
        if len(live):
            self._tombstones = np.union1d(self._tombstones, live)
            self._tomb_selector = None
        return int(len(live))

    def search(
        self, queries: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[list[tuple[int, float]]]:
        """Top-k (id, score) per query; with `allowed`, only those ids are considered at all,
        and k of them come back when that many exist (also on HNSW)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if self.size == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return [[] for _ in range(len(queries))]
        if allowed is not None:
            # Only ids this snapshot holds: a filter read from SQLite may be a write ahead.
            permitted = self._live(np.asarray(allowed, dtype=np.int64))
            if not len(permitted):
                return [[] for _ in range(len(queries))]
            if self.kind == "hnsw" and len(permitted) <= _EXACT_SUBSET:
                return self._exact_over(queries, k, permitted)
            selector, wanted = faiss.IDSelectorBatch(permitted), min(k, len(permitted))
        else:
            selector, wanted = self._tombstone_selector(), min(k, self.size)
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ann.ef_search, k))
            if selector is not None:
                params.sel = selector
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        scores, ids = self._index.search(queries, min(k, int(self._index.ntotal)), params=params)
        results = [
            [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i != -1]
            for row_ids, row_scores in zip(ids, scores)
        ]
        if allowed is not None and any(len(r) < wanted for r in results):
            # The graph walk ran out of permitted neighbours: scan the permitted ones exactly.
            return self._exact_over(queries, k, permitted)
        return results

    def _tombstone_selector(self):
        if not len(self._tombstones):
            return None
        if self._tomb_selector is None:
            batch = faiss.IDSelectorBatch(self._tombstones)
            self._tomb_selector = (faiss.IDSelectorNot(batch), batch)
        return self._tomb_selector[0]

    def _exact_over(self, queries: np.ndarray, k: int, ids: np.ndarray, block: int = 50_000
                    ) -> list[list[tuple[int, float]]]:
        """Exact top-k over the given stored ids, reading their vectors back in blocks."""
        best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        best_ids = np.zeros((len(queries), 0), dtype=np.int64)
        for start in range(0, len(ids), block):
            part = np.ascontiguousarray(ids[start:start + block])
            vectors = self._index.reconstruct_batch(part)
            scores = queries @ vectors.T
            best_scores = np.hstack([best_scores, scores])
            best_ids = np.hstack([best_ids, np.broadcast_to(part, scores.shape)])
            if best_scores.shape[1] > k:
                top = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
                best_scores = np.take_along_axis(best_scores, top, axis=1)
                best_ids = np.take_along_axis(best_ids, top, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        return [[(int(best_ids[r, c]), float(best_scores[r, c])) for c in order[r]] for r in range(len(queries))]

    def copy(self) -> "FaissIndex":
        """An independent copy (writers change a copy; readers keep the old snapshot)."""
        return FaissIndex(self.dimension, faiss.clone_index(self._index), self._tombstones, self.ann)

    def serialized_bytes(self) -> int:
        """Size of the index as saved (what it takes in memory, within a few percent)."""
        return int(len(faiss.serialize_index(self._index))) + 8 * len(self._tombstones)

    def save(self, path: Path, generation: int) -> None:
        """Write to a temp file, fsync, rename: a crash leaves the old file or the new one."""
        payload = faiss.serialize_index(self._index).tobytes()
        tombs = self._tombstones.astype("<i8").tobytes()
        digest = hashlib.sha256(payload + tombs).digest()
        header = _HEADER.pack(MAGIC, generation, len(payload), len(self._tombstones), digest)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(header)
            f.write(payload[: len(payload) // 2])
            faults.hit("faiss_mid_save")  # half a file on disk, not yet renamed
            f.write(payload[len(payload) // 2:])
            f.write(tombs)

    @classmethod
    def load(cls, path: Path, dimension: int | None, ann: AnnParams = AnnParams()) -> tuple["FaissIndex", int]:
        """Read a saved index and its generation; raises IndexCorrupt if it cannot be trusted
        (or holds vectors of another `dimension`; None: whatever the file holds, for checks
        made without an embedder)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorrupt(f"cannot read {path}: {exc}") from exc
        if data[:8] == MAGIC and len(data) >= _HEADER.size:
            _, generation, length, n_tombs, digest = _HEADER.unpack_from(data)
            body = data[_HEADER.size:]
            if length + 8 * n_tombs != len(body) or hashlib.sha256(body).digest() != digest:
                raise IndexCorrupt(f"{path} is damaged (bad length or checksum)")
            payload, tombs = body[:length], np.frombuffer(body[length:], dtype="<i8")
        elif data[:8] == MAGIC_V1 and len(data) >= _HEADER_V1.size:
            _, generation, length, digest = _HEADER_V1.unpack_from(data)
            payload, tombs = data[_HEADER_V1.size:], np.zeros(0, dtype=np.int64)
            if length != len(payload) or hashlib.sha256(payload).digest() != digest:
                raise IndexCorrupt(f"{path} is damaged (bad length or checksum)")
        else:
            raise IndexCorrupt(f"{path} is truncated or not an index file (bad header)")
        index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        if dimension is not None and index.d != dimension:
            raise IndexCorrupt(f"{path} holds {index.d}-d vectors, the embedder makes {dimension}-d")
        return cls(index.d, index, tombs, ann), int(generation)
