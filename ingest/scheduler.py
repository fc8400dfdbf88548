"""Background execution of sync jobs, and cron schedules that enqueue them."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta, timezone
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ingest.heartbeat import Heartbeat
from ingest.leader import Leadership
from ingest.sync import Syncer
from ingest.uploads import Uploads
from rag.clock import utc_now
from rag.errors import InvalidInput
from rag.store.jobs import FILE_JOBS, Job, JobStore
from rag.store.sources import Source, SourceStore

log = logging.getLogger(__name__)


def quiet_apscheduler() -> None:
    """APScheduler logs every firing at INFO ("Running job Scheduler.reload" every 5 s), which
    buries the server's useful lines; its warnings and errors still show. A level the operator
    set on those loggers is left alone."""
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def parse_cron(expression: str) -> CronTrigger:
    """A standard 5-field cron expression in UTC; InvalidInput if it is not one."""
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone.utc)
    except ValueError as exc:
        raise InvalidInput(f"invalid cron expression {expression!r}: {exc}") from exc


class Dispatcher(Protocol):
    """Where a queued job is announced: the in-process runner, or a queue of workers."""

    def submitted(self, job: Job) -> None:
        """A job was queued (committed); make sure someone runs it."""

    def begin(self, jobs: JobStore) -> None:
        """On the API's start: see to the jobs of `jobs` queued before it (run or send them)."""


class JobRunner:
    """Runs jobs (syncs, uploads, re-embeddings), beating their heartbeat: one worker thread
    that takes queued jobs in order (the embedded default), or `execute` called by a Celery
    worker (ingest.queue)."""

    def __init__(self, jobs: JobStore, syncer: Syncer, lease: timedelta, heartbeat_s: float | None = None,
                 uploads: Uploads | None = None):
        """A running job whose heartbeat is older than `lease` counts as dead; the heartbeat beats
        every `heartbeat_s` (default: a quarter of the lease, at least 0.2 s)."""
        self.jobs = jobs
        self.syncer = syncer
        self.uploads = uploads
        self.lease = lease
        self.heartbeat_s = heartbeat_s or max(lease.total_seconds() / 4, 0.2)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> list[tuple[Job, Job | None]]:
        """Requeue file jobs whose process died (resumed), fail dead syncs and queue their retries."""
        recovered = self.jobs.recover_stale(self.lease)
        for failed, retry in recovered:
            if retry is not None and retry.id == failed.id:
                log.warning("job %s was left running by a dead process; queued again (attempt %d)",
                            failed.id, failed.attempts)
            else:
                log.warning("job %s was left running by a dead process; failed%s", failed.id,
                            f", retried as {retry.id}" if retry else "")
        return recovered

    def submitted(self, job: Job) -> None:
        """A job was queued: wake the worker thread (the in-process Dispatcher)."""
        self.wake()

    def begin(self, jobs: JobStore) -> None:
        """The in-process Dispatcher's start: the worker thread takes the queued jobs (its own
        `jobs`, the same table)."""
        self.start()

    def start(self) -> None:
        """Recover stale jobs, then start the worker thread (a daemon)."""
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="groundwork-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tell the worker a job was queued, so it does not wait out its one-second poll."""
        self._wake.set()

    def stop(self, timeout: float = 30) -> None:
        """Stop after the job in hand (it is not interrupted); wait up to `timeout` s for the worker."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def run_pending(self) -> list[Job]:
        """Run queued jobs in this thread until none is left (CLI and tests)."""
        done = []
        while (job := self.jobs.claim_next()) is not None:
            done.append(self._run(job))
        return done

    def _loop(self) -> None:
        last_recover = utc_now()
        while not self._stop.is_set():
            job = self.jobs.claim_next()
            if job is not None:
                self._run(job)
                continue
            if utc_now() - last_recover > self.lease / 2:
                # Another process (a CLI sync) may have died while we kept running.
                self.recover()
                last_recover = utc_now()
            self._wake.wait(timeout=1.0)
            self._wake.clear()

    def execute(self, job_id: str) -> Job | None:
        """Claim this job and run it here (a queue worker); None if it is not queued any more:
        another worker has it, it ended, or it was cancelled (a duplicate delivery)."""
        job = self.jobs.claim(job_id)
        if job is None:
            return None
        log.info("claimed job %s (%s into %r, attempt %d): running it here", job.id, job.kind, job.collection,
                 job.attempts)
        return self._run(job)

    def _run(self, job: Job) -> Job:
        try:
            if job.kind in FILE_JOBS and self.uploads is not None:
                self.uploads.run(job)
                return self.jobs.get(job.id)
            if job.kind != "sync":
                return self.jobs.finish(job.id, "failed", f"job kind {job.kind!r} cannot be run")
            with Heartbeat(self.jobs, job.id, self.heartbeat_s):
                return self.syncer.run(job)
        except Exception as exc:  # the job fails with the reason; the runner lives on
            log.exception("job %s failed", job.id)
            return self.jobs.finish(job.id, "failed", f"{type(exc).__name__}: {exc}")


class Scheduler:
    """Cron schedules from the sources table; a firing enqueues a sync (coalesced). Only the
    replica holding `leadership` installs them (ingest.leader), so a tick is enqueued once."""

    def __init__(self, sources: SourceStore, jobs: JobStore, dispatch: Dispatcher,
                 leadership: Leadership | None = None, check_s: float = 5.0):
        """Schedules come from `sources`; a firing queues a job in `jobs` and tells `dispatch`.
        Leadership is checked (and the sources re-read) every `check_s` s; None: always lead."""
        self.sources = sources
        self.jobs = jobs
        self.dispatch = dispatch
        self.leadership = leadership
        self.check_s = check_s
        self.leading = False
        self._aps = BackgroundScheduler(timezone=timezone.utc)
        quiet_apscheduler()

    @property
    def role(self) -> str:
        """"leader" when this process runs the schedules, else "standby" (or "stopped")."""
        if not self._aps.running:
            return "stopped"
        return "leader" if self.leading else "standby"

    def enqueue(self, source_id: str) -> Job:
        """Queue a sync unless one is queued or running for this source (one at a time, decided
        in one transaction: a cron tick racing a manual sync gets the same job)."""
        source = self.sources.get(source_id)
        job, created = self.jobs.enqueue_sync(source.collection, source.id)
        if created:
            log.info("sync %s of source %s (%s) queued", job.id, source.id, source.path)
            self.dispatch.submitted(job)
        return job

    def start(self) -> None:
        """Take the lead if it is free (then install every source's schedule and queue one sync
        for runs missed while down), and check again every `check_s` s: a standby takes over
        when the leader's process dies; the leader re-reads the sources table."""
        self._aps.add_job(self.check, "interval", seconds=self.check_s, id="__reload__", coalesce=True,
                          max_instances=1)
        self.check()
        self._aps.start()

    def check(self) -> None:
        """Follow the lock: take it if free, give the schedules up if it was lost, reload if held."""
        if self.leadership is None:
            self.leading = True
        elif self.leading and not self.leadership.held():
            log.warning("this replica lost the scheduler lock; another replica runs the schedules now")
            self.leading = False
            for job in self._aps.get_jobs():
                if job.id != "__reload__":
                    job.remove()
            return
        elif not self.leading:
            if not self.leadership.acquire():
                return
            log.info("this replica runs the cron schedules (it holds the scheduler lock)")
            self.leading = True
            for source in self.sources.list():
                self.refresh(source)
                self._catch_up(source)
            return
        self.reload()

    def reload(self) -> None:
        """Make the installed schedules match the sources table."""
        current = {s.id: s for s in self.sources.list()}
        installed = {j.id: j for j in self._aps.get_jobs() if j.id != "__reload__"}
        for source_id in installed.keys() - current.keys():
            self.forget(source_id)
        for source in current.values():
            job = installed.get(source.id)
            if source.schedule and (job is None or getattr(job, "name", "") != source.schedule):
                self.refresh(source)
                if job is None:
                    self._catch_up(source)
            elif not source.schedule and job is not None:
                self.forget(source.id)

    def stop(self) -> None:
        """Shut the cron scheduler down without waiting for a firing in progress; let the lock go."""
        if self._aps.running:
            self._aps.shutdown(wait=False)
        if self.leadership is not None:
            self.leadership.release()
        self.leading = False

    def refresh(self, source: Source) -> None:
        """(Re)install or remove the schedule of a source after it was added or changed."""
        if self._aps.get_job(source.id):
            self._aps.remove_job(source.id)
        if source.schedule:
            self._aps.add_job(self._fire, parse_cron(source.schedule), args=[source.id], id=source.id,
                              name=source.schedule, coalesce=True, max_instances=1, misfire_grace_time=None)

    def forget(self, source_id: str) -> None:
        """Remove a source's schedule, if installed; its queued or running jobs are left alone."""
        if self._aps.get_job(source_id):
            self._aps.remove_job(source_id)

    def _fire(self, source_id: str) -> None:
        try:
            self.enqueue(source_id)
        except Exception:  # a removed source; its schedule goes with it
            log.exception("scheduled sync of %s not queued", source_id)

    def _catch_up(self, source: Source) -> None:
        # Runs missed while the service was down are coalesced into one sync now.
        if not source.schedule:
            return
        since = source.last_sync_at or source.created_at
        due = parse_cron(source.schedule).get_next_fire_time(None, since)
        if due is not None and due <= utc_now():
            self.enqueue(source.id)
