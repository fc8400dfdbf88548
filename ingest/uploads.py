"""The upload use case: a job around one batch of files, whatever calls it (route, CLI).

The job is started, beats its heartbeat from its own thread while the files are parsed
and embedded (one large file may take longer than the lease), records every file's outcome
and is finished in `finally`: if ingestion raises, the job ends "failed" with the reason
instead of staying "running" for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.heartbeat import Heartbeat
from ingest.pipeline import FileOutcome, IncomingFile, Ingestor
from rag.store.jobs import COUNT_KEYS, JobStore, describe_counts

log = logging.getLogger(__name__)


def count_outcomes(outcomes: Iterable[FileOutcome]) -> dict[str, int]:
    """How many files ended in each state (every key of COUNT_KEYS present)."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def failures(outcomes: Iterable[FileOutcome]) -> list[dict[str, str]]:
    """The failed files with their reasons, as a job stores them."""
    return [{"file": o.name, "reason": o.reason or "failed"} for o in outcomes if o.status == "failed"]


@dataclass(frozen=True)
class UploadResult:
    """The job that recorded the upload, and each file's outcome in upload order."""

    job_id: str
    outcomes: list[FileOutcome]
    # The collection's generation once the files were stored (None if it does not exist):
    # a query with this min_generation, on any replica, reads what the upload wrote.
    generation: int | None = None

    @property
    def all_failed(self) -> bool:
        """True when there were files and not one of them was stored."""
        return bool(self.outcomes) and all(o.status == "failed" for o in self.outcomes)


class Uploads:
    """Runs uploads as jobs; the routes and the CLI only translate."""

    def __init__(self, jobs: JobStore, ingestor: Ingestor, heartbeat_s: float = 15.0):
        """Jobs go to `jobs`, files to `ingestor`; the heartbeat beats every `heartbeat_s` s."""
        self.jobs = jobs
        self.ingestor = ingestor
        self.heartbeat_s = heartbeat_s

    def run(self, collection: str, files: list[IncomingFile]) -> UploadResult:
        """Ingest `files` into `collection` under a new upload job (finished whatever happens)."""
        job = self.jobs.create("upload", collection, source_id="upload")
        self.jobs.start(job.id)
        state = "failed"
        reason: str | None = "ingestion stopped before it finished"

        def progress(done: int) -> None:
            self.jobs.progress(job.id, done=done, total=len(files), counts={}, errors=[])

        try:
            with Heartbeat(self.jobs, job.id, self.heartbeat_s):
                outcomes = self.ingestor.ingest_many(collection, files, progress=progress)
            counts, failed = count_outcomes(outcomes), failures(outcomes)
            self.jobs.progress(job.id, done=len(outcomes), total=len(files), counts=counts, errors=failed)
            result = UploadResult(job.id, outcomes, self.ingestor.generation(collection))
            state, reason = ("failed", "every file failed") if result.all_failed else ("succeeded", None)
            log.info("upload %s into %r: %s", job.id, collection, describe_counts(counts, "no files"))
            for failure in failed:
                log.warning("upload %s: %s failed: %s", job.id, failure["file"], failure["reason"])
            return result
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("upload %s into %r failed: %s", job.id, collection, reason)
            raise
        finally:
            self.jobs.finish(job.id, state, reason)
