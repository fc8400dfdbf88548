"""One scheduler however many replicas: the leader lock on both stores, and Schedulers that
hand the cron schedules over when the leader goes."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ingest.leader import FileLeader, PostgresLeader, make_leadership
from ingest.scheduler import Scheduler
from rag.store.base import Store
from rag.store.jobs import Job, JobStore
from rag.store.postgres import PostgresStore
from rag.store.sources import SourceStore


class _Queued:
    """Records what a scheduler queued (the Dispatcher protocol)."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def submitted(self, job: Job) -> None:
        self.jobs.append(job)

    def begin(self, jobs) -> None:
        pass  # nothing queued before: the scheduler is what is tested


def test_one_holder_at_a_time_and_the_next_takes_over(store: Store, tmp_path: Path) -> None:
    a, b = make_leadership(store, tmp_path), make_leadership(store, tmp_path)
    assert a.acquire() and a.held()
    assert not b.acquire() and not b.held()
    assert a.acquire()  # holding it already
    a.release()
    assert not a.held() and b.acquire() and b.held()
    b.release()


def test_a_dead_leaders_lock_is_taken_by_a_standby(pg_url: str) -> None:
    a, b = PostgresLeader(pg_url), PostgresLeader(pg_url)
    assert a.acquire() and not b.acquire()
    # The leader's process dies: the server ends its session, and the lock with it.
    assert a._conn is not None
    pid = a._conn.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert not a.held()
    assert b.acquire()
    b.release()


def test_a_file_lock_is_released_when_its_file_is_closed(tmp_path: Path) -> None:
    a, b = FileLeader(tmp_path / "s.lock"), FileLeader(tmp_path / "s.lock")
    assert a.acquire() and not b.acquire()
    a.release()
    assert b.acquire()
    b.release()


def test_two_schedulers_install_the_schedules_once_and_hand_them_over(store: Store, tmp_path: Path) -> None:
    sources, jobs = SourceStore(store), JobStore(store)
    src = sources.add(kind="folder", path=str(tmp_path), collection="c", include=[], exclude=[],
                      schedule="*/5 * * * *", delete_missing=False)
    first_q, second_q = _Queued(), _Queued()
    first = Scheduler(sources, jobs, first_q, make_leadership(store, tmp_path), check_s=3600)
    second = Scheduler(sources, jobs, second_q, make_leadership(store, tmp_path), check_s=3600)
    try:
        first.start()
        second.start()
        assert (first.role, second.role) == ("leader", "standby")
        assert first._aps.get_job(src.id) is not None and second._aps.get_job(src.id) is None
        # A tick fires on the leader only, and queues one sync.
        first._fire(src.id)
        assert len(first_q.jobs) == 1 and second_q.jobs == []
        first.stop()  # the leader goes
        second.check()
        assert second.role == "leader" and second._aps.get_job(src.id) is not None
        second._fire(src.id)  # the sync queued by the old leader is still queued: coalesced
        assert second_q.jobs == [] and len(jobs.list(state="queued")) == 1
    finally:
        first.stop()
        second.stop()


def test_make_leadership_follows_the_store(store: Store, tmp_path: Path) -> None:
    leader = make_leadership(store, tmp_path)
    assert isinstance(leader, PostgresLeader if isinstance(store, PostgresStore) else FileLeader)
