"""Jobs on Celery workers (RAG_QUEUE_URL): the API queues a job id, `rag worker` runs it.

The database stays the truth: a job row (and, for uploads, its files and their originals)
is committed before its id is sent, and a message says only "run job X". A worker claims
the job in one transaction (queued -> running), so a message delivered twice runs the job
once. Messages are acknowledged late (when the job ends), so a worker killed mid-job leaves
its message unacknowledged and Redis gives it back after the visibility timeout; well
before that, the job's heartbeat stops and another worker's sweep queues the job again
(resumed at its first unfinished file: rag.store.jobs.recover_stale).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from celery import Celery

from ingest.scheduler import JobRunner
from rag.clock import utc_now
from rag.store.jobs import Job, JobStore

log = logging.getLogger(__name__)

TASK = "groundwork.run_job"
QUEUE = "groundwork"


def make_celery(url: str, visibility_timeout_s: float) -> Celery:
    """The Celery app on the broker at `url`: no result backend (job rows hold the results),
    late acknowledgement, one message reserved at a time per worker."""
    app = Celery("groundwork", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
    )
    return app


class CeleryDispatcher:
    """Sends queued jobs to the workers (the Dispatcher of ingest.scheduler)."""

    def __init__(self, app: Celery):
        """Jobs go out through `app`'s broker."""
        self.app = app

    def submitted(self, job: Job) -> None:
        """Send the job's id; a broker that cannot be reached is logged, not raised: the job is
        committed, and a worker's sweep (or this replica's next start) sends it again."""
        try:
            self.app.send_task(TASK, args=[job.id], queue=QUEUE)
        except Exception as exc:  # kombu's errors vary by transport
            log.warning("job %s is queued but could not be sent to the workers (%s); a worker's sweep "
                        "will send it", job.id, exc)

    def begin(self, jobs: JobStore) -> None:
        """Send every queued job again (on start: a message may have been lost with the process
        that committed the job). Duplicates are harmless: a job is claimed once."""
        for job in jobs.list(state="queued", limit=10_000):
            self.submitted(job)


class Sweeper:
    """In every worker: queues again the jobs whose worker died (heartbeat older than the
    lease) and re-sends queued jobs nobody took for a while (their message was lost)."""

    def __init__(self, runner: JobRunner, dispatcher: CeleryDispatcher, every_s: float, resend_after_s: float):
        """Sweeps every `every_s` s; a job queued longer than `resend_after_s` s is sent again
        (at most once per that span, so a long queue does not fill the broker with copies)."""
        self.runner, self.dispatcher = runner, dispatcher
        self.every_s, self.resend_after_s = every_s, resend_after_s
        self._sent: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> None:
        """One pass: recover dead jobs, re-send stale queued ones."""
        for _dead, again in self.runner.recover():
            if again is not None:
                self.dispatcher.submitted(again)
                self._sent[again.id] = time.monotonic()
        now = time.monotonic()
        queued = self.runner.jobs.list(state="queued", limit=10_000)
        self._sent = {k: v for k, v in self._sent.items() if k in {j.id for j in queued}}
        for job in queued:
            last = self._sent.get(job.id)
            waited = (utc_now() - job.created_at).total_seconds() if last is None else now - last
            if waited >= self.resend_after_s:
                self.dispatcher.submitted(job)
                self._sent[job.id] = now

    def start(self) -> None:
        """Sweep once now, then every `every_s` s in a daemon thread."""
        self.sweep()
        self._thread = threading.Thread(target=self._loop, name="groundwork-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except Exception:  # the store may be briefly away; the next sweep tries again
                log.exception("sweep failed")


def run_worker(app: Celery, runner: JobRunner, sweeper: Sweeper, concurrency: int) -> None:
    """Run a Celery worker in this process until it is stopped (SIGTERM: warm shutdown, the
    job in hand finishes; SIGKILL: the job is resumed elsewhere)."""

    @app.task(name=TASK, acks_late=True)
    def run_job(job_id: str) -> None:
        job = runner.execute(job_id)
        if job is None:
            log.info("job %s was not queued any more (taken, ended or cancelled); nothing to do", job_id)
        else:
            log.info("job %s %s", job.id, job.state)

    sweeper.start()
    try:
        worker = app.Worker(
            hostname=f"groundwork-{os.getpid()}@{socket.gethostname()}",
            pool="solo" if concurrency == 1 else "threads", concurrency=concurrency,
            queues=[QUEUE], loglevel="INFO", without_gossip=True, without_mingle=True,
            without_heartbeat=True, optimization="fair",
        )
        worker.start()
    finally:
        sweeper.stop()
