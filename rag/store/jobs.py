"""Durable job rows: every sync or upload batch, its state, counts, errors, progress, heartbeat."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from rag.clock import utc_iso, utc_now
from rag.errors import InvalidInput, NotFound
from rag.store.base import Store
from rag.store.migrations import Migration
from rag.store.paging import Page, PageRequest, Sorts

# The tables of this module, by migration number (rag.store.migrations applies them).
MIGRATIONS = (
    Migration(1, "jobs", (
        """CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,              -- sync | upload
            source_id TEXT,
            collection TEXT NOT NULL,
            state TEXT NOT NULL,             -- queued | running | succeeded | failed | cancelled
            counts TEXT NOT NULL DEFAULT '{}',
            errors TEXT NOT NULL DEFAULT '[]',
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER,
            reason TEXT,
            retry_of TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            heartbeat_at TEXT
        )""",
        """CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state)""",
    )),
    # One queued-or-running sync per source, enforced by the database: a cron tick racing
    # `POST /sources/{id}/sync` (or another process) cannot queue a second one. Duplicates
    # an older release may have left are cancelled first, keeping the oldest.
    Migration(3, "jobs: one active sync per source", (
        """UPDATE jobs SET state = 'cancelled', reason = 'duplicate of an earlier queued sync'
           WHERE kind = 'sync' AND state = 'queued' AND EXISTS (
               SELECT 1 FROM jobs AS older WHERE older.kind = 'sync' AND older.source_id = jobs.source_id
               AND older.state IN ('queued', 'running') AND older.id != jobs.id
               AND (older.state = 'running' OR older.created_at < jobs.created_at
                    OR (older.created_at = jobs.created_at AND older.id < jobs.id)))""",
        """CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active_sync ON jobs(source_id)
           WHERE kind = 'sync' AND state IN ('queued', 'running')""",
    )),
    # Uploads answered 202 before they are ingested: each file of the job, with the content
    # hash of its original (stored before the job row), its metadata and its stage, so a
    # worker that dies mid-job leaves a job another worker resumes where it stopped.
    Migration(7, "jobs: files of upload jobs, attempts", (
        """CREATE TABLE IF NOT EXISTS job_files (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'upload',
            metadata TEXT,                   -- JSON, or NULL: keep the document's own
            stage TEXT NOT NULL DEFAULT 'queued',
            status TEXT,                     -- added | updated | unchanged | failed (once done)
            document_id TEXT,
            version INTEGER,
            chunks INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            note TEXT,
            PRIMARY KEY (job_id, position)
        )""",
        """CREATE INDEX IF NOT EXISTS job_files_by_hash ON job_files(content_hash)""",
        """ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1""",
    )),
)

JOB_SORTS = Sorts({"created_at": "created_at", "state": "state"}, tie="id")

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[str, ...] = get_args(State)
FINAL = ("succeeded", "failed", "cancelled")
# A job's state only moves forward: queued -> running -> one of FINAL (or queued -> cancelled).
# Every UPDATE of `state` below says which states it may leave, so a late writer (a worker
# whose job was declared dead, a second finish) changes nothing.
COUNT_KEYS = ("added", "updated", "unchanged", "deleted", "failed")
# Jobs that ingest a list of files held in job_files (uploads; re-embeddings of a collection).
FILE_JOBS = ("upload", "reembed")
# A file's stage: queued -> parsing -> embedding -> indexed | unchanged | failed (or cancelled).
FILE_STAGES = ("queued", "parsing", "embedding", "indexed", "unchanged", "failed", "cancelled")
FILE_DONE = ("indexed", "unchanged", "failed", "cancelled")
# A file job whose worker died is resumed this many times in all before it fails.
MAX_ATTEMPTS = 3


def describe_counts(counts: Mapping[str, int], empty: str = "") -> str:
    """The non-zero counts in the mapping's order ("2 added, 1 failed"), or `empty`."""
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or empty


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Job:
    """A unit of ingestion work and everything known about how it went."""

    id: str
    kind: str
    source_id: str | None
    collection: str
    state: str
    counts: dict[str, int]
    errors: list[dict[str, str]]
    done: int
    total: int | None
    reason: str | None
    retry_of: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    attempts: int = 1

    @property
    def progress(self) -> dict[str, int | None]:
        """Files done of `total` (None until the total is known)."""
        return {"done": self.done, "total": self.total}

    @property
    def rate(self) -> float | None:
        """Files per second since the job started (None before it started or did anything)."""
        if self.started_at is None or not self.done:
            return None
        seconds = ((self.finished_at or utc_now()) - self.started_at).total_seconds()
        return round(self.done / seconds, 3) if seconds > 0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate while running (None when unknown or finished)."""
        if self.state != "running" or self.total is None or not self.rate:
            return None
        return round(max(self.total - self.done, 0) / self.rate, 1)


@dataclass(frozen=True)
class JobFile:
    """One file of an upload job: where its original is, and how far it got."""

    position: int
    name: str
    content_hash: str
    size: int
    source: str
    metadata: dict[str, Any] | None
    stage: str
    status: str | None = None
    document_id: str | None = None
    version: int | None = None
    chunks: int = 0
    reason: str | None = None
    note: str | None = None

    @property
    def done(self) -> bool:
        """True once the file reached a final stage."""
        return self.stage in FILE_DONE


@dataclass(frozen=True)
class FileSpec:
    """A file to put in a new upload job: its original is already stored under `content_hash`."""

    name: str
    content_hash: str
    size: int
    metadata: dict[str, Any] | None = None
    source: str = "upload"


# Module-level names: inside JobStore, `list` is the method of that name.
_Args = list[object]
_Errors = list[dict[str, str]]
_Recovered = list[tuple[Job, "Job | None"]]


class JobStore:
    """Job rows in the Groundwork database."""

    def __init__(self, store: Store):
        """Jobs in the `jobs` table of `store`."""
        self.store = store

    def create(self, kind: str, collection: str, source_id: str | None = None,
               retry_of: str | None = None) -> Job:
        """Insert a queued job with zeroed counts and return it."""
        with self.store.write() as conn:
            job_id = self._insert(conn, kind, collection, source_id, retry_of)
        return self.get(job_id)

    def enqueue_sync(self, collection: str, source_id: str, retry_of: str | None = None) -> tuple[Job, bool]:
        """The source's queued or running sync, or a new queued one: (job, created).

        Check and insert are one write transaction (BEGIN IMMEDIATE excludes other writers,
        in this process and others), and the unique index of migration 3 backs it up.
        """
        with self.store.write() as conn:
            row = conn.execute(
                "SELECT id FROM jobs WHERE kind = 'sync' AND source_id = ? AND state IN ('queued', 'running') "
                "ORDER BY created_at LIMIT 1", (source_id,)).fetchone()
            job_id = row[0] if row else self._insert(conn, "sync", collection, source_id, retry_of)
        return self.get(job_id), row is None

    @staticmethod
    def _insert(conn, kind: str, collection: str, source_id: str | None, retry_of: str | None) -> str:
        job_id = "job_" + uuid.uuid4().hex[:16]
        conn.execute(
            """INSERT INTO jobs(id, kind, source_id, collection, state, counts, created_at, retry_of)
               VALUES (?,?,?,?, 'queued', ?, ?, ?)""",
            (job_id, kind, source_id, collection, json.dumps(dict.fromkeys(COUNT_KEYS, 0)), utc_iso(), retry_of),
        )
        return job_id

    def create_files(self, kind: str, collection: str, files: list[FileSpec], running: bool = False) -> Job:
        """A queued file job (upload or reembed) and its files, in one transaction: once this
        returns, the job survives any crash and a runner or worker will take it.

        `running=True`: the caller runs it itself at once (an upload with ?wait=true), so it is
        stored already running, with a heartbeat: no runner of any replica can take it in the
        instant between storing and running it (had one done so, the request would have
        answered "queued"). Should the caller die, the lease recovery queues it again."""
        with self.store.write() as conn:
            job_id = self._insert(conn, kind, collection, kind, None)
            conn.execute("UPDATE jobs SET total = ? WHERE id = ?", (len(files), job_id))
            if running:
                now = utc_iso()
                conn.execute("UPDATE jobs SET state = 'running', started_at = ?, heartbeat_at = ? WHERE id = ?",
                             (now, now, job_id))
            for position, f in enumerate(files):
                conn.execute(
                    "INSERT INTO job_files(job_id, position, name, content_hash, size, source, metadata) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (job_id, position, f.name, f.content_hash, f.size, f.source,
                     None if f.metadata is None else json.dumps(f.metadata)))
        return self.get(job_id)

    def files(self, job_id: str) -> list[JobFile]:
        """The files of a file job in upload order (empty for a sync job)."""
        rows = self.store.connection().execute(
            "SELECT * FROM job_files WHERE job_id = ? ORDER BY position", (job_id,)).fetchall()
        return [_job_file(r) for r in rows]

    def set_stage(self, job_id: str, positions: list[int], stage: str) -> None:
        """Move files that are not done yet to `stage` (parsing, embedding)."""
        if not positions:
            return
        marks = ",".join("?" * len(positions))
        with self.store.write() as conn:
            conn.execute(f"UPDATE job_files SET stage = ? WHERE job_id = ? AND position IN ({marks}) "
                         "AND stage NOT IN ('indexed', 'unchanged', 'failed', 'cancelled')",
                         (stage, job_id, *positions))

    def record_files(self, job_id: str, outcomes: list[tuple[int, Any]]) -> None:
        """Record what became of files (ingest.pipeline.FileOutcome by position) and beat the heart."""
        with self.store.write() as conn:
            for position, o in outcomes:
                stage = {"added": "indexed", "updated": "indexed"}.get(o.status, o.status)
                conn.execute(
                    "UPDATE job_files SET stage = ?, status = ?, document_id = ?, version = ?, chunks = ?, "
                    "reason = ?, note = ? WHERE job_id = ? AND position = ?",
                    (stage, o.status, o.document_id, o.version, o.chunks, o.reason, o.note, job_id, position))
            conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND state = 'running'", (utc_iso(), job_id))

    def cancel_files(self, job_id: str) -> None:
        """Files of a job that are not done yet end as cancelled (the job was cancelled)."""
        with self.store.write() as conn:
            conn.execute("UPDATE job_files SET stage = 'cancelled', reason = 'the job was cancelled' "
                         "WHERE job_id = ? AND stage NOT IN ('indexed', 'unchanged', 'failed', 'cancelled')",
                         (job_id,))

    def claim(self, job_id: str) -> Job | None:
        """Move this queued job to running and return it; None if it is not queued (another
        worker has it, it finished, or it was cancelled). Duplicate deliveries end here."""
        return self.get(job_id) if self.start(job_id) else None

    def get(self, job_id: str) -> Job:
        """The job with this id; NotFound if there is none."""
        row = self.store.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist", "job")
        return _job(row)

    def list(self, state: str | None = None, source_id: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs newest first, optionally only of one state and/or source; InvalidInput for an unknown state."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        sql = "SELECT * FROM jobs WHERE 1=1"
        args: _Args = []
        if state:
            sql += " AND state = ?"
            args.append(state)
        if source_id:
            sql += " AND source_id = ?"
            args.append(source_id)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        return [_job(r) for r in self.store.connection().execute(sql, args)]

    def page(self, request: PageRequest, state: str | None = None, source_id: str | None = None,
             collection: str | None = None) -> Page[Job]:
        """A page of jobs sorted by created_at or state, filtered by state, source or collection;
        InvalidInput for an unknown state."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        where, args = "", []  # type: tuple[str, _Args]
        for column, value in (("state", state), ("source_id", source_id), ("collection", collection)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        after, order, page_args = JOB_SORTS.clause(request)
        rows = self.store.connection().execute(
            "SELECT * FROM jobs WHERE 1 = 1" + where + after + order, [*args, *page_args]).fetchall()
        return Sorts.page(rows, request, lambda r: (r[request.sort], r["id"]), _job)

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to running (atomically) and return it."""
        with self.store.write() as conn:
            row = conn.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1").fetchone()
            if row is None:
                return None
            now = utc_iso()
            conn.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, heartbeat_at = ? WHERE id = ?",
                (now, now, row[0]),
            )
        return self.get(row[0])

    def start(self, job_id: str) -> bool:
        """Mark a queued job running now, without claiming it (uploads run in the request, not
        the runner). False if it was not queued any more (cancelled meanwhile)."""
        now = utc_iso()
        with self.store.write() as conn:
            cur = conn.execute("UPDATE jobs SET state = 'running', started_at = ?, heartbeat_at = ? "
                               "WHERE id = ? AND state = 'queued'", (now, now, job_id))
        return cur.rowcount == 1

    def progress(self, job_id: str, *, done: int, total: int | None, counts: dict[str, int],
                 errors: _Errors) -> bool:
        """Record progress and beat the heart; returns True if the job should stop: cancellation
        was requested, or it is not running any more (declared dead, or already ended)."""
        with self.store.write() as conn:
            conn.execute(
                "UPDATE jobs SET done = ?, total = ?, counts = ?, errors = ?, heartbeat_at = ? "
                "WHERE id = ? AND state = 'running'",
                (done, total, json.dumps(counts), json.dumps(errors), utc_iso(), job_id),
            )
            row = conn.execute("SELECT cancel_requested, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is None or bool(row[0]) or row[1] != "running"

    def heartbeat(self, job_id: str) -> None:
        """Refresh a job's heartbeat; does nothing unless the job is running."""
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND state = 'running'",
                         (utc_iso(), job_id))

    def finish(self, job_id: str, state: str, reason: str | None = None) -> Job:
        """Put a queued or running job in a final state (succeeded, failed or cancelled) with an
        optional reason, and return it. A job already in a final state keeps it (a job declared
        dead is not flipped back by its late worker). ValueError for a state that is not final."""
        if state not in FINAL:
            raise ValueError(f"not a final state: {state}")
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET state = ?, reason = ?, finished_at = ? "
                         "WHERE id = ? AND state IN ('queued', 'running')",
                         (state, reason, utc_iso(), job_id))
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> Job:
        """Queued jobs are cancelled at once; running ones stop after their current file."""
        job = self.get(job_id)
        if job.state in FINAL:
            raise InvalidInput(f"job {job_id} is already {job.state}")
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            cur = conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, reason = 'cancelled before it started' "
                "WHERE id = ? AND state = 'queued'", (utc_iso(), job_id))
            if cur.rowcount == 1:
                conn.execute("UPDATE job_files SET stage = 'cancelled', reason = 'the job was cancelled' "
                             "WHERE job_id = ? AND stage NOT IN ('indexed', 'unchanged', 'failed', 'cancelled')",
                             (job_id,))
        return self.get(job_id)

    def recover_stale(self, lease: timedelta) -> _Recovered:
        """Jobs left running by a dead process: a file job goes back to the queue (the same job,
        resumed at its first unfinished file; failed after MAX_ATTEMPTS); a sync job is marked
        failed and a retry is queued."""
        cutoff = utc_iso(utc_now() - lease)
        out: _Recovered = []
        for job in self.list(state="running", limit=10_000):
            if job.kind in FILE_JOBS and job.attempts < MAX_ATTEMPTS:
                with self.store.write() as conn:
                    cur = conn.execute(
                        "UPDATE jobs SET state = 'queued', attempts = attempts + 1, heartbeat_at = NULL, "
                        "reason = 'resumed: the process running it died (heartbeat expired)' "
                        "WHERE id = ? AND state = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?)",
                        (job.id, cutoff))
                    if cur.rowcount == 1:
                        conn.execute("UPDATE job_files SET stage = 'queued' WHERE job_id = ? "
                                     "AND stage IN ('parsing', 'embedding')", (job.id,))
                if cur.rowcount == 1:
                    resumed = self.get(job.id)
                    out.append((resumed, resumed))
                continue
            # Declared dead only if the heartbeat is still old at the moment of the write.
            with self.store.write() as conn:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = ?, reason = ? WHERE id = ? AND state = 'running' "
                    "AND (heartbeat_at IS NULL OR heartbeat_at < ?)",
                    (utc_iso(), "the process running this job died (heartbeat expired)"
                     + ("; re-queued" if job.kind == "sync" else ""), job.id, cutoff))
            if cur.rowcount != 1:
                continue
            retry = None
            if job.kind == "sync" and job.source_id:
                retry, _ = self.enqueue_sync(job.collection, job.source_id, retry_of=job.id)
            out.append((self.get(job.id), retry))
        return out


def _job(row) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], source_id=row["source_id"], collection=row["collection"],
        state=row["state"], counts=json.loads(row["counts"]), errors=json.loads(row["errors"]),
        done=row["done"], total=row["total"], reason=row["reason"], retry_of=row["retry_of"],
        cancel_requested=bool(row["cancel_requested"]), created_at=datetime.fromisoformat(row["created_at"]),
        started_at=_dt(row["started_at"]), finished_at=_dt(row["finished_at"]),
        heartbeat_at=_dt(row["heartbeat_at"]), attempts=row["attempts"],
    )


def _job_file(row) -> JobFile:
    return JobFile(
        position=row["position"], name=row["name"], content_hash=row["content_hash"], size=row["size"],
        source=row["source"], metadata=None if row["metadata"] is None else json.loads(row["metadata"]),
        stage=row["stage"], status=row["status"], document_id=row["document_id"], version=row["version"],
        chunks=row["chunks"], reason=row["reason"], note=row["note"],
    )
