"""The embedded backend: one SQLite file (WAL mode) with an FTS5 index of the chunk text."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.clock import utc_iso
from rag.errors import StorageFull, StoreUnavailable
from rag.store.base import Store, all_migrations
from rag.store.migrations import migrate
from rag.store.records import DocumentWrite, WriteResult
from rag.types import Filters

__all__ = ["SQLiteStore", "DocumentWrite", "WriteResult", "all_migrations"]


class SQLiteStore(Store):
    """Thread-safe access to the Groundwork database file (one connection per thread, WAL mode)."""

    dialect = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        # Serialises writers inside this process; SQLite's BEGIN IMMEDIATE covers others
        # (one writer for the whole file, so every scope is one).
        self._write_lock = threading.Lock()

    def describe(self) -> str:
        """Where the data lives (no password)."""
        return f"sqlite:{self.path}"

    def open(self) -> None:
        """Create the file if needed, switch to WAL, apply pending migrations (StoreTooNew if
        the file comes from a newer release)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self.connection()
            conn.execute("PRAGMA journal_mode=WAL")
            self.schema_version = migrate(conn, all_migrations(), self.path)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise StoreUnavailable(f"{self.path} cannot be written ({exc}): make {self.path.parent} writable "
                                       "by the user running Groundwork, or point RAG_DATA_DIR elsewhere") from None
            raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        except PermissionError as exc:
            raise StoreUnavailable(f"{exc.filename} cannot be written ({exc.strerror}): make it writable by the "
                                   "user running Groundwork, or point RAG_DATA_DIR elsewhere") from None

    def _damaged(self, exc: Exception) -> StoreUnavailable:
        self.close()
        return StoreUnavailable(
            f"{self.path} is damaged or not a Groundwork database ({exc}): restore the last backup with "
            "`rag restore BACKUP --data-dir NEW_DIR` (then serve from NEW_DIR), or move the file away to start "
            "empty; `rag check` reports what it finds", code="store_damaged")

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
    def write(self, scope: str = "store") -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE, one writer at a time): committed on exit, rolled back on error."""
        with self._write_lock:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if _no_space(exc):
                    raise StorageFull(f"no space left for the database in {self.path.parent} ({exc}): free space "
                                      "there, then retry; nothing of this write was kept") from exc
                raise
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent state."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the calling thread's connection (other threads keep theirs)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- what differs from PostgreSQL --------------------------------------------------
    def _insert_collection(self, conn: sqlite3.Connection, name: str, description: str = "") -> bool:
        # A rowid would reuse the id of the last collection deleted; the meta row
        # remembers the highest id ever given out (rag.store.catalog writes it on delete).
        row = conn.execute(
            """INSERT INTO collections(id, name, created_at, description)
               VALUES (MAX(COALESCE((SELECT MAX(id) FROM collections), 0),
                           COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'highest_collection_id'), 0))
                       + 1, ?, ?, ?)
               ON CONFLICT (name) DO NOTHING RETURNING id""", (name, utc_iso(), description)).fetchone()
        return row is not None

    def _insert_chunks(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[int]:
        ids = []
        for row in rows:
            chunk_id = int(conn.execute(
                """INSERT INTO chunks(document_id, collection_id, position, text, page, section, embedding)
                   VALUES (?,?,?,?,?,?,?) RETURNING id""", row).fetchone()[0])
            conn.execute("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", (chunk_id, row[3]))
            ids.append(chunk_id)
        return ids

    def after_copy(self, conn: sqlite3.Connection) -> None:
        """Index the copied chunks' text in FTS5."""
        conn.execute("INSERT INTO chunks_fts(rowid, text) SELECT id, text FROM chunks")

    def _unindex_chunks(self, conn: sqlite3.Connection, ids: list[int]) -> None:
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])

    @staticmethod
    def _metadata_sql(key: str, value: Any) -> tuple[str, list[Any]]:
        return " AND json_extract(d.metadata, ?) = ?", [f'$."{key}"', value]

    def lexical_search(self, collection_id: int, terms: Sequence[str], k: int,
                       filters: Filters) -> list[tuple[int, float]]:
        """BM25 over chunk text (FTS5), filters applied inside the query; best first.

        Scores are returned positive (FTS5's bm25() is lower-is-better).
        """
        if not terms or k <= 0:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, args = self._filter_sql(filters)
        # The documents join is only needed by filters; every matching row pays for it.
        documents = " JOIN documents d ON d.id = k.document_id" if where else ""
        rows = self.connection().execute(
            f"""SELECT f.rowid, bm25(chunks_fts) AS score FROM chunks_fts f
                JOIN chunks k ON k.id = f.rowid{documents}
                WHERE chunks_fts MATCH ? AND k.collection_id = ?{where}
                ORDER BY score LIMIT ?""",
            [match, collection_id, *args, k],
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]


def _no_space(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL (the disk or a quota) or SQLITE_IOERR on a write."""
    text = str(exc).lower()
    return "disk is full" in text or "disk i/o error" in text or "database or disk is full" in text
