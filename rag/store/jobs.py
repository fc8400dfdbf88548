"""Durable job rows: every sync or upload batch, its state, counts, errors, progress, heartbeat."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from rag.errors import InvalidInput, NotFound
from rag.store.sqlite import SQLiteStore

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
COUNT_KEYS = ("added", "updated", "unchanged", "deleted", "failed")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value else None


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


class JobStore:
    """Job rows in the Groundwork database."""

    def __init__(self, store: SQLiteStore):
        self.store = store

    def create(self, kind: str, collection: str, source_id: str | None = None,
               retry_of: str | None = None) -> Job:
        job_id = "job_" + uuid.uuid4().hex[:16]
        with self.store.write() as conn:
            conn.execute(
                """INSERT INTO jobs(id, kind, source_id, collection, state, counts, created_at, retry_of)
                   VALUES (?,?,?,?, 'queued', ?, ?, ?)""",
                (job_id, kind, source_id, collection, json.dumps(dict.fromkeys(COUNT_KEYS, 0)),
                 _iso(_now()), retry_of),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        row = self.store.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist")
        return _job(row)

    def list(self, state: str | None = None, source_id: str | None = None, limit: int = 100) -> list[Job]:
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if state:
            sql += " AND state = ?"
            args.append(state)
        if source_id:
            sql += " AND source_id = ?"
            args.append(source_id)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        return [_job(r) for r in self.store.connection().execute(sql, args)]

    def active_for_source(self, source_id: str) -> Job | None:
        row = self.store.connection().execute(
            "SELECT * FROM jobs WHERE source_id = ? AND state IN ('queued', 'running') ORDER BY created_at LIMIT 1",
            (source_id,),
        ).fetchone()
        return _job(row) if row else None

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to running (atomically) and return it."""
        with self.store.write() as conn:
            row = conn.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1").fetchone()
            if row is None:
                return None
            now = _iso(_now())
            conn.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, heartbeat_at = ? WHERE id = ?",
                (now, now, row[0]),
            )
        return self.get(row[0])

    def start(self, job_id: str) -> None:
        now = _iso(_now())
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET state = 'running', started_at = ?, heartbeat_at = ? WHERE id = ?",
                         (now, now, job_id))

    def progress(self, job_id: str, *, done: int, total: int | None, counts: dict[str, int],
                 errors: list[dict[str, str]]) -> bool:
        """Record progress and beat the heart; returns True if cancellation was requested."""
        with self.store.write() as conn:
            conn.execute(
                "UPDATE jobs SET done = ?, total = ?, counts = ?, errors = ?, heartbeat_at = ? WHERE id = ?",
                (done, total, json.dumps(counts), json.dumps(errors), _iso(_now()), job_id),
            )
            row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def heartbeat(self, job_id: str) -> None:
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND state = 'running'",
                         (_iso(_now()), job_id))

    def finish(self, job_id: str, state: str, reason: str | None = None) -> Job:
        if state not in FINAL:
            raise ValueError(f"not a final state: {state}")
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET state = ?, reason = ?, finished_at = ? WHERE id = ?",
                         (state, reason, _iso(_now()), job_id))
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> Job:
        """Queued jobs are cancelled at once; running ones stop after their current file."""
        job = self.get(job_id)
        if job.state in FINAL:
            raise InvalidInput(f"job {job_id} is already {job.state}")
        with self.store.write() as conn:
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, reason = 'cancelled before it started' "
                "WHERE id = ? AND state = 'queued'", (_iso(_now()), job_id))
        return self.get(job_id)

    def recover_stale(self, lease: timedelta) -> list[tuple[Job, Job | None]]:
        """Jobs left running by a dead process: mark failed, re-queue a retry (sync jobs)."""
        cutoff = _now() - lease
        stale = [
            j for j in self.list(state="running", limit=10_000)
            if j.heartbeat_at is None or j.heartbeat_at < cutoff
        ]
        out = []
        for job in stale:
            self.finish(job.id, "failed", "the process running this job died (heartbeat expired); re-queued")
            retry = None
            if job.kind == "sync" and job.source_id:
                retry = self.create("sync", job.collection, job.source_id, retry_of=job.id)
            out.append((self.get(job.id), retry))
        return out


def _job(row) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], source_id=row["source_id"], collection=row["collection"],
        state=row["state"], counts=json.loads(row["counts"]), errors=json.loads(row["errors"]),
        done=row["done"], total=row["total"], reason=row["reason"], retry_of=row["retry_of"],
        cancel_requested=bool(row["cancel_requested"]), created_at=_dt(row["created_at"]),
        started_at=_dt(row["started_at"]), finished_at=_dt(row["finished_at"]),
        heartbeat_at=_dt(row["heartbeat_at"]),
    )
