"""A job's heartbeat, beaten from its own thread while the job works.

Progress writes also beat, but they come between files or batches: parsing one large PDF
can take longer than the lease (RAG_JOB_LEASE_S), and a job that stops beating is declared
dead by the next recovery. So whoever runs a job holds a Heartbeat for as long as it works.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from rag.store.jobs import JobStore

log = logging.getLogger(__name__)


class Heartbeat:
    """Context manager: beats `job_id` every `interval_s` seconds until the block ends."""

    def __init__(self, jobs: JobStore, job_id: str, interval_s: float):
        """Beat `job_id` in `jobs` every `interval_s` seconds (a fraction of the lease)."""
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.jobs = jobs
        self.job_id = job_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.jobs.heartbeat(self.job_id)
            except Exception:  # a busy or closing store: the next beat tries again
                log.debug("heartbeat of %s failed", self.job_id, exc_info=True)
