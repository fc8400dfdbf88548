"""A job's state only moves forward, every path ends it, and a source has one active sync
(contract tests: each runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from ingest.pipeline import IncomingFile
from ingest.scheduler import JobRunner, Scheduler
from ingest.uploads import Uploads
from rag.store.base import Store
from rag.store.jobs import JobStore
from rag.store.sources import SourceStore
from rag.testing import SlowIngestor
from tests.conftest import same_database


def _unique_violations() -> tuple[type[BaseException], ...]:
    import psycopg

    return (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)


_UNIQUE_VIOLATION = _unique_violations()


def test_a_finished_job_is_never_flipped_back(store: Store) -> None:
    jobs = JobStore(store)
    job = jobs.create("upload", "c", source_id="upload")
    assert jobs.start(job.id)
    assert jobs.finish(job.id, "failed", "declared dead").state == "failed"
    # The late worker finishes, reports progress, tries to start again: nothing moves.
    assert jobs.finish(job.id, "succeeded").state == "failed"
    assert jobs.progress(job.id, done=3, total=3, counts={}, errors=[]) is True  # "stop"
    assert not jobs.start(job.id)
    after = jobs.get(job.id)
    assert after.state == "failed" and after.reason == "declared dead" and after.done == 0


def test_a_cancelled_queued_job_cannot_start(store: Store) -> None:
    jobs = JobStore(store)
    job = jobs.create("upload", "c", source_id="upload")
    jobs.request_cancel(job.id)
    assert not jobs.start(job.id) and jobs.get(job.id).state == "cancelled"


def test_an_upload_parsing_longer_than_the_lease_is_not_declared_dead(store: Store) -> None:
    jobs = JobStore(store)
    lease = timedelta(seconds=0.6)
    uploads = Uploads(jobs, SlowIngestor(2.0), heartbeat_s=0.1)
    done = threading.Thread(target=uploads.run_now, args=("c", [IncomingFile("big.pdf", b"%PDF", source="upload")]))
    done.start()
    recovered = []
    deadline = time.monotonic() + 1.8
    while time.monotonic() < deadline:  # another process's recovery, running meanwhile
        recovered += jobs.recover_stale(lease)
        time.sleep(0.1)
    done.join()
    [job] = jobs.list()
    assert recovered == [] and job.state == "succeeded", (recovered, job)


def test_a_stale_job_is_failed_once_and_its_sync_retried_once(store: Store, tmp_path) -> None:
    jobs, sources = JobStore(store), SourceStore(store)
    src = sources.add(kind="folder", path=str(tmp_path), collection="c", include=["**/*"], exclude=[],
                      schedule=None, delete_missing=False)
    job, created = jobs.enqueue_sync("c", src.id)
    assert created and jobs.claim_next().id == job.id
    store.connection().execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00.000000+00:00'")
    [(failed, retry)] = jobs.recover_stale(timedelta(seconds=60))
    assert failed.state == "failed" and retry is not None and retry.retry_of == job.id
    assert jobs.recover_stale(timedelta(seconds=60)) == []


def test_racing_sync_requests_give_one_job(store: Store, tmp_path) -> None:
    sources = SourceStore(store)
    src = sources.add(kind="folder", path=str(tmp_path), collection="c", include=["**/*"], exclude=[],
                      schedule=None, delete_missing=False)
    # Two connections, as the API process and a cron tick in another process would have.
    other = same_database(store)
    schedulers = [Scheduler(SourceStore(s), JobStore(s), JobRunner(JobStore(s), None, timedelta(seconds=60)))  # type: ignore[arg-type]
                  for s in (store, other)]
    barrier = threading.Barrier(8)
    got: list[str] = []

    def fire(i: int) -> None:
        barrier.wait()
        got.append(schedulers[i % 2].enqueue(src.id).id)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1, got
    assert len(JobStore(store).list()) == 1


def test_the_database_refuses_a_second_active_sync(store: Store) -> None:
    jobs = JobStore(store)
    jobs.enqueue_sync("c", "src_1")
    with pytest.raises(_UNIQUE_VIOLATION):
        jobs.create("sync", "c", "src_1")


def test_the_log_is_quiet_at_rest_and_names_the_job_on_events(store: Store, tmp_path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    sources, jobs = SourceStore(store), JobStore(store)
    src = sources.add(kind="folder", path=str(tmp_path), collection="c", include=["**/*"], exclude=[],
                      schedule="0 3 * * *", delete_missing=False)
    scheduler = Scheduler(sources, jobs, JobRunner(jobs, None, timedelta(seconds=60)))  # type: ignore[arg-type]
    with caplog.at_level("INFO"):
        scheduler.start()
        try:
            time.sleep(5.6)  # past one reload of the sources table (every 5 s)
            job = scheduler.enqueue(src.id)
        finally:
            scheduler.stop()
    assert [r for r in caplog.records if r.name.startswith("apscheduler") and r.levelname == "INFO"] == []
    assert any(job.id in r.getMessage() and src.id in r.getMessage() for r in caplog.records)
