"""Which replica runs the cron schedules: one leader, however many replicas.

Every `rag serve` replica runs a Scheduler, but only the one holding the lock installs the
schedules, so each cron tick is enqueued once. On PostgreSQL the lock is a session advisory
lock on a connection of its own: it is released by the server the moment the leader's
process dies (its connection closes), and a standby takes it at its next check. On the
embedded SQLite default the lock is an flock on a file in the data directory, released by
the kernel when the process ends. No lease clocks, no home-made election.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import IO, Protocol

import psycopg

from rag.store.base import Store
from rag.store.postgres import PostgresStore, lock_key

log = logging.getLogger(__name__)

SCHEDULER_LOCK = "groundwork:scheduler"


class Leadership(Protocol):
    """A lock one process at a time holds."""

    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process holds it now."""

    def held(self) -> bool:
        """Whether this process still holds it (False once its connection was lost)."""

    def release(self) -> None:
        """Let it go (another process may take it)."""


class FileLeader:
    """An exclusive flock on a file (one machine: the embedded default)."""

    def __init__(self, path: Path):
        """The lock file at `path` (created if missing)."""
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process holds it now."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def held(self) -> bool:
        """Whether this process still holds the lock."""
        return self._file is not None

    def release(self) -> None:
        """Let the lock go."""
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None


class PostgresLeader:
    """A session advisory lock on a connection of its own (several machines, one database)."""

    def __init__(self, url: str, name: str = SCHEDULER_LOCK):
        """The lock named `name` in the database at `url`."""
        self.url = url
        self.name = name
        self._conn: psycopg.Connection | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process holds it now."""
        if self._conn is not None and self.held():
            return True
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            # One lock per schema: two deployments in two schemas of a database each lead their own.
            schema = conn.execute("SELECT current_schema()").fetchone()
            key = lock_key(f"{self.name}:{schema[0] if schema else ''}")
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("scheduler lock not taken: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
            return False
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """Whether this process still holds the lock."""
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            # The connection is gone, and the lock with it: another replica may hold it now.
            self._drop()
            return False

    def release(self) -> None:
        """Let the lock go."""
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None


def make_leadership(store: Store, data_dir: Path) -> Leadership:
    """The scheduler's lock for this store: advisory on PostgreSQL, a file lock otherwise."""
    if isinstance(store, PostgresStore):
        return PostgresLeader(store.url)
    return FileLeader(data_dir / "scheduler.lock")
