"""The store's shared half: collections, documents, chunks and the change log, in SQL both
backends speak. A backend (rag.store.sqlite, rag.store.postgres) supplies the connection,
the transactions and the few statements that differ (text search, JSON, bulk chunk insert).

Every change to a collection's chunks bumps its generation and records which chunk ids it
added and removed, in the same transaction; a FAISS cache stamped with a generation can be
checked against the truth and brought forward incrementally from that log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.clock import utc_iso
from rag.errors import NotFound
from rag.store.chunk_reads import ChunkReads, embeddings_by_id
from rag.store.records import CollectionInfo, DocumentWrite, WriteResult, collection_row, document_row
from rag.types import Document

# How many generations of a collection's change log are kept: a cache further behind than
# this (a replica that was down a long time) is rebuilt from the chunk table instead.
CHANGE_LOG_KEEP = 2000


@dataclass(frozen=True)
class Changes:
    """What a collection's writes after some generation did, composed into one step."""

    generation: int
    added: list[int]       # chunk ids added since, and still there
    removed: list[int]     # chunk ids that were there before, and are gone
    vectors: np.ndarray    # the embeddings of `added`, in its order


class Store(ChunkReads):
    """Collections, documents and chunks; thread-safe. Subclasses give the connection."""

    dialect = "?"  # "sqlite" or "postgresql"
    schema_version = 0

    # -- what a backend provides -------------------------------------------------------
    def open(self) -> None:
        """Create or upgrade the schema (StoreTooNew if it comes from a newer release)."""
        raise NotImplementedError

    def connection(self) -> Any:
        """The calling thread's connection (autocommit)."""
        raise NotImplementedError

    def write(self, scope: str = "store") -> AbstractContextManager[Any]:
        """A write transaction, committed on exit and rolled back on error. Writers of one
        `scope` (a collection's name, or "store" for everything else) run one at a time, in
        this process and in every other process on the same database."""
        raise NotImplementedError

    def snapshot(self) -> AbstractContextManager[Any]:
        """A read transaction: every query inside sees one consistent state."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connections this store opened."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the data lives, for logs and /health (no password)."""
        raise NotImplementedError

    def wait_for_changes(self, timeout_s: float) -> bool:
        """Block until another process commits a write, or `timeout_s` passes; True if one did.
        SQLite cannot tell: it just waits, and the caller polls the generations."""
        time.sleep(timeout_s)
        return False

    def after_bulk_load(self) -> None:
        """Tidy up after many writes at once (PostgreSQL: flush the text index's pending list
        and refresh the planner's statistics, or queries scan instead of using the index)."""

    def after_copy(self, conn: Any) -> None:
        """Bring derived state up to rows copied in with their ids (rag.store.copy)."""

    def _insert_chunks(self, conn: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        """Insert chunk rows (document_id, collection_id, position, text, page, section,
        embedding bytes) and index their text; return their new ids in order."""
        raise NotImplementedError

    def _unindex_chunks(self, conn: Any, ids: list[int]) -> None:
        """Drop the text index entries of chunks about to be deleted (if the backend keeps them apart)."""

    def _announce(self, conn: Any, collection_id: int, generation: int) -> None:
        """Tell other processes, at commit, that a collection moved (PostgreSQL NOTIFY)."""

    # -- collections -------------------------------------------------------------------
    def _insert_collection(self, conn: Any, name: str, description: str = "") -> bool:
        """Create the collection row unless the name exists; True if this call created it.
        Ids are never reused (caches and replicas know a collection by its id)."""
        row = conn.execute("INSERT INTO collections(name, created_at, description) VALUES (?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING RETURNING id", (name, utc_iso(), description)).fetchone()
        return row is not None

    _COUNTS = """SELECT c.*, (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id) AS docs,
                        (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = c.id) AS chunks,
                        (SELECT SUM(d.size) FROM documents d WHERE d.collection_id = c.id) AS bytes,
                        (SELECT MAX(d.ingested_at) FROM documents d WHERE d.collection_id = c.id) AS last_ingested
                 FROM collections c"""

    def get_collection(self, name: str) -> CollectionInfo:
        """A collection with its document and chunk counts; NotFound if it does not exist."""
        row = self.connection().execute(self._COUNTS + " WHERE c.name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"collection {name!r} does not exist", "collection")
        return collection_row(row)

    def collection_id(self, name: str) -> int:
        """The id of a collection, without counting its documents and chunks (per query)."""
        row = self.connection().execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"collection {name!r} does not exist", "collection")
        return int(row[0])

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection with its counts, by name."""
        return [collection_row(r) for r in self.connection().execute(self._COUNTS + " ORDER BY c.name").fetchall()]

    def generation(self, collection_id: int) -> int:
        """The collection's write counter (bumped by every committed write); NotFound for an unknown id."""
        row = self.connection().execute(
            "SELECT generation FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"collection id {collection_id} does not exist", "collection")
        return int(row[0])

    def generations(self) -> dict[int, int]:
        """Every collection's generation by id (what a replica's follower compares with its caches)."""
        return {int(r[0]): int(r[1]) for r in self.connection().execute("SELECT id, generation FROM collections")}

    def changes_since(self, collection_id: int, after: int) -> Changes | None:
        """The writes after generation `after`, composed, with the added chunks' vectors, read
        in one snapshot; None if the log no longer reaches back that far (rebuild instead)."""
        with self.snapshot() as conn:
            row = conn.execute("SELECT generation FROM collections WHERE id = ?", (collection_id,)).fetchone()
            if row is None:
                return None
            generation = int(row[0])
            if generation <= after:
                return Changes(generation, [], [], np.zeros((0, 0), dtype=np.float32))
            rows = conn.execute("SELECT generation, added, removed FROM changes WHERE collection_id = ? "
                                "AND generation > ? ORDER BY generation", (collection_id, after)).fetchall()
            if [int(r[0]) for r in rows] != list(range(after + 1, generation + 1)):
                return None  # pruned, or written by a release without the log
            added: dict[int, None] = {}
            removed: set[int] = set()
            for r in rows:
                for cid in json.loads(r[2]):
                    if cid in added:
                        del added[cid]  # added and removed again inside the span: never seen
                    else:
                        removed.add(cid)
                added.update(dict.fromkeys(json.loads(r[1])))
            ids = list(added)
            found = embeddings_by_id(conn, ids)
            vectors = np.vstack([found[i] for i in ids]) if ids else np.zeros((0, 0), dtype=np.float32)
        return Changes(generation, ids, sorted(removed), vectors)

    # -- documents ---------------------------------------------------------------------
    def _one_document(self, collection: str, column: str, value: str) -> Document | None:
        row = self.connection().execute(
            f"""SELECT d.*, c.name AS collection_name,
                       (SELECT COUNT(*) FROM chunks k WHERE k.document_id = d.id) AS chunk_count
                FROM documents d JOIN collections c ON c.id = d.collection_id
                WHERE c.name = ? AND d.{column} = ?""",
            (collection, value),
        ).fetchone()
        return document_row(row) if row else None

    def find_document(self, collection: str, name: str) -> Document | None:
        """The document of that name in the collection, if any."""
        return self._one_document(collection, "name", name)

    def document_config_hash(self, document_id: str) -> str | None:
        """The settings hash a document was chunked and embedded with, or None if it is not stored."""
        row = self.connection().execute(
            "SELECT config_hash FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        return row[0] if row else None

    def get_document(self, collection: str, document_id: str) -> Document:
        """The document with that id in the collection; NotFound otherwise."""
        doc = self._one_document(collection, "id", document_id)
        if doc is None:
            raise NotFound(f"document {document_id!r} does not exist in collection {collection!r}", "document")
        return doc

    def list_documents(self, collection: str) -> list[Document]:
        """The documents of a collection by name, with chunk counts; NotFound for an unknown collection."""
        info = self.get_collection(collection)
        rows = self.connection().execute(
            """SELECT d.*, ? AS collection_name,
                      (SELECT COUNT(*) FROM chunks k WHERE k.document_id = d.id) AS chunk_count
               FROM documents d WHERE d.collection_id = ? ORDER BY d.name""",
            (info.name, info.id),
        ).fetchall()
        return [document_row(r) for r in rows]

    def replace_document(self, *, collection: str, **fields: Any) -> WriteResult:
        """Insert or replace one document and all its chunks in one transaction."""
        return self.replace_documents(collection, [DocumentWrite(**fields)])

    def replace_documents(self, collection: str, writes: Sequence[DocumentWrite]) -> WriteResult:
        """Insert or replace several documents in ONE transaction and one generation step.

        Batching matters for bulk ingestion: the derived FAISS index is then updated and
        saved once per batch instead of once per document.
        """
        for w in writes:
            if len(w.chunks) != len(w.embeddings):
                raise ValueError(f"{w.name}: one embedding per chunk")
        removed: list[int] = []
        added: list[int] = []
        with self.write(collection) as conn:
            self._insert_collection(conn, collection)
            coll_id = int(conn.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()[0])
            for w in writes:
                removed.extend(self._write_document(conn, coll_id, w, added))
            generation = self._bump(conn, coll_id, added, removed)
        documents = [self.get_document(collection, w.document_id) for w in writes]
        return WriteResult(coll_id, generation, removed, added, documents[0] if documents else None, documents)

    def _write_document(self, conn: Any, coll_id: int, w: DocumentWrite, added: list[int]) -> list[int]:
        old = conn.execute("SELECT version, metadata FROM documents WHERE id = ?", (w.document_id,)).fetchone()
        removed = self._delete_chunks(conn, w.document_id)
        version = (old["version"] + 1) if old else 1
        # A new version keeps the metadata it had unless the write brings its own.
        metadata = w.metadata if w.metadata is not None else (json.loads(old["metadata"]) if old else {})
        now = utc_iso()
        conn.execute(
            """INSERT INTO documents(id, collection_id, name, source, content_hash, config_hash,
                                     version, ingested_at, updated_at, size, mime_type, metadata)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(id) DO UPDATE SET source=excluded.source,
                   content_hash=excluded.content_hash, config_hash=excluded.config_hash,
                   version=excluded.version, ingested_at=excluded.ingested_at, updated_at=excluded.updated_at,
                   size=excluded.size, mime_type=excluded.mime_type, metadata=excluded.metadata""",
            (w.document_id, coll_id, w.name, w.source, w.content_hash, w.config_hash, version, now, now,
             w.size, w.mime_type, json.dumps(metadata, sort_keys=True)),
        )
        vectors = np.ascontiguousarray(w.embeddings, dtype=np.float32)
        rows = [(w.document_id, coll_id, d.position, d.text, d.page, d.section, v.tobytes())
                for d, v in zip(w.chunks, vectors)]
        added.extend(self._insert_chunks(conn, rows) if rows else [])
        return removed

    def delete_document(self, collection: str, document_id: str) -> WriteResult:
        """Remove a document and its chunks; raises NotFound if it is not there."""
        with self.write(collection) as conn:
            row = conn.execute(
                """SELECT d.collection_id FROM documents d JOIN collections c ON c.id = d.collection_id
                   WHERE c.name = ? AND d.id = ?""",
                (collection, document_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"document {document_id!r} does not exist in collection {collection!r}", "document")
            coll_id = int(row[0])
            removed = self._delete_chunks(conn, document_id)
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            generation = self._bump(conn, coll_id, [], removed)
        return WriteResult(coll_id, generation, removed, [], None)

    def _delete_chunks(self, conn: Any, document_id: str) -> list[int]:
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
        if ids:
            self._unindex_chunks(conn, ids)
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        return ids

    def _bump(self, conn: Any, collection_id: int, added: list[int], removed: list[int]) -> int:
        generation = int(conn.execute("UPDATE collections SET generation = generation + 1 WHERE id = ? "
                                      "RETURNING generation", (collection_id,)).fetchone()[0])
        conn.execute("INSERT INTO changes(collection_id, generation, added, removed) VALUES (?,?,?,?)",
                     (collection_id, generation, json.dumps(added), json.dumps(removed)))
        conn.execute("DELETE FROM changes WHERE collection_id = ? AND generation <= ?",
                     (collection_id, generation - CHANGE_LOG_KEEP))
        self._announce(conn, collection_id, generation)
        return generation


def all_migrations() -> list:
    """The migrations of every store module (imported here: they import this module)."""
    from rag.store import jobs, keys, schema, sources

    return [*schema.MIGRATIONS, *sources.MIGRATIONS, *jobs.MIGRATIONS, *keys.MIGRATIONS]
