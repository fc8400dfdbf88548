"""FAISS vector index (IndexIDMap2 over inner product) with atomic, generation-stamped files.

File layout: MAGIC, generation (u64), payload length (u64), sha256 of payload, payload
(``faiss.serialize_index``). The checksum is verified before the payload reaches FAISS,
because ``read_index`` on a damaged file can corrupt memory.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from rag import faults
from rag.errors import IndexCorrupt

MAGIC = b"GWFAISS1"
_HEADER = struct.Struct("<8sQQ32s")


class FaissIndex:
    """An exact inner-product index keyed by chunk id; vectors are L2-normalised, so IP = cosine."""

    def __init__(self, dimension: int, index: faiss.Index | None = None):
        if dimension <= 0:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> set[int]:
        if self.size == 0:
            return set()
        return set(faiss.vector_to_array(self._index.id_map).tolist())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"expected {self.dimension}-d vectors, got {vectors.shape[1]}-d")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        return int(self._index.remove_ids(np.asarray(list(ids), dtype=np.int64)))

    def search(
        self, queries: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[list[tuple[int, float]]]:
        """Top-k (id, score) per query; with `allowed`, only those ids are considered at all."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if self.size == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return [[] for _ in range(len(queries))]
        params = None
        if allowed is not None:
            # The selector restricts the scan itself, so a strict filter still gets k results.
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self._index.search(queries, min(k, self.size), params=params)
        return [
            [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i != -1]
            for row_ids, row_scores in zip(ids, scores)
        ]

    def copy(self) -> "FaissIndex":
        """An independent copy (writers change a copy; readers keep the old snapshot)."""
        return FaissIndex(self.dimension, faiss.clone_index(self._index))

    def save(self, path: Path, generation: int) -> None:
        """Write to a temp file, fsync, rename: a crash leaves the old file or the new one."""
        payload = faiss.serialize_index(self._index).tobytes()
        header = _HEADER.pack(MAGIC, generation, len(payload), hashlib.sha256(payload).digest())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(payload[: len(payload) // 2])
                faults.hit("faiss_mid_save")  # half a file on disk, not yet renamed
                f.write(payload[len(payload) // 2:])
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, path: Path, dimension: int) -> tuple["FaissIndex", int]:
        """Read a saved index and its generation; raises IndexCorrupt if it cannot be trusted."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorrupt(f"cannot read {path}: {exc}") from exc
        if len(data) < _HEADER.size:
            raise IndexCorrupt(f"{path} is truncated")
        magic, generation, length, digest = _HEADER.unpack_from(data)
        payload = data[_HEADER.size:]
        if magic != MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
            raise IndexCorrupt(f"{path} is damaged (bad header or checksum)")
        index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        if index.d != dimension:
            raise IndexCorrupt(f"{path} holds {index.d}-d vectors, the embedder makes {dimension}-d")
        return cls(dimension, index), int(generation)
