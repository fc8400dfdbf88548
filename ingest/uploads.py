"""The upload use case: files stored, a job queued, then ingested by whoever runs the job.

`submit` stores each file's original bytes (by content hash) and then, in one transaction,
a queued job with one row per file: once it returns, the upload survives any crash. `run`
ingests a claimed job's files from those originals (in the request for `?wait=true` and
the CLI, else in the job runner or a Celery worker), records each file's stage as it goes,
beats the job's heartbeat from its own thread (one large file may take longer than the
lease) and finishes the job in `finally`: if ingestion raises, the job ends "failed" with
the reason instead of staying "running" for ever. A job whose worker died is queued again
(rag.store.jobs.recover_stale) and `run` resumes it at its first unfinished file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.heartbeat import Heartbeat
from ingest.pipeline import FileOutcome, IncomingFile, Ingestor
from rag import faults
from rag.store.jobs import COUNT_KEYS, FileSpec, Job, JobFile, JobStore, describe_counts

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


def outcome_of(file: JobFile) -> FileOutcome:
    """The outcome recorded for a finished file of a job."""
    return FileOutcome(file.name, file.status or file.stage, file.document_id, file.version, file.chunks,
                       file.reason, file.note)


class JobCancelled(Exception):
    """Raised between files when the job's cancellation was requested (or it was declared dead)."""


@dataclass(frozen=True)
class UploadResult:
    """The job that recorded the upload, and each file's outcome in upload order."""

    job_id: str
    outcomes: list[FileOutcome]
    # The collection's generation once the files were stored (None if it does not exist):
    # a query with this min_generation, on any replica, reads what the upload wrote.
    generation: int | None = None
    state: str = "succeeded"

    @property
    def all_failed(self) -> bool:
        """True when there were files and not one of them was stored."""
        return bool(self.outcomes) and all(o.status == "failed" for o in self.outcomes)


class _JobEvents:
    """Records the pipeline's events on the job's file rows (rag.store.jobs.JobStore)."""

    def __init__(self, jobs: JobStore, job: Job, positions: list[int], earlier: list[FileOutcome]):
        # positions[i]: the job file of the i-th file handed to the pipeline; `earlier`: the
        # outcomes of files an earlier attempt finished.
        self.jobs, self.job, self.positions, self.earlier = jobs, job, positions, earlier
        self.outcomes: list[FileOutcome] = []

    def parsing(self, index: int) -> None:
        self.jobs.set_stage(self.job.id, [self.positions[index]], "parsing")

    def embedding(self, indices: list[int]) -> None:
        self.jobs.set_stage(self.job.id, [self.positions[i] for i in indices], "embedding")

    def resolved(self, outcomes: list[tuple[int, FileOutcome]]) -> None:
        self.record([(self.positions[i], o) for i, o in outcomes])

    def record(self, by_position: list[tuple[int, FileOutcome]]) -> None:
        """Record finished files and the job's counts; JobCancelled if the job should stop."""
        if not by_position:
            return
        self.jobs.record_files(self.job.id, by_position)
        self.outcomes.extend(o for _, o in by_position)
        done = self.earlier + self.outcomes
        if self.jobs.progress(self.job.id, done=len(done), total=self.job.total,
                              counts=count_outcomes(done), errors=failures(done)):
            raise JobCancelled(self.job.id)


class Uploads:
    """Queues uploads as jobs and runs them; the routes, the CLI and the workers only translate."""

    def __init__(self, jobs: JobStore, ingestor: Ingestor, heartbeat_s: float = 15.0, batch_chunks: int = 512):
        """Jobs go to `jobs`, files to `ingestor`; the heartbeat beats every `heartbeat_s` s;
        chunks are embedded and committed `batch_chunks` at a time (a cancel takes effect
        between two such commits)."""
        self.jobs = jobs
        self.ingestor = ingestor
        self.heartbeat_s = heartbeat_s
        self.batch_chunks = batch_chunks

    def submit(self, collection: str, files: list[IncomingFile], kind: str = "upload",
               running: bool = False) -> Job:
        """Store the originals, then queue the job with its files (acknowledged from here on);
        `running`: stored as taken by the caller, who runs it at once (see run_now)."""
        specs = [FileSpec(f.name, self.ingestor.keep_original(f.data), len(f.data), f.metadata, f.source)
                 for f in files]
        return self.jobs.create_files(kind, collection, specs, running=running)

    def reembed(self, collection: str) -> Job:
        """Queue a job that ingests every document of the collection again from its stored
        original under the current settings: documents whose chunks and vectors already match
        them stay `unchanged`, the others are parsed, chunked and embedded again (after a change
        of embedding model or chunk size). NotFound if the collection does not exist."""
        documents = self.ingestor.store.list_documents(collection)
        if not documents:
            self.ingestor.store.collection_id(collection)  # NotFound for a collection that does not exist
        specs = [FileSpec(d.name, d.content_hash, d.size, None, d.source) for d in documents]
        return self.jobs.create_files("reembed", collection, specs)

    def run_now(self, collection: str, files: list[IncomingFile]) -> UploadResult:
        """Submit and run at once in this thread (`?wait=true`, the CLI). The job is stored
        running, so no runner or worker takes it from under the request."""
        return self.run(self.submit(collection, files, running=True))

    def result(self, job: Job) -> UploadResult:
        """The outcome of a job as recorded (for a job that ran elsewhere)."""
        return UploadResult(job.id, [outcome_of(f) for f in self.jobs.files(job.id)],
                            self.ingestor.generation(job.collection), job.state)

    def run(self, job: Job) -> UploadResult:
        """Ingest a claimed (running) file job from its stored originals, resuming after the
        files an earlier attempt finished; the job ends succeeded, failed or cancelled."""
        state: str = "failed"
        reason: str | None = "ingestion stopped before it finished"
        files = self.jobs.files(job.id)
        todo = [f for f in files if not f.done]
        try:
            faults.hit("upload_job_started")  # crash tests: the job is claimed, nothing ingested
            with Heartbeat(self.jobs, job.id, self.heartbeat_s):
                readable, incoming, missing = self._read(todo)
                events = _JobEvents(self.jobs, job, [f.position for f in readable],
                                    [outcome_of(f) for f in files if f.done])
                events.record(missing)
                if incoming:
                    self.ingestor.ingest_many(job.collection, incoming, events=events,
                                              batch_chunks=self.batch_chunks)
            result = self.result(self.jobs.get(job.id))
            counts = count_outcomes(result.outcomes)
            state, reason = ("failed", "every file failed") if result.all_failed else ("succeeded", None)
            log.info("%s %s into %r: %s", job.kind, job.id, job.collection, describe_counts(counts, "no files"))
            for failure in failures(result.outcomes):
                log.warning("%s %s: %s failed: %s", job.kind, job.id, failure["file"], failure["reason"])
            return UploadResult(job.id, result.outcomes, result.generation, state)
        except JobCancelled:
            self.jobs.cancel_files(job.id)
            state, reason = "cancelled", "cancelled while running; files done before it stay"
            self.jobs.finish(job.id, state, reason)
            return self.result(self.jobs.get(job.id))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("%s %s into %r failed: %s", job.kind, job.id, job.collection, reason)
            raise
        finally:
            self.jobs.finish(job.id, state, reason)

    def _read(self, todo: list[JobFile]) -> tuple[list[JobFile], list[IncomingFile], list[tuple[int, FileOutcome]]]:
        # The originals were stored before the job was queued; one gone missing (removed by
        # hand) fails that file alone.
        readable: list[JobFile] = []
        incoming: list[IncomingFile] = []
        missing: list[tuple[int, FileOutcome]] = []
        for f in todo:
            try:
                data = self.ingestor.original_path(f.content_hash).read_bytes()
            except FileNotFoundError:
                missing.append((f.position, FileOutcome(f.name, "failed", reason=(
                    f"the stored original of {f.name!r} is missing from {self.ingestor.files_dir}; "
                    "upload it again"))))
                continue
            readable.append(f)
            incoming.append(IncomingFile(f.name, data, f.source, f.metadata))
        return readable, incoming, missing
