"""Store backends: SQLite under the data directory unless RAG_DATABASE_URL names PostgreSQL."""

from __future__ import annotations

from rag.config import Settings
from rag.errors import InvalidInput
from rag.store.base import Store
from rag.store.sqlite import SQLiteStore


def make_store(settings: Settings) -> Store:
    """The configured store, not yet opened (call `open()` to migrate)."""
    if settings.database_url is None or not settings.database_url.get_secret_value().strip():
        return SQLiteStore(settings.db_path)
    url = settings.database_url.get_secret_value().strip()
    if not url.startswith(("postgresql://", "postgres://", "host=", "dbname=")):
        raise InvalidInput("RAG_DATABASE_URL must be a PostgreSQL address such as "
                           "postgresql://groundwork@127.0.0.1:5432/groundwork (unset it for SQLite)")
    from rag.store.postgres import PostgresStore  # psycopg is only imported when it is used

    return PostgresStore(url)
