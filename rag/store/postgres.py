"""The shared backend: PostgreSQL through psycopg 3, for several API replicas and workers on
one database. Full-text search is a generated tsvector column under a GIN index; writers of
one collection are serialised across hosts by a transaction-scoped advisory lock; every
committed write NOTIFYs the other replicas, whose FAISS caches follow incrementally.

The store's SQL is written once with `?` placeholders (rag.store.base); the connection
adapter here turns them into psycopg's `%s`, and gives rows readable by index and name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import conninfo

from rag.errors import StoreUnavailable
from rag.store.base import Store, all_migrations
from rag.store.migrations import migrate
from rag.types import Filters

log = logging.getLogger(__name__)

CHANNEL = "groundwork_changes"
_WORD = re.compile(r"\w+")
# Errors that mean "the database is not there" rather than "this statement is wrong".
_GONE = (psycopg.OperationalError, psycopg.InterfaceError)


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    # The store's SQL has no literal '?' or '%': every '?' is a parameter.
    return sql.replace("%", "%%").replace("?", "%s")


class _Row(tuple):
    """A result row readable as a tuple and by column name, like sqlite3.Row."""

    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._names = names
        return row
    return make


def lock_key(scope: str) -> int:
    """The advisory lock number of a write scope (a collection name, or "store")."""
    return int.from_bytes(hashlib.blake2b(scope.encode(), digest_size=8).digest(), "big", signed=True)


class _Connection:
    """One psycopg connection that speaks the store's SQL; a lost server becomes StoreUnavailable."""

    def __init__(self, raw: psycopg.Connection, owner: "PostgresStore"):
        self.raw = raw
        self.owner = owner

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.owner.reachable(self):
            return self.raw.execute(_pg_sql(sql), list(params) if params else None)

    def executemany(self, sql: str, params: Any) -> Any:
        with self.owner.reachable(self):
            cur = self.raw.cursor()
            cur.executemany(_pg_sql(sql), list(params))
            return cur


class PostgresStore(Store):
    """Groundwork's tables in a PostgreSQL database (one connection per thread, autocommit)."""

    dialect = "postgresql"

    def __init__(self, url: str, connect_timeout_s: int = 5):
        """`url`: a libpq URI or key=value string (RAG_DATABASE_URL)."""
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._all_lock = threading.Lock()
        self._listener: psycopg.Connection | None = None
        self._token = uuid.uuid4().hex  # names this store's own NOTIFYs
        # Per collection: (generation, document frequency by word, [chunk count]) for BM25's IDF.
        self._stats: dict[int, tuple[int, dict[str, int], list[int]]] = {}
        self._stats_lock = threading.Lock()

    def describe(self) -> str:
        """Where the data lives (no password)."""
        try:
            p = conninfo.conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return "postgresql:(unparsable RAG_DATABASE_URL)"
        return f"postgresql://{p.get('user', '')}@{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p.get('dbname', '')}"

    def _connect(self) -> psycopg.Connection:
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s,
                                  row_factory=_row_factory)
        except psycopg.ProgrammingError as exc:  # a malformed URL
            raise StoreUnavailable(f"RAG_DATABASE_URL is not a valid PostgreSQL address: {exc}") from None
        except _GONE as exc:
            raise StoreUnavailable(self._gone_message(exc)) from None
        return raw

    def _gone_message(self, exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (f"the database at {self.describe()} is not reachable ({first}); "
                "nothing was changed: retry when PostgreSQL is back (check RAG_DATABASE_URL)")

    @contextmanager
    def reachable(self, conn: _Connection | None = None) -> Iterator[None]:
        """Turn a lost connection into StoreUnavailable, and forget it so the next use reconnects."""
        try:
            yield
        except _GONE as exc:
            if conn is not None:
                self._forget(conn)
            raise StoreUnavailable(self._gone_message(exc)) from None

    def _forget(self, conn: _Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._all_lock:
            if conn in self._all:
                self._all.remove(conn)
        with suppress(Exception):
            conn.raw.close()

    def open(self) -> None:
        """Apply pending migrations (StoreTooNew if the database comes from a newer release)."""
        self.schema_version = migrate(self.connection(), all_migrations(), self.describe(), dialect="postgresql")

    def connection(self) -> _Connection:
        """This thread's connection, opened on first use (autocommit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed:
            conn = _Connection(self._connect(), self)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self, scope: str = "store") -> Iterator[_Connection]:
        """A write transaction holding the advisory lock of `scope` until it ends: one writer per
        collection (or for the non-collection tables) across every process on the database."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(scope),))
            yield conn
        except BaseException:
            with suppress(psycopg.Error, StoreUnavailable):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[_Connection]:
        """A read-only REPEATABLE READ transaction: every query inside sees one state."""
        conn = self.connection()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield conn
        finally:
            with suppress(psycopg.Error, StoreUnavailable):
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this store opened (all threads) and the listener."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(Exception):
                conn.raw.close()
        self._local = threading.local()
        if self._listener is not None:
            with suppress(Exception):
                self._listener.close()
            self._listener = None

    def wait_for_changes(self, timeout_s: float) -> bool:
        """Block until another process commits a write (NOTIFY) or `timeout_s` passes; True if one did."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s)
                self._listener.execute(f"LISTEN {CHANNEL}")
            # This store's own writes are mirrored by their writer: only others' wake the follower.
            return any(json.loads(n.payload)[2] != self._token
                       for n in self._listener.notifies(timeout=timeout_s, stop_after=1))
        except psycopg.Error as exc:
            log.warning("change notifications from %s lost (%s); polling until they are back",
                        self.describe(), str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            self._listener = None
            return super().wait_for_changes(timeout_s)

    # -- what differs from SQLite ------------------------------------------------------
    def _insert_chunks(self, conn: _Connection, rows: list[tuple[Any, ...]]) -> list[int]:
        # Ids first (one round trip for the whole batch), then COPY: a bulk load streams rows
        # instead of paying one INSERT round trip per chunk.
        ids = [int(r[0]) for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('chunks', 'id')) FROM generate_series(1, ?)",
            (len(rows),)).fetchall()]
        with self.reachable(conn):
            with conn.raw.cursor().copy(
                    "COPY chunks (id, document_id, collection_id, position, text, page, section, embedding) "
                    "FROM STDIN") as copy:
                for chunk_id, row in zip(ids, rows):
                    copy.write_row((chunk_id, *row))
        return ids

    def after_bulk_load(self) -> None:
        """Merge the GIN pending list (new entries sit in an unindexed list until then, which
        made text queries after a large load several times slower) and ANALYZE the chunks."""
        conn = self.connection()
        conn.execute("SELECT gin_clean_pending_list('chunks_fts'::regclass)")
        conn.execute("ANALYZE chunks")

    def after_copy(self, conn: _Connection) -> None:
        """Move the id sequences past the copied ids, so new rows never reuse one."""
        for table in ("collections", "chunks"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"GREATEST((SELECT MAX(id) FROM {table}), 1))")

    def _announce(self, conn: _Connection, collection_id: int, generation: int) -> None:
        # Delivered at commit, to every replica LISTENing (rag.store.follow).
        conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, json.dumps([collection_id, generation, self._token])))

    @staticmethod
    def _metadata_sql(key: str, value: Any) -> tuple[str, list[Any]]:
        # jsonb equality: a number matches a number, a string a string (as json_extract in SQLite).
        return " AND (d.metadata::jsonb -> ?) = ?::jsonb", [key, json.dumps(value)]

    def lexical_search(self, collection_id: int, terms: Sequence[str], k: int,
                       filters: Filters) -> list[tuple[int, float]]:
        """BM25-like ranking over the GIN-indexed tsvector: each term's ts_rank (normalisation
        1: divided by 1 + log(length), as BM25 damps long chunks) weighted by the term's BM25
        IDF in the collection; best first. EVALUATION.md compares it with FTS5's BM25."""
        if not terms or k <= 0:
            return []
        # Only word characters reach to_tsquery, so no term can carry a tsquery operator.
        words = list(dict.fromkeys(w for t in terms for w in _WORD.findall(t)))
        idf = {w: v for w, v in self._idf(collection_id, words).items() if v > 0}
        if not idf:
            return []
        where, args = self._filter_sql(filters)
        documents = " JOIN documents d ON d.id = k.document_id" if where else ""
        # The queries are built once in a one-row subquery (to_tsquery is not folded into a
        # constant, and would otherwise be parsed again for every matching row).
        queries = ", ".join(f"to_tsquery('simple', ?) AS q{i}" for i in range(len(idf)))
        score = " + ".join(f"? * ts_rank(k.tsv, t.q{i}, 1)" for i in range(len(idf)))
        rows = self.connection().execute(
            f"""SELECT k.id, ({score}) AS score
                FROM (SELECT to_tsquery('simple', ?) AS q, {queries}) t, chunks k{documents}
                WHERE k.tsv @@ t.q AND k.collection_id = ?{where}
                ORDER BY score DESC, k.id LIMIT ?""",
            [*idf.values(), " | ".join(idf), *idf, collection_id, *args, k],
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _idf(self, collection_id: int, words: list[str]) -> dict[str, float]:
        """BM25's IDF of each word in the collection, ln(1 + (N - df + 0.5) / (df + 0.5)):
        chunk and document-frequency counts through the GIN index, cached per generation."""
        generation = self.generation(collection_id)
        with self._stats_lock:
            stats = self._stats.get(collection_id)
            if stats is None or stats[0] != generation:
                stats = (generation, {}, [0])
                self._stats[collection_id] = stats
            known = stats[1]
            missing = [w for w in words if w not in known]
        conn = self.connection()
        if missing:
            if not stats[2][0]:
                stats[2][0] = int(conn.execute("SELECT COUNT(*) FROM chunks WHERE collection_id = ?",
                                               (collection_id,)).fetchone()[0])
            rows = conn.execute(
                "SELECT w, (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = ? "
                "AND k.tsv @@ to_tsquery('simple', w)) FROM unnest(?::text[]) AS w",
                (collection_id, missing)).fetchall()
            with self._stats_lock:
                known.update({r[0]: int(r[1]) for r in rows})
        n = stats[2][0]
        return {w: math.log(1 + (n - known[w] + 0.5) / (known[w] + 0.5)) for w in words if known.get(w)}
