"""Copy everything from one store to another empty one (SQLite to PostgreSQL when a team
outgrows one machine, or back): the same ids, generations, keys, sources and jobs, so FAISS
files and API keys stay valid and nothing is re-embedded."""

from __future__ import annotations

from collections.abc import Callable

from rag.errors import InvalidInput
from rag.store.base import Store

# Parents before children (foreign keys); the change log is not copied: the target's
# caches are rebuilt or verified against the chunk table on first start.
TABLES = ("collections", "documents", "chunks", "sources", "source_files", "jobs", "api_keys")
_BATCH = 2000


def copy_store(source: Store, target: Store, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of TABLES from `source` to `target` (both opened, same schema version);
    InvalidInput if the target already holds collections, sources or keys. Returns rows per table."""
    if source.schema_version != target.schema_version:
        raise InvalidInput(f"schema versions differ ({source.schema_version} and {target.schema_version}): "
                           "open both with the same release")
    for table in ("collections", "sources", "api_keys"):
        if target.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
            raise InvalidInput(f"the target already has rows in {table}: copy into an empty database")
    copied: dict[str, int] = {}
    with source.snapshot() as src, target.write() as dst:
        for table in TABLES:
            cursor = src.execute(f"SELECT * FROM {table}")
            # Generated columns (PostgreSQL's tsvector) are computed by the target.
            columns = [c for c in _columns(target, dst, table)
                       if c in {d[0] for d in cursor.description}]
            insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' * len(columns))})")
            total = 0
            while rows := cursor.fetchmany(_BATCH):
                dst.executemany(insert, [tuple(r[c] for c in columns) for r in rows])
                total += len(rows)
                if progress:
                    progress(table, total)
            copied[table] = total
        target.after_copy(dst)
    target.after_bulk_load()
    return copied


def _columns(store: Store, conn, table: str) -> list[str]:
    if store.dialect == "postgresql":
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                            "AND table_schema = current_schema() AND is_generated = 'NEVER' "
                            "ORDER BY ordinal_position", (table,)).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
