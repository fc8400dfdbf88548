"""The upload use case: a job around every upload, finished whatever happens."""

from __future__ import annotations

import pytest

from ingest.pipeline import FileOutcome, IncomingFile
from ingest.uploads import Uploads, count_outcomes, failures
from rag.store.base import Store
from rag.store.jobs import COUNT_KEYS, JobStore
from rag.testing import FailingIngestor, SlowIngestor


@pytest.fixture()
def jobs(store: Store) -> JobStore:
    return JobStore(store)


def test_a_failing_ingestion_still_finishes_its_job_with_the_reason(jobs: JobStore) -> None:
    uploads = Uploads(jobs, FailingIngestor(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        uploads.run_now("c", [IncomingFile("a.md", b"# A\ntext", source="upload")])
    [job] = jobs.list()
    assert job.kind == "upload" and job.state == "failed" and job.finished_at is not None
    assert "No space left on device" in (job.reason or "")
    assert job.done == 1  # the progress it reported before failing was recorded


def test_outcomes_are_counted_once_for_every_key() -> None:
    outcomes = [FileOutcome("a", "added"), FileOutcome("b", "failed", reason="bad"), FileOutcome("c", "added")]
    counts = count_outcomes(outcomes)
    assert set(counts) == set(COUNT_KEYS) and counts["added"] == 2 and counts["failed"] == 1
    assert failures(outcomes) == [{"file": "b", "reason": "bad"}]


def test_a_waited_upload_cannot_be_taken_by_a_runner(jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """`?wait=true` runs the upload in the request: a runner (of this replica or another) that
    polls in the instant between storing the job and running it finds nothing to take, and
    the request answers with the files' outcomes, not "queued"."""
    taken = []
    create = jobs.create_files

    def create_then_poll(*args, **kwargs):
        job = create(*args, **kwargs)
        taken.append(jobs.claim_next())  # another runner, polling in that instant
        return job

    monkeypatch.setattr(jobs, "create_files", create_then_poll)
    result = Uploads(jobs, SlowIngestor(0)).run_now("c", [IncomingFile("a.md", b"# A\ntext", source="upload")])
    assert taken == [None]
    assert [o.status for o in result.outcomes] == ["unchanged"] and result.state == "succeeded"
    [job] = jobs.list()
    assert job.state == "succeeded"
