"""Source rows (folders and files bound to collections, with schedules) and what syncs saw."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rag.clock import utc_iso
from rag.errors import NotFound
from rag.store.base import Store
from rag.store.migrations import Migration
from rag.store.paging import Page, PageRequest, Sorts

# The tables of this module, by migration number (rag.store.migrations applies them).
_SOURCES = (
        """CREATE TABLE IF NOT EXISTS sources (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,              -- folder | file | upload
            path TEXT NOT NULL,
            collection TEXT NOT NULL,
            include TEXT NOT NULL DEFAULT '[]',
            exclude TEXT NOT NULL DEFAULT '[]',
            schedule TEXT,                   -- cron expression, or NULL for manual syncs only
            delete_missing INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            last_sync_at TEXT
        )""",
        # What a source's last sync saw of each file: the size + mtime fast path.
        """CREATE TABLE IF NOT EXISTS source_files (
            source_id TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            rel_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            document_id TEXT NOT NULL,
            PRIMARY KEY (source_id, rel_path)
        )""",
)
SOURCE_SORTS = Sorts({"created_at": "created_at", "path": "path"}, tie="id")

MIGRATIONS = (
    # PostgreSQL: sizes and nanosecond mtimes need 64 bits.
    Migration(1, "sources, source_files", _SOURCES,
              tuple(s.replace("INTEGER NOT NULL", "BIGINT NOT NULL") for s in _SOURCES)),
    # Metadata a source attaches to every document it syncs (with the file's `path`).
    Migration(5, "sources.metadata", ("ALTER TABLE sources ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",)),
)


@dataclass(frozen=True)
class Source:
    """A folder or single file kept in sync with a collection."""

    id: str
    kind: str
    path: str
    collection: str
    include: list[str]
    exclude: list[str]
    schedule: str | None
    delete_missing: bool
    created_at: datetime
    last_sync_at: datetime | None
    metadata: dict[str, Any] = field(default_factory=dict)  # set on each document it syncs, beside `path`


@dataclass(frozen=True)
class SeenFile:
    """The state of one file at the last sync."""

    rel_path: str
    size: int
    mtime_ns: int
    content_hash: str
    config_hash: str
    document_id: str


class SourceStore:
    """Sources and their seen files in the Groundwork database."""

    def __init__(self, store: Store):
        """Sources in the `sources` and `source_files` tables of `store`."""
        self.store = store

    def add(self, *, kind: str, path: str, collection: str, include: list[str], exclude: list[str],
            schedule: str | None, delete_missing: bool, metadata: dict[str, Any] | None = None) -> Source:
        """Insert a source and return it. Values are stored as given: callers validate paths and cron."""
        source_id = "src_" + uuid.uuid4().hex[:12]
        with self.store.write() as conn:
            conn.execute(
                """INSERT INTO sources(id, kind, path, collection, include, exclude, schedule,
                                       delete_missing, created_at, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (source_id, kind, path, collection, json.dumps(include), json.dumps(exclude), schedule,
                 int(delete_missing), utc_iso(), json.dumps(metadata or {}, sort_keys=True)),
            )
        return self.get(source_id)

    def get(self, source_id: str) -> Source:
        """The source with this id; NotFound if there is none."""
        row = self.store.connection().execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            raise NotFound(f"source {source_id!r} does not exist", "source")
        return _source(row)

    def list(self) -> list[Source]:
        """Every source, oldest first."""
        return [_source(r) for r in self.store.connection().execute("SELECT * FROM sources ORDER BY created_at")]

    def page(self, request: PageRequest, collection: str | None = None,
             path_prefix: str | None = None) -> Page[Source]:
        """A page of sources (sorted by created_at or path), optionally of one collection or under a path."""
        where, args = "", []  # type: tuple[str, list[Any]]
        if collection is not None:
            where, args = " AND collection = ?", [collection]
        if path_prefix:
            where += " AND substr(path, 1, ?) = ?"
            args += [len(path_prefix), path_prefix]
        after, order, page_args = SOURCE_SORTS.clause(request)
        rows = self.store.connection().execute(
            "SELECT * FROM sources WHERE 1 = 1" + where + after + order, [*args, *page_args]).fetchall()
        return Sorts.page(rows, request, lambda r: (r[request.sort], r["id"]), _source)

    def update(self, source_id: str, changes: dict[str, Any]) -> Source:
        """Change some of include, exclude, schedule, delete_missing, path, collection; NotFound for
        an unknown source, ValueError for any other field."""
        self.get(source_id)
        allowed = {"include", "exclude", "schedule", "delete_missing", "path", "collection", "metadata"}
        sets, args = [], []
        for key, value in changes.items():
            if key not in allowed:
                raise ValueError(f"cannot change {key}")
            sets.append(f"{key} = ?")
            args.append(json.dumps(value, sort_keys=True) if key in ("include", "exclude", "metadata") else
                        int(value) if key == "delete_missing" else value)
        if sets:
            with self.store.write() as conn:
                conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*args, source_id))
                if "metadata" in changes:
                    # The documents it synced take the new metadata now (each keeps its path),
                    # not only when their files next change.
                    now = utc_iso()
                    for row in conn.execute("SELECT id, metadata FROM documents WHERE source = ?",
                                            (source_id,)).fetchall():
                        path = json.loads(row[1]).get("path")
                        merged = {**changes["metadata"], **({"path": path} if path is not None else {})}
                        conn.execute("UPDATE documents SET metadata = ?, updated_at = ? WHERE id = ?",
                                     (json.dumps(merged, sort_keys=True), now, row[0]))
        return self.get(source_id)

    def remove(self, source_id: str) -> None:
        """Delete a source and its seen files (not its documents); NotFound if it does not exist."""
        self.get(source_id)
        with self.store.write() as conn:
            conn.execute("DELETE FROM source_files WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))

    def mark_synced(self, source_id: str) -> None:
        """Set the source's last_sync_at to now."""
        with self.store.write() as conn:
            conn.execute("UPDATE sources SET last_sync_at = ? WHERE id = ?",
                         (utc_iso(), source_id))

    def seen(self, source_id: str) -> dict[str, SeenFile]:
        """The files of a source as last synced, by relative path."""
        rows = self.store.connection().execute(
            "SELECT * FROM source_files WHERE source_id = ?", (source_id,)).fetchall()
        return {r["rel_path"]: SeenFile(r["rel_path"], r["size"], r["mtime_ns"], r["content_hash"],
                                        r["config_hash"], r["document_id"]) for r in rows}

    def record(self, source_id: str, seen: SeenFile) -> None:
        """Insert or replace the seen-file record of one file."""
        with self.store.write() as conn:
            conn.execute(
                """INSERT INTO source_files(source_id, rel_path, size, mtime_ns, content_hash, config_hash, document_id)
                   VALUES (?,?,?,?,?,?,?) ON CONFLICT(source_id, rel_path) DO UPDATE SET
                   size=excluded.size, mtime_ns=excluded.mtime_ns, content_hash=excluded.content_hash,
                   config_hash=excluded.config_hash, document_id=excluded.document_id""",
                (source_id, seen.rel_path, seen.size, seen.mtime_ns, seen.content_hash, seen.config_hash,
                 seen.document_id),
            )

    def forget(self, source_id: str, rel_path: str) -> None:
        """Drop the seen-file record of one file."""
        with self.store.write() as conn:
            conn.execute("DELETE FROM source_files WHERE source_id = ? AND rel_path = ?", (source_id, rel_path))


def _source(row) -> Source:
    return Source(
        id=row["id"], kind=row["kind"], path=row["path"], collection=row["collection"],
        include=json.loads(row["include"]), exclude=json.loads(row["exclude"]), schedule=row["schedule"],
        delete_missing=bool(row["delete_missing"]),
        created_at=datetime.fromisoformat(row["created_at"]), metadata=json.loads(row["metadata"] or "{}"),
        last_sync_at=datetime.fromisoformat(row["last_sync_at"]) if row["last_sync_at"] else None,
    )
