"""Uploads as jobs (real models, SQLite): queued with their files, run by the runner with each
file's stage, resumed after their worker died, cancelled between commits, and a stored
original gone missing."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.pipeline import IncomingFile
from ingest.uploads import Uploads
from rag.bootstrap import Runtime, build_runtime
from rag.config import Settings
from tests import docs
from tests.conftest import wait_job


@pytest.fixture(scope="module")
def runtime(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """A runtime of this module's own (the session's models, an empty data directory) with no
    background runner: each test decides who claims its jobs and when."""
    data: Path = tmp_path_factory.mktemp("upload-jobs")
    return build_runtime(Settings(data_dir=data, load_samples=False), embedder=runtime.embedder,
                         generator=runtime.generator, parser=runtime.parser, reranker=runtime.reranker)


def _files(prefix: str, n: int) -> list[IncomingFile]:
    return [IncomingFile(f"{prefix}-{i}.md", docs.markdown(f"{prefix.title()} {i}", {
        "Fact": f"The {prefix} locker number {i} holds {i * 7 + 3} spare keys."}), source="upload")
        for i in range(n)]


def _age(runtime: Runtime, job_id: str) -> None:
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    with runtime.store.write() as conn:
        conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (old, job_id))


def _chunk_rows(runtime: Runtime, collection: str) -> int:
    coll = runtime.store.collection_id(collection)
    return runtime.store.connection().execute(
        "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ?",
        (coll,)).fetchone()[0]


def test_a_queued_upload_runs_with_each_files_stage(runtime: Runtime) -> None:
    broken = IncomingFile("broken.pdf", b"%PDF-1.4 this is not a PDF at all", source="upload")
    job = runtime.uploads.submit("upjobs1", [*_files("amber", 2), broken])
    assert job.state == "queued" and job.total == 3
    assert [f.stage for f in runtime.jobs.files(job.id)] == ["queued"] * 3
    done = wait_job(runtime, job.id)
    assert done.state == "succeeded" and done.counts["added"] == 2 and done.counts["failed"] == 1, done
    files = runtime.jobs.files(job.id)
    assert [f.stage for f in files] == ["indexed", "indexed", "failed"]
    assert files[2].reason and all(f.document_id and f.chunks >= 1 for f in files[:2])
    assert done.rate is not None and done.eta_s is None
    hits = runtime.service.search("upjobs1", "how many spare keys in amber locker 1")
    assert any("10 spare keys" in h.chunk.text for h in hits)


def test_a_job_whose_worker_died_resumes_at_its_first_unfinished_file(runtime: Runtime) -> None:
    job = runtime.uploads.submit("upjobs2", _files("birch", 3))
    claimed = runtime.jobs.claim(job.id)
    assert claimed is not None and runtime.jobs.claim(job.id) is None  # a duplicate delivery does nothing
    # The dead worker had committed the first file, was embedding the second, then died.
    first = runtime.ingestor.ingest("upjobs2", _files("birch", 1)[0])
    runtime.jobs.record_files(job.id, [(0, first)])
    runtime.jobs.set_stage(job.id, [1], "embedding")
    _age(runtime, job.id)
    [(resumed, again)] = [r for r in runtime.runner.recover() if r[0].id == job.id]
    assert again is not None and again.id == job.id and resumed.state == "queued" and resumed.attempts == 2
    assert [f.stage for f in runtime.jobs.files(job.id)] == ["indexed", "queued", "queued"]
    done = wait_job(runtime, job.id)
    assert done.state == "succeeded" and done.counts["added"] == 3 and done.attempts == 2, done
    docs_ = runtime.store.list_documents("upjobs2")
    assert len(docs_) == 3 and all(d.version == 1 for d in docs_)  # the first was not ingested twice
    assert _chunk_rows(runtime, "upjobs2") == sum(d.chunk_count for d in docs_)  # no duplicate chunks


def test_a_cancel_stops_between_commits_and_leaves_whole_documents(runtime: Runtime) -> None:
    uploads = Uploads(runtime.jobs, runtime.ingestor, batch_chunks=1)  # a commit per file
    job = uploads.submit("upjobs3", _files("cedar", 5))
    claimed = runtime.jobs.claim(job.id)
    assert claimed is not None
    runtime.jobs.request_cancel(job.id)  # running: stops after the commit in hand
    result = uploads.run(claimed)
    final = runtime.jobs.get(job.id)
    assert final.state == "cancelled" and result.state == "cancelled", final
    stages = [f.stage for f in runtime.jobs.files(job.id)]
    indexed = stages.count("indexed")
    assert 1 <= indexed < 5 and stages.count("cancelled") == 5 - indexed, stages
    stored = runtime.store.list_documents("upjobs3")
    assert len(stored) == indexed and _chunk_rows(runtime, "upjobs3") == sum(d.chunk_count for d in stored)


def test_a_queued_job_cancelled_ends_every_file_cancelled(runtime: Runtime) -> None:
    job = runtime.uploads.submit("upjobs4", _files("dune", 2))
    runtime.jobs.request_cancel(job.id)
    assert runtime.jobs.get(job.id).state == "cancelled"
    assert {f.stage for f in runtime.jobs.files(job.id)} == {"cancelled"}
    assert runtime.jobs.claim(job.id) is None


def test_an_original_gone_missing_fails_that_file_alone(runtime: Runtime) -> None:
    files = _files("elm", 2)
    job = runtime.uploads.submit("upjobs5", files)
    gone = runtime.jobs.files(job.id)[0].content_hash
    runtime.ingestor.original_path(gone).unlink()
    done = wait_job(runtime, job.id)
    stages = {f.name: (f.stage, f.reason) for f in runtime.jobs.files(job.id)}
    assert stages["elm-0.md"][0] == "failed" and "missing" in (stages["elm-0.md"][1] or "")
    assert stages["elm-1.md"][0] == "indexed" and done.state == "succeeded"


def test_concurrent_runners_take_each_job_once(runtime: Runtime) -> None:
    jobs = [runtime.uploads.submit("upjobs6", _files(f"fir{i}", 2)) for i in range(3)]
    ran: list[str] = []

    def worker() -> None:
        for job in jobs:
            if runtime.runner.execute(job.id) is not None:
                ran.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ran) == sorted(j.id for j in jobs)  # each once, by one of the two
    assert all(runtime.jobs.get(j.id).state == "succeeded" for j in jobs)
    assert len(runtime.store.list_documents("upjobs6")) == 6


def test_a_reembed_job_redoes_what_the_settings_changed_and_nothing_else(runtime: Runtime) -> None:
    from rag.config import ChunkingSettings

    long = [IncomingFile(f"gorse-{i}.md", docs.markdown(f"Gorse {i}", {
        "Body": " ".join(f"Gorse field {i} row {j} was mowed on day {j * 3}." for j in range(40))}), source="upload")
        for i in range(2)]
    before = {o.name: o.chunks for o in runtime.ingestor.ingest_many("upjobs7", long)}
    # The same data directory served with smaller chunks: every document's config hash differs.
    smaller = build_runtime(runtime.settings.model_copy(update={"chunking": ChunkingSettings(max_tokens=64)}),
                            embedder=runtime.embedder, generator=runtime.generator, parser=runtime.parser,
                            reranker=runtime.reranker)
    job = smaller.uploads.reembed("upjobs7")
    assert job.kind == "reembed" and job.total == 2
    done = wait_job(smaller, job.id)
    assert done.state == "succeeded" and done.counts["updated"] == 2, done
    after = {d.name: d for d in smaller.store.list_documents("upjobs7")}
    assert all(after[n].chunk_count > before[n] and after[n].version == 2 for n in before)
    again = wait_job(smaller, smaller.uploads.reembed("upjobs7").id)
    assert again.counts["unchanged"] == 2 and again.counts["updated"] == 0
