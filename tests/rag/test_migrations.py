"""The store owns its schema: numbered migrations upgrade old data directories and refuse new ones."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rag.errors import StoreTooNew
from rag.store.migrations import Migration, current_version, migrate, steps
from rag.store.sqlite import SQLiteStore, all_migrations
from rag.types import ChunkDraft


def _connect(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_new_database_gets_every_migration(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    store.open()
    assert store.schema_version == max(steps(all_migrations())) >= 2
    columns = {r[1] for r in store.connection().execute("PRAGMA table_info(documents)")}
    assert "updated_at" in columns


def test_a_previous_release_data_directory_is_upgraded(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    # The previous release's schema is migration 1 exactly (its DDL, schema_version = 1).
    conn = _connect(path)
    assert migrate(conn, all_migrations(), path, upto=1) == 1
    conn.execute("INSERT INTO collections(name, created_at) VALUES ('c', '2026-11-01T00:00:00+00:00')")
    conn.execute("""INSERT INTO documents(id, collection_id, name, source, content_hash, config_hash, version,
                    ingested_at, size, mime_type) VALUES ('doc_1', 1, 'a.md', 'upload', 'h', 'cfg', 1,
                    '2026-11-01T00:00:00+00:00', 3, 'text/markdown')""")
    assert "updated_at" not in {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
    conn.close()

    store = SQLiteStore(path)
    store.open()
    assert store.schema_version == max(steps(all_migrations()))
    row = store.connection().execute("SELECT updated_at, ingested_at FROM documents").fetchone()
    assert row["updated_at"] == row["ingested_at"] == "2026-11-01T00:00:00+00:00"
    assert store.get_document("c", "doc_1").version == 1
    # New writes fill the new column.
    store.replace_document(collection="c", document_id="doc_2", name="b.md", source="upload", content_hash="h2",
                           config_hash="cfg", size=1, mime_type="text/markdown", metadata={},
                           chunks=[ChunkDraft("hello", 0, None, None, 1)],
                           embeddings=np.ones((1, 4), dtype=np.float32))
    assert store.connection().execute("SELECT updated_at FROM documents WHERE id='doc_2'").fetchone()[0]


def test_reopening_applies_nothing_twice(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    for _ in range(2):
        store = SQLiteStore(path)
        store.open()
        store.close()
    assert current_version(_connect(path)) == max(steps(all_migrations()))


def test_a_newer_release_database_is_refused_with_what_to_do(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SQLiteStore(path)
    store.open()
    store.connection().execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNew, match=r"schema version 99.*newer Groundwork"):
        SQLiteStore(path).open()
    assert path.read_bytes() == before


def test_a_failed_step_leaves_the_previous_version_whole(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _connect(path)
    broken = [*all_migrations(), Migration(max(steps(all_migrations())) + 1, "broken",
                                           ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken, path)
    assert current_version(conn) == max(steps(all_migrations()))
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'extra'").fetchone()


def test_migration_numbers_have_no_gaps() -> None:
    with pytest.raises(ValueError, match="without gaps"):
        steps([Migration(1, "a", ()), Migration(3, "c", ())])


# The same mechanism on PostgreSQL (the SQLite tests above read the file and PRAGMAs, which
# PostgreSQL has no equivalent of; these check the same promises through the store).
def test_postgres_gets_every_migration_and_reopening_applies_nothing_twice(pg_url: str) -> None:
    from rag.store.postgres import PostgresStore

    first = PostgresStore(pg_url)
    first.open()
    assert first.schema_version == max(steps(all_migrations()))
    columns = {r[0] for r in first.connection().execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'documents' "
        "AND table_schema = current_schema()")}
    assert "updated_at" in columns
    first.close()
    again = PostgresStore(pg_url)
    again.open()
    assert current_version(again.connection(), "postgresql") == max(steps(all_migrations()))
    again.close()


def test_postgres_replicas_starting_together_migrate_once(pg_url: str) -> None:
    import threading

    from rag.store.postgres import PostgresStore

    stores = [PostgresStore(pg_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start(s: PostgresStore) -> None:
        barrier.wait()
        try:
            s.open()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {s.schema_version for s in stores} == {max(steps(all_migrations()))}
    for s in stores:
        s.close()


def test_postgres_a_newer_release_database_is_refused_and_a_failed_step_rolls_back(pg_url: str) -> None:
    import psycopg

    from rag.store.postgres import PostgresStore

    store = PostgresStore(pg_url)
    store.open()
    latest = max(steps(all_migrations()))
    broken = [*all_migrations(), Migration(latest + 1, "broken", ("CREATE TABLE extra (x INTEGER)", "NOT SQL"))]
    with pytest.raises(psycopg.errors.SyntaxError):
        migrate(store.connection(), broken, "db", dialect="postgresql")
    conn = store.connection()
    assert current_version(conn, "postgresql") == latest
    assert conn.execute("SELECT to_regclass('extra')").fetchone()[0] is None
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreTooNew, match=r"schema version 99.*newer Groundwork"):
        PostgresStore(pg_url).open()


def test_postgres_version_read_inside_a_transaction_sees_a_migration_committed_meanwhile(pg_url: str) -> None:
    """What a replica does while it waits for the migration lock: its transaction began
    before another replica committed the schema, and it must still read the new version
    (a cached "no meta table" once made it re-apply step 1, then fail on step 2)."""
    from rag.store.postgres import PostgresStore

    late = PostgresStore(pg_url)
    conn = late.connection()
    assert current_version(conn, "postgresql") == 0
    conn.execute("BEGIN")
    first = PostgresStore(pg_url)
    first.open()
    try:
        assert current_version(conn, "postgresql") == max(steps(all_migrations()))
    finally:
        conn.execute("ROLLBACK")
    late.open()
    assert late.schema_version == first.schema_version
    first.close()
    late.close()
