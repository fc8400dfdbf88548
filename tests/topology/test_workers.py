"""Past one machine, as real processes: PostgreSQL and Redis as the machine runs them, two
`rag serve` replicas and two `rag worker` processes on them. 50 generated files are uploaded
through one replica (answered 202), one worker is SIGKILLed mid-job; afterwards the job has
succeeded and every file is searchable through the other replica, with no chunk twice. Then
the replica that runs the cron schedules is killed and the other one takes them over.

Skips with a reason where Redis or PostgreSQL is missing, except under CI=true."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from rag.bootstrap import Runtime
from tests import docs
from tests.server import Server, Worker, link_model_cache

REDIS = os.environ.get("RAG_TEST_REDIS", "redis://127.0.0.1:6379/13")
FAST = {"RAG_LLM__PRELOAD": "false", "RAG_LOAD_SAMPLES": "false", "RAG_RERANK__MODEL": "none"}


def _need_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).flushdb()  # a database of the tests' own
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis is not running at {REDIS} ({exc}); start it with the command in the README")


def _file(i: int) -> bytes:
    # Enough text per file that 50 of them take a worker some seconds.
    return docs.markdown(f"Depot {i}", {
        "Stock": f"Depot {i} keeps {100 + i} crates of tiles in aisle {i % 9}. " * 12,
        "Access": f"The depot {i} door code is D{i:03d}-{7 * i + 11}.",
        "Notes": " ".join(f"Shelf {j} of depot {i} was checked in week {j + i % 5}." for j in range(30)),
    })


def _wait(predicate, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_replicas_two_workers_one_killed_mid_job(tmp_path: Path, runtime: Runtime, pg_url: str) -> None:
    _need_redis()
    env = {"RAG_DATABASE_URL": pg_url, "RAG_QUEUE_URL": REDIS, "RAG_FILES_DIR": str(tmp_path / "originals"),
           "RAG_JOB_LEASE_S": "6", "RAG_WORKERS__SWEEP_S": "1", **FAST}
    dirs = {name: tmp_path / name for name in ("a", "b", "w1", "w2")}
    for path in dirs.values():
        link_model_cache(runtime.settings.model_cache_dir, path)
    a, b = Server(dirs["a"], **env), Server(dirs["b"], **env)
    workers = [Worker(dirs["w1"], env), Worker(dirs["w2"], env)]
    try:
        for process in (a, b, *workers):
            process.start()
        for w in workers:
            w.wait_ready()
        _, health_a = a.call("GET", "/health/details")
        _, health_b = b.call("GET", "/health/details")
        assert health_a["jobs"]["runner"] == "queue" == health_b["jobs"]["runner"]
        assert sorted([health_a["jobs"]["scheduler"], health_b["jobs"]["scheduler"]]) == ["leader", "standby"]

        started = time.monotonic()
        status, accepted = a.upload("depots", {f"depot-{i:02d}.md": _file(i) for i in range(50)}, wait=False)
        assert status == 202, accepted
        job_id = accepted["job_id"]
        assert time.monotonic() - started < 30  # answered once stored, not once ingested

        def running_somewhere():
            _, job = a.call("GET", f"/jobs/{job_id}")
            begun = [f for f in job["files"] if f["stage"] != "queued"]
            return job if job["state"] == "running" and len(begun) >= 3 else None

        _wait(running_somewhere, 300, "the job to be running on a worker")
        victim = next(w for w in workers if f"claimed job {job_id}" in w.log())
        survivor = next(w for w in workers if w is not victim)
        victim.kill()  # SIGKILL mid-job: no cleanup, the message stays unacknowledged
        _, at_kill = a.call("GET", f"/jobs/{job_id}")
        assert at_kill["state"] == "running" and at_kill["progress"]["done"] < 50, at_kill

        def ended():
            _, job = b.call("GET", f"/jobs/{job_id}")
            return job if job["state"] in ("succeeded", "failed", "cancelled") else None

        final = _wait(ended, 600, "the job to end after the kill", poll=0.5)
        assert final["state"] == "succeeded", final
        assert final["attempts"] >= 2 and all(f["stage"] == "indexed" for f in final["files"]), final
        assert f"claimed job {job_id}" in survivor.log()

        # Every file is there, through the other replica, each once, with its chunks once.
        _, listed = b.call("GET", "/collections/depots/documents?limit=100")
        assert sorted(d["name"] for d in listed["documents"]) == [f"depot-{i:02d}.md" for i in range(50)]
        with psycopg.connect(pg_url) as conn:
            dupes = conn.execute("SELECT COUNT(*) FROM (SELECT document_id, position FROM chunks "
                                 "GROUP BY document_id, position HAVING COUNT(*) > 1) d").fetchone()[0]
        assert dupes == 0
        _, collection = a.call("GET", "/collections/depots")
        generation = collection["generation"]
        for i in (0, 17, 49):
            status, found = b.call("POST", "/collections/depots/search",
                                   {"query": f"door code of depot {i}", "min_generation": generation})
            assert status == 200 and any(f"D{i:03d}-{7 * i + 11}" in hit["text"] for hit in found["results"]), i

        # The replica that runs the cron schedules dies; the other takes them over.
        leader, standby = (a, b) if health_a["jobs"]["scheduler"] == "leader" else (b, a)
        leader.kill()
        _wait(lambda: standby.call("GET", "/health/details")[1]["jobs"]["scheduler"] == "leader", 60,
              "the standby replica to take the schedules over", poll=0.5)
    finally:
        for process in (a, b, *workers):
            process.stop()
