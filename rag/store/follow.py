"""A replica's follower: keeps its FAISS caches at the database's generation while other
replicas and processes write, so queries seldom find their snapshot behind.

Woken by PostgreSQL NOTIFY (every committed write sends one); every `poll_s` it also compares
all generations, which is the fallback when notifications are lost and the only way on SQLite.
"""

from __future__ import annotations

import logging
import threading

from rag.errors import RagError
from rag.store.base import Store
from rag.store.vectors import VectorIndexes

log = logging.getLogger(__name__)


class Follower:
    """A daemon thread that brings lagging collections forward from the change log."""

    def __init__(self, store: Store, indexes: VectorIndexes, poll_s: float):
        self.store = store
        self.indexes = indexes
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the current wait (at most `poll_s`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 5)
            self._thread = None

    def follow_once(self) -> list[int]:
        """Catch up every collection whose generation moved; the ids caught up (none while a
        write of this process is in flight: it updates the caches itself)."""
        moved: list[int] = []
        if self.indexes.writing_here():
            return moved
        generations = self.store.generations()
        for gone in {s.collection_id for s in self.indexes.states()} - set(generations):
            self.indexes.forget(gone)  # deleted by another process
        for collection_id, generation in generations.items():
            mine = self.indexes.generation_of(collection_id)
            if mine is None or mine < generation:
                self.indexes.catch_up(collection_id)
                moved.append(collection_id)
        return moved

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.follow_once()
                if failing:
                    log.info("index follower: the database is back")
                failing = False
                self.store.wait_for_changes(self.poll_s)
            except RagError as exc:  # the database went away: say so once, keep trying
                if not failing:
                    log.warning("index follower: %s", exc)
                failing = True
                self._stop.wait(self.poll_s)
            except Exception:
                log.exception("index follower failed; retrying in %s s", self.poll_s)
                self._stop.wait(self.poll_s)
