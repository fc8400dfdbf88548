"""SQLite store: collections, documents, chunks (with float32 embeddings), FTS5, generations.

Every change to a collection's chunks bumps its generation in the same transaction, so a
derived FAISS file stamped with a generation can be checked against the truth.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.clock import utc_iso
from rag.errors import NotFound
from rag.store.chunk_reads import ChunkReads
from rag.store.migrations import Migration, migrate
from rag.store.records import CollectionInfo, DocumentWrite, WriteResult, collection_row, document_row
from rag.types import Document

# The tables of this module (collections, documents, chunks and their FTS5 index) by
# migration number; rag.store.migrations applies them with those of sources, jobs and keys.
_M001_CORE = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        version INTEGER NOT NULL,
        ingested_at TEXT NOT NULL,
        size INTEGER NOT NULL,
        mime_type TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        UNIQUE (collection_id, name)
    )""",
    """CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused
        document_id TEXT NOT NULL REFERENCES documents(id),
        collection_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        section TEXT,
        embedding BLOB NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(document_id)""",
    """CREATE INDEX IF NOT EXISTS chunks_by_collection ON chunks(collection_id)""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='unicode61')""",
)
MIGRATIONS = (
    Migration(1, "collections, documents, chunks, chunks_fts", _M001_CORE),
    # When a document's record last changed (a re-ingest or, later, a metadata edit);
    # ingested_at only moves when its content is stored again.
    Migration(2, "documents.updated_at", (
        "ALTER TABLE documents ADD COLUMN updated_at TEXT",
        "UPDATE documents SET updated_at = ingested_at",
    )),
)


class SQLiteStore(ChunkReads):
    """Thread-safe access to the Groundwork database (one connection per thread, WAL mode)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        # Serialises writers inside this process; SQLite's BEGIN IMMEDIATE covers others.
        self._write_lock = threading.Lock()

    def open(self) -> None:
        """Create the file if needed, switch to WAL, apply pending migrations (StoreTooNew if
        the file comes from a newer release)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        self.schema_version = migrate(conn, all_migrations(), self.path)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (autocommit, foreign keys on, synchronous=FULL)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE, one writer at a time): committed on exit, rolled back on error."""
        with self._write_lock:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent state."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- collections -------------------------------------------------------------------
    def get_collection(self, name: str) -> CollectionInfo:
        """A collection with its document and chunk counts; NotFound if it does not exist."""
        row = self.connection().execute(
            """SELECT c.*, (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id) AS docs,
                      (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = c.id) AS chunks
               FROM collections c WHERE c.name = ?""",
            (name,),
        ).fetchone()
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
        rows = self.connection().execute(
            """SELECT c.*, (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id) AS docs,
                      (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = c.id) AS chunks
               FROM collections c ORDER BY c.name"""
        ).fetchall()
        return [collection_row(r) for r in rows]

    def generation(self, collection_id: int) -> int:
        """The collection's write counter (bumped by every committed write); NotFound for an unknown id."""
        row = self.connection().execute(
            "SELECT generation FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"collection id {collection_id} does not exist", "collection")
        return int(row[0])

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

    def replace_documents(self, collection: str, writes: Sequence["DocumentWrite"]) -> WriteResult:
        """Insert or replace several documents in ONE transaction and one generation step.

        Batching matters for bulk ingestion: the derived FAISS index is then updated and
        saved once per batch instead of once per document.
        """
        for w in writes:
            if len(w.chunks) != len(w.embeddings):
                raise ValueError(f"{w.name}: one embedding per chunk")
        removed: list[int] = []
        added: list[int] = []
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO collections(name, created_at) VALUES (?, ?)", (collection, utc_iso())
            )
            coll_id = conn.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()[0]
            for w in writes:
                removed.extend(self._write_document(conn, coll_id, w, added))
            generation = self._bump(conn, coll_id)
        documents = [self.get_document(collection, w.document_id) for w in writes]
        return WriteResult(coll_id, generation, removed, added, documents[0] if documents else None, documents)

    def _write_document(self, conn: sqlite3.Connection, coll_id: int, w: "DocumentWrite",
                        added: list[int]) -> list[int]:
        old = conn.execute("SELECT version FROM documents WHERE id = ?", (w.document_id,)).fetchone()
        removed = self._delete_chunks(conn, w.document_id)
        version = (old["version"] + 1) if old else 1
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
             w.size, w.mime_type, json.dumps(w.metadata, sort_keys=True)),
        )
        vectors = np.ascontiguousarray(w.embeddings, dtype=np.float32)
        for draft, vector in zip(w.chunks, vectors):
            cur = conn.execute(
                """INSERT INTO chunks(document_id, collection_id, position, text, page, section, embedding)
                   VALUES (?,?,?,?,?,?,?)""",
                (w.document_id, coll_id, draft.position, draft.text, draft.page, draft.section,
                 vector.tobytes()),
            )
            chunk_id = int(cur.lastrowid or 0)  # always set after an INSERT
            conn.execute("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", (chunk_id, draft.text))
            added.append(chunk_id)
        return removed

    def delete_document(self, collection: str, document_id: str) -> WriteResult:
        """Remove a document and its chunks; raises NotFound if it is not there."""
        with self.write() as conn:
            row = conn.execute(
                """SELECT d.collection_id FROM documents d JOIN collections c ON c.id = d.collection_id
                   WHERE c.name = ? AND d.id = ?""",
                (collection, document_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"document {document_id!r} does not exist in collection {collection!r}", "document")
            removed = self._delete_chunks(conn, document_id)
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            generation = self._bump(conn, row[0])
        return WriteResult(row[0], generation, removed, [], None)

    @staticmethod
    def _delete_chunks(conn: sqlite3.Connection, document_id: str) -> list[int]:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        return ids

    @staticmethod
    def _bump(conn: sqlite3.Connection, collection_id: int) -> int:
        conn.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?", (collection_id,))
        return int(conn.execute("SELECT generation FROM collections WHERE id = ?", (collection_id,)).fetchone()[0])

    def close(self) -> None:
        """Close the calling thread's connection (other threads keep theirs)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def all_migrations() -> list[Migration]:
    """The migrations of every store module (imported here: they import this module)."""
    from rag.store import jobs, keys, sources

    return [*MIGRATIONS, *sources.MIGRATIONS, *jobs.MIGRATIONS, *keys.MIGRATIONS]
