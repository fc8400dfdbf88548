"""Numbered schema migrations, applied in order, each in one transaction.

Every store module declares the migrations of its own tables beside the code that uses
them (`MIGRATIONS` in schema.py, sources.py, jobs.py, keys.py), with PostgreSQL statements
where the SQL differs; parts that share a number
are one step. The version reached is kept in `meta.schema_version`: a data directory written
by an older release is upgraded on open, one written by a newer release is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rag.errors import StoreTooNew


@dataclass(frozen=True)
class Migration:
    """One part of a numbered step: statements for the tables of one module."""

    number: int
    name: str
    statements: tuple[str, ...]
    # The same step in PostgreSQL where its SQL differs (types, text search); None: as above.
    postgres: tuple[str, ...] | None = None

    def for_dialect(self, dialect: str) -> tuple[str, ...]:
        """The statements for "sqlite" or "postgresql"."""
        return self.postgres if dialect == "postgresql" and self.postgres is not None else self.statements


def steps(parts: Iterable[Migration]) -> dict[int, list[Migration]]:
    """Parts grouped by number, numbers in order; numbers must run 1, 2, 3, ... without gaps."""
    grouped: dict[int, list[Migration]] = {}
    for part in parts:
        grouped.setdefault(part.number, []).append(part)
    if sorted(grouped) != list(range(1, len(grouped) + 1)):
        raise ValueError(f"migration numbers must be 1..n without gaps, got {sorted(grouped)}")
    return dict(sorted(grouped.items()))


# Taken by every PostgreSQL migration step, so replicas starting together upgrade once.
MIGRATION_LOCK = 0x6772_6F75_6E64  # "ground"


def current_version(conn, dialect: str = "sqlite") -> int:
    """The schema version of an open database (0 for a new, empty one)."""
    # PostgreSQL: a query on the catalog (read with this statement's snapshot), not
    # to_regclass, whose cached catalog lookup could miss a meta table that a replica
    # migrating at the same moment had just committed (it then re-applied step 2).
    exists = ("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'meta' "
              "AND relnamespace = current_schema()::regnamespace)" if dialect == "postgresql" else
              "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta')")
    if not conn.execute(exists).fetchone()[0]:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn, parts: Iterable[Migration], path: object, upto: int | None = None,
            dialect: str = "sqlite") -> int:
    """Bring the database to the newest version (or `upto`); return the version reached.

    `conn` must be in autocommit mode: each step runs in its own transaction (BEGIN IMMEDIATE
    in SQLite; under an advisory lock in PostgreSQL) and re-reads the version inside it, so a
    crash mid-upgrade leaves the previous version whole and two processes opening the same
    database at once apply each step once. `path` names the database in messages.
    """
    plan = steps(parts)
    latest = max(plan) if plan else 0
    target = latest if upto is None else min(upto, latest)
    while True:
        version = _check(current_version(conn, dialect), latest, path)
        if version >= target:
            return version
        if dialect == "postgresql":
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        else:
            conn.execute("BEGIN IMMEDIATE")
        try:
            number = current_version(conn, dialect) + 1  # another process may have moved it
            if number <= target:
                for part in plan[number]:
                    for statement in part.for_dialect(dialect):
                        conn.execute(statement)
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(number),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _check(version: int, latest: int, path: object) -> int:
    if version > latest:
        raise StoreTooNew(
            f"{path} has schema version {version}, but this release knows versions up to {latest}: "
            "it was written by a newer Groundwork. Run that release (or newer), or restore a backup "
            "made by this one; nothing was changed.")
    return version
