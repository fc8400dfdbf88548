"""Numbered schema migrations, applied in order, each in one transaction.

Every store module declares the migrations of its own tables beside the code that uses
them (`MIGRATIONS` in sqlite.py, sources.py, jobs.py, keys.py); parts that share a number
are one step. The version reached is kept in `meta.schema_version`: a data directory written
by an older release is upgraded on open, one written by a newer release is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import StoreTooNew


@dataclass(frozen=True)
class Migration:
    """One part of a numbered step: statements for the tables of one module."""

    number: int
    name: str
    statements: tuple[str, ...]


def steps(parts: Iterable[Migration]) -> dict[int, list[Migration]]:
    """Parts grouped by number, numbers in order; numbers must run 1, 2, 3, ... without gaps."""
    grouped: dict[int, list[Migration]] = {}
    for part in parts:
        grouped.setdefault(part.number, []).append(part)
    if sorted(grouped) != list(range(1, len(grouped) + 1)):
        raise ValueError(f"migration numbers must be 1..n without gaps, got {sorted(grouped)}")
    return dict(sorted(grouped.items()))


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for a new, empty file)."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, parts: Iterable[Migration], path: Path, upto: int | None = None) -> int:
    """Bring the database to the newest version (or `upto`); return the version reached.

    `conn` must be in autocommit mode (isolation_level=None): each step runs inside its own
    BEGIN IMMEDIATE ... COMMIT, so a crash mid-upgrade leaves the previous version whole.
    """
    plan = steps(parts)
    latest = max(plan) if plan else 0
    version = current_version(conn)
    if version > latest:
        raise StoreTooNew(
            f"{path} has schema version {version}, but this release knows versions up to {latest}: "
            "it was written by a newer Groundwork. Run that release (or newer), or restore a backup "
            "made by this one; nothing was changed.")
    target = latest if upto is None else min(upto, latest)
    for number in range(version + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for part in plan[number]:
                for statement in part.statements:
                    conn.execute(statement)
            conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(number),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return max(version, target)
