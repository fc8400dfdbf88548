"""What people manage in the store: collections they create and delete, documents they page
through and re-tag, and the chunks a document was cut into.

Reads are keyset pages (rag.store.paging). A metadata change touches only the document row:
nothing is parsed or embedded again, its version stays, `updated_at` moves, and the filters of
search and query (SQL over the same row) see it with the next request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rag.clock import utc_iso
from rag.errors import Conflict, NotFound
from rag.metadata import Metadata, merge_patch
from rag.store.base import Store
from rag.store.paging import Page, PageRequest, Sorts
from rag.store.records import CollectionInfo, collection_row, document_row
from rag.types import Chunk, Document

DOCUMENT_SORTS = Sorts({"name": "d.name", "size": "d.size", "ingested_at": "d.ingested_at",
                        "updated_at": "d.updated_at"}, tie="d.id")
CHUNK_SORTS = Sorts({"position": "k.position"}, tie="k.id")
COLLECTION_SORTS = Sorts({"name": "c.name", "created_at": "c.created_at"}, tie="c.id")


@dataclass(frozen=True)
class DocumentQuery:
    """Which documents a page holds: a name prefix, metadata values, where they came from."""

    name_prefix: str | None = None
    metadata: Metadata | None = None
    source: str | None = None


@dataclass(frozen=True)
class Deleted:
    """What deleting a collection removed: its id (for the vector cache) and the content
    hashes of originals no remaining document holds (for the caller to remove after commit)."""

    collection_id: int
    documents: int
    orphaned_originals: list[str]


class Catalog:
    """Collections, document pages, metadata edits and chunk pages over a Store."""

    def __init__(self, store: Store):
        self.store = store

    # -- collections -------------------------------------------------------------------
    def create_collection(self, name: str, description: str = "", chunk_max_tokens: int | None = None) -> CollectionInfo:
        """A new, empty collection, optionally with a chunk size of its own (in the embedder's
        tokens; it becomes part of its documents' config hash); Conflict (409) if the name is taken."""
        with self.store.write(name) as conn:
            if not self.store._insert_collection(conn, name, description):
                raise Conflict(f"collection {name!r} already exists; pick another name or upload into it")
            if chunk_max_tokens is not None:
                conn.execute("UPDATE collections SET chunk_max_tokens = ? WHERE name = ?", (chunk_max_tokens, name))
        return self.store.get_collection(name)

    def chunk_size(self, name: str) -> int | None:
        """The collection's own chunk size, or None (the server's, or no such collection yet)."""
        row = self.store.connection().execute(
            "SELECT chunk_max_tokens FROM collections WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def describe_collection(self, name: str, description: str) -> CollectionInfo:
        """Change a collection's description; NotFound if it does not exist."""
        with self.store.write(name) as conn:
            if conn.execute("UPDATE collections SET description = ? WHERE name = ? RETURNING id",
                            (description, name)).fetchone() is None:
                raise NotFound(f"collection {name!r} does not exist", "collection")
        return self.store.get_collection(name)

    def collection_names(self) -> list[str]:
        """Every collection's name, without counting its documents and chunks."""
        return [r[0] for r in self.store.connection().execute("SELECT name FROM collections ORDER BY name")]

    def collections_page(self, request: PageRequest, names: set[str] | None = None) -> Page[CollectionInfo]:
        """Collections in the requested order; `names` (when given) restricts to those a key may read."""
        after, order, args = COLLECTION_SORTS.clause(request)
        where, allowed = "", []  # type: tuple[str, list[Any]]
        if names is not None:
            where = f" AND c.name IN ({','.join('?' * len(names))})" if names else " AND 1 = 0"
            allowed = sorted(names)
        rows = self.store.connection().execute(
            self.store._COUNTS + " WHERE 1 = 1" + where + after + order, [*allowed, *args]).fetchall()
        column = COLLECTION_SORTS.columns[request.sort].removeprefix("c.")
        return Sorts.page(rows, request, lambda r: (r[column], r["id"]), collection_row)

    def delete_collection(self, name: str) -> Deleted:
        """Remove a collection with every document, chunk, change-log entry, source bound to it
        and its job history, in one transaction. Conflict (409) while one of its jobs is queued
        or running (it would write into the collection again)."""
        with self.store.write(name) as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"collection {name!r} does not exist", "collection")
            coll_id = int(row[0])
            busy = conn.execute("SELECT id FROM jobs WHERE collection = ? AND state IN ('queued', 'running') "
                                "ORDER BY created_at LIMIT 1", (name,)).fetchone()
            if busy is not None:
                raise Conflict(f"collection {name!r} has a job in progress ({busy[0]}); cancel it with "
                               f"POST /jobs/{busy[0]}/cancel or wait for it to finish, then delete again")
            hashes = {r[0] for r in conn.execute(
                "SELECT DISTINCT content_hash FROM documents WHERE collection_id = ?", (coll_id,))}
            documents = int(conn.execute("SELECT COUNT(*) FROM documents WHERE collection_id = ?",
                                         (coll_id,)).fetchone()[0])
            ids = [int(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE collection_id = ?", (coll_id,))]
            if ids:
                self.store._unindex_chunks(conn, ids)
            conn.execute("DELETE FROM chunks WHERE collection_id = ?", (coll_id,))
            conn.execute("DELETE FROM documents WHERE collection_id = ?", (coll_id,))
            conn.execute("DELETE FROM changes WHERE collection_id = ?", (coll_id,))
            conn.execute("DELETE FROM source_files WHERE source_id IN (SELECT id FROM sources WHERE collection = ?)",
                         (name,))
            conn.execute("DELETE FROM sources WHERE collection = ?", (name,))
            conn.execute("DELETE FROM jobs WHERE collection = ?", (name,))
            conn.execute("DELETE FROM collections WHERE id = ?", (coll_id,))
            high = conn.execute("SELECT value FROM meta WHERE key = 'highest_collection_id'").fetchone()
            conn.execute("INSERT INTO meta(key, value) VALUES ('highest_collection_id', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (str(max(coll_id, int(high[0]) if high else 0)),))
            kept = {r[0] for r in conn.execute("SELECT DISTINCT content_hash FROM documents")} if hashes else set()
        return Deleted(coll_id, documents, sorted(hashes - kept))

    def original_in_use(self, content_hash: str) -> bool:
        """Whether any document (of any collection) holds these bytes, or an upload job that is
        still queued or running will read them."""
        conn = self.store.connection()
        if conn.execute("SELECT 1 FROM documents WHERE content_hash = ? LIMIT 1", (content_hash,)).fetchone():
            return True
        return conn.execute(
            "SELECT 1 FROM job_files f JOIN jobs j ON j.id = f.job_id WHERE f.content_hash = ? "
            "AND j.state IN ('queued', 'running') LIMIT 1", (content_hash,)).fetchone() is not None

    # -- documents ---------------------------------------------------------------------
    def documents_page(self, collection: str, request: PageRequest,
                       query: DocumentQuery = DocumentQuery()) -> Page[Document]:
        """One page of a collection's documents; NotFound for an unknown collection."""
        info = self.store.get_collection(collection)
        where, args = "", []  # type: tuple[str, list[Any]]
        if query.name_prefix:
            # substr, not LIKE: SQLite's LIKE ignores case, PostgreSQL's does not.
            where += " AND substr(d.name, 1, ?) = ?"
            args += [len(query.name_prefix), query.name_prefix]
        for key, value in (query.metadata or {}).items():
            clause, values = self.store._metadata_sql(key, value)
            where, args = where + clause, args + values
        if query.source is not None:
            where += " AND d.source = ?"
            args.append(query.source)
        after, order, page_args = DOCUMENT_SORTS.clause(request)
        rows = self.store.connection().execute(
            """SELECT d.*, ? AS collection_name,
                      (SELECT COUNT(*) FROM chunks k WHERE k.document_id = d.id) AS chunk_count
               FROM documents d WHERE d.collection_id = ?""" + where + after + order,
            [info.name, info.id, *args, *page_args],
        ).fetchall()
        column = DOCUMENT_SORTS.columns[request.sort].removeprefix("d.")
        return Sorts.page(rows, request, lambda r: (r[column], r["id"]), document_row)

    def update_metadata(self, collection: str, document_id: str, patch: dict[str, Any],
                        replace: bool = False) -> Document:
        """Apply a merge patch to a document's metadata (null removes a key), or with `replace`
        put `patch` in its place; the chunks, the vectors and the version stay. NotFound if the
        document is not in the collection."""
        with self.store.write(collection) as conn:
            row = conn.execute(
                """SELECT d.metadata FROM documents d JOIN collections c ON c.id = d.collection_id
                   WHERE c.name = ? AND d.id = ?""", (collection, document_id)).fetchone()
            if row is None:
                raise NotFound(f"document {document_id!r} does not exist in collection {collection!r}", "document")
            merged = merge_patch({} if replace else json.loads(row[0]), patch)
            conn.execute("UPDATE documents SET metadata = ?, updated_at = ? WHERE id = ?",
                         (json.dumps(merged, sort_keys=True), utc_iso(), document_id))
        return self.store.get_document(collection, document_id)

    def chunks_page(self, collection: str, document_id: str, request: PageRequest) -> Page[Chunk]:
        """One page of a document's chunks in reading order; NotFound if the document is not there."""
        self.store.get_document(collection, document_id)
        after, order, args = CHUNK_SORTS.clause(request)
        rows = self.store.connection().execute(
            "SELECT k.id, k.document_id, k.text, k.position, k.page, k.section FROM chunks k "
            "WHERE k.document_id = ?" + after + order, [document_id, *args]).fetchall()
        return Sorts.page(rows, request, lambda r: (r["position"], r["id"]),
                          lambda r: Chunk(r["id"], r["document_id"], r["text"], r["position"], r["page"], r["section"]))
