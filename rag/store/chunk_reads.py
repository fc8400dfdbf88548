"""The reading side of the store: embeddings for FAISS, filters, chunk rows for results.
Mixed into rag.store.base.Store, whose backend gives the connection, the snapshot, the
metadata clause and the full-text ranking."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from rag.clock import utc_iso
from rag.store.records import document_row
from rag.types import Chunk, Document, Filters


def embeddings_by_id(conn: Any, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Stored float32 vectors by chunk id, read on `conn` (inside its transaction, if any) in
    batches of 5,000 ids; ids that no longer exist are absent."""
    out: dict[int, np.ndarray] = {}
    ids = list(ids)
    for start in range(0, len(ids), 5000):
        part = ids[start:start + 5000]
        for r in conn.execute(f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(part))})", part):
            out[int(r[0])] = np.frombuffer(bytes(r[1]), dtype=np.float32)
    return out


class ChunkReads:
    """Queries over chunks; every multi-statement read runs in one snapshot."""

    def connection(self) -> Any:
        """The calling thread's connection (the backend provides it)."""
        raise NotImplementedError

    def snapshot(self) -> AbstractContextManager[Any]:
        """A read transaction (the backend provides it)."""
        raise NotImplementedError

    # -- chunks ------------------------------------------------------------------------
    def embeddings(self, collection_id: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(generation, ids, vectors) of a collection, read in one snapshot."""
        with self.snapshot() as conn:
            gen = conn.execute("SELECT generation FROM collections WHERE id = ?", (collection_id,)).fetchone()
            rows = conn.execute(
                "SELECT id, embedding FROM chunks WHERE collection_id = ? ORDER BY id", (collection_id,)
            ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if rows:
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return int(gen[0]) if gen else 0, ids, vectors

    def chunk_ids(self, collection_id: int) -> set[int]:
        """The ids of every chunk stored for the collection."""
        rows = self.connection().execute("SELECT id FROM chunks WHERE collection_id = ?", (collection_id,))
        return {r[0] for r in rows}

    def chunk_ids_at(self, collection_id: int) -> tuple[int, set[int]]:
        """(generation, chunk ids) of a collection, read in one snapshot."""
        with self.snapshot() as conn:
            gen = conn.execute("SELECT generation FROM collections WHERE id = ?", (collection_id,)).fetchone()
            ids = {int(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE collection_id = ?", (collection_id,))}
        return (int(gen[0]) if gen else 0), ids

    @staticmethod
    def _metadata_sql(key: str, value: Any) -> tuple[str, list[Any]]:
        """The clause that keeps documents whose metadata `key` equals `value` (per backend)."""
        raise NotImplementedError

    def lexical_search(self, collection_id: int, terms: Sequence[str], k: int,
                       filters: Filters) -> list[tuple[int, float]]:
        """Full-text ranking of chunk text for any of `terms`, filters applied; best first,
        scores positive and higher-is-better (per backend)."""
        raise NotImplementedError

    @classmethod
    def _filter_sql(cls, filters: Filters) -> tuple[str, list[Any]]:
        sql, args = "", []  # type: tuple[str, list[Any]]
        if filters.document_ids is not None:
            sql += f" AND d.id IN ({','.join('?' * len(filters.document_ids))})"
            args.extend(filters.document_ids)
        if filters.exclude_document_ids:
            sql += f" AND d.id NOT IN ({','.join('?' * len(filters.exclude_document_ids))})"
            args.extend(filters.exclude_document_ids)
        for key, value in (filters.metadata or {}).items():
            clause, values = cls._metadata_sql(key, value)
            sql += clause
            args.extend(values)
        if filters.source is not None:
            sql += " AND d.source = ?"
            args.append(filters.source)
        # ingested_at is stored as UTC ISO-8601 text, which sorts chronologically.
        if filters.ingested_after is not None:
            sql += " AND d.ingested_at > ?"
            args.append(utc_iso(filters.ingested_after))
        if filters.ingested_before is not None:
            sql += " AND d.ingested_at < ?"
            args.append(utc_iso(filters.ingested_before))
        return sql, args

    def allowed_chunk_ids(self, collection_id: int, filters: Filters) -> list[int]:
        """Chunk ids that pass the filters (used to restrict the search before ranking)."""
        where, args = self._filter_sql(filters)
        sql = "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id WHERE k.collection_id = ?" + where
        return [r[0] for r in self.connection().execute(sql, [collection_id, *args])]

    def chunk_embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored float32 vectors by chunk id; ids that no longer exist are absent."""
        return embeddings_by_id(self.connection(), ids)

    def load_chunks(self, ids: Sequence[int]) -> dict[int, tuple[Chunk, Document]]:
        """Chunks by id with their documents; ids that no longer exist are simply absent."""
        if not ids:
            return {}
        rows = self.connection().execute(
            f"""SELECT k.id AS chunk_id, k.document_id, k.text, k.position, k.page, k.section,
                       d.*, c.name AS collection_name, 0 AS chunk_count
                FROM chunks k JOIN documents d ON d.id = k.document_id
                JOIN collections c ON c.id = d.collection_id
                WHERE k.id IN ({','.join('?' * len(ids))})""",
            list(ids),
        ).fetchall()
        out: dict[int, tuple[Chunk, Document]] = {}
        for r in rows:
            chunk = Chunk(r["chunk_id"], r["document_id"], r["text"], r["position"], r["page"], r["section"])
            out[chunk.id] = (chunk, document_row(r))
        return out
