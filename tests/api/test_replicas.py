"""Past one machine: API replicas on one PostgreSQL database (real `rag serve` processes, the
machine's PostgreSQL, shared originals), read-your-writes with min_generation, and the
database going away and coming back."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.bootstrap import Runtime, build_runtime
from rag.config import Settings
from tests import docs
from tests.proxy import Proxy
from tests.server import Server, link_model_cache

FAST = {"RAG_LLM__PRELOAD": "false", "RAG_LOAD_SAMPLES": "false"}


def _replica(tmp_path: Path, name: str, runtime: Runtime, pg_url: str) -> Server:
    data = tmp_path / name
    link_model_cache(runtime.settings.model_cache_dir, data)
    return Server(data, RAG_DATABASE_URL=pg_url, RAG_FILES_DIR=str(tmp_path / "shared-files"), **FAST)


def _delete(srv: Server, path: str) -> tuple[int, str | None]:
    req = urllib.request.Request(srv.base + path, method="DELETE")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.headers.get("Groundwork-Generation")


def _texts(body: dict) -> str:
    return " ".join(hit["text"] for hit in body["results"])


def test_two_replicas_read_each_others_writes(tmp_path: Path, runtime: Runtime, pg_url: str) -> None:
    a = _replica(tmp_path, "a", runtime, pg_url).start()
    b = _replica(tmp_path, "b", runtime, pg_url).start()
    try:
        doc = docs.markdown("Harbour", {"Code": "The harbour gate code is quokka-7731."})
        status, up = a.upload("team", {"harbour.md": doc})
        assert status == 200 and up["files"][0]["status"] == "added", up
        generation = up["generation"]
        assert generation >= 1
        # Through the other replica, at least at that generation: the upload is there.
        status, found = b.call("POST", "/collections/team/search",
                               {"query": "quokka-7731 harbour gate", "min_generation": generation})
        assert status == 200 and "quokka-7731" in _texts(found) and found["generation"] >= generation
        status, answer = b.call("POST", "/collections/team/query",
                                {"question": "What is the harbour gate code?", "min_generation": generation})
        assert status == 200 and answer["generation"] >= generation
        # The original is in the shared files directory, readable by every replica and worker.
        _, listed = b.call("GET", "/collections/team/documents")
        [stored] = listed["documents"]
        assert (tmp_path / "shared-files" / stored["content_hash"][:2] / stored["content_hash"]).read_bytes() == doc
        # Delete through B; gone from A at the generation the delete produced.
        status, deleted_at = _delete(b, f"/collections/team/documents/{stored['id']}")
        assert status == 204 and deleted_at is not None and int(deleted_at) > generation
        status, after = a.call("POST", "/collections/team/search",
                               {"query": "quokka-7731 harbour gate", "min_generation": int(deleted_at)})
        assert status == 200 and "quokka-7731" not in _texts(after) and after["generation"] >= int(deleted_at)
        # A generation no write has returned: 422 in the one error shape, at once.
        status, body = a.call("POST", "/collections/team/search", {"query": "gate", "min_generation": 10_000})
        assert status == 422 and body["error"]["code"] == "out_of_range", body
        assert "min_generation 10000 is ahead" in body["error"]["message"]
        # Each replica's FAISS cache is at the database's generation, having followed the other's
        # writes: B built its index from the log's first write or followed it, never rebuilt after.
        for srv in (a, b):
            status, health = srv.call("GET", "/health/details")
            [state] = [c for c in health["collections"] if c["name"] == "team"]
            assert status == 200 and state["index"]["in_sync"], health
            assert state["index"]["generation"] == state["generation"] == int(deleted_at)
            assert health["store"].startswith("postgresql://")
    finally:
        a.stop()
        b.stop()


def test_the_database_going_away_is_a_503_and_the_service_recovers(runtime: Runtime, pg_url: str,
                                                                   tmp_path: Path) -> None:
    proxy = Proxy(("127.0.0.1", 5432))
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = Settings(data_dir=tmp_path / "data", load_samples=False, database_url=url,
                        replica={"poll_s": 0.2})
    rt = build_runtime(settings, embedder=runtime.embedder, generator=runtime.generator,
                       parser=runtime.parser, reranker=runtime.reranker)
    try:
        with TestClient(create_app(runtime=rt)) as client:
            up = client.post("/collections/c/documents?wait=true",
                             files={"files": ("a.md", docs.markdown("A", {"S": "The wombat sleeps by day."}))})
            assert up.status_code == 200, up.text
            proxy.cut()
            started = time.monotonic()
            for method, path, body in (("POST", "/collections/c/search", {"query": "wombat"}),
                                       ("GET", "/collections", None), ("GET", "/health", None)):
                r = client.request(method, path, json=body)
                assert r.status_code == 503, (path, r.text)
                error = r.json()["error"]
                assert error["code"] == "store_unavailable" and "not reachable" in error["message"], error
                assert "retry" in error["message"]
            assert time.monotonic() - started < 30  # an answer, not a hang
            write = client.post("/collections/c/documents?wait=true",
                                files={"files": ("b.md", docs.markdown("B", {"S": "The heron waits."}))})
            assert write.status_code == 503 and write.json()["error"]["code"] == "store_unavailable"
            proxy.restore()
            r = client.post("/collections/c/search", json={"query": "wombat"})
            assert r.status_code == 200 and "wombat" in json.dumps(r.json())
            assert client.get("/health").status_code == 200
    finally:
        rt.stop_background()
        rt.store.close()
        proxy.close()


@pytest.mark.parametrize("n", [2])
def test_a_replica_killed_mid_upload_loses_nothing_acknowledged(tmp_path: Path, runtime: Runtime, pg_url: str,
                                                                n: int) -> None:
    """SIGKILL one replica during uploads: the other keeps answering; every acknowledged document
    is there; the restarted replica's FAISS ids equal the database's chunk ids at its generation."""
    from tests.api.test_crash import Ledger, check_invariants, marker_doc

    a = _replica(tmp_path, "a", runtime, pg_url).start()
    b = _replica(tmp_path, "b", runtime, pg_url).start()
    ledger = Ledger()
    try:
        for i in range(3):
            assert ledger.upload(b, *marker_doc(i, "k"))
        import threading

        stop = threading.Event()

        def writer() -> None:
            i = 100
            while not stop.is_set() and ledger.upload(a, *marker_doc(i, "k")):
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 120
        while len(ledger.present) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        a.kill()
        stop.set()
        thread.join(60)
        # B kept answering throughout, and sees every acknowledged document.
        check_invariants(b, ledger)
        a.start()
        check_invariants(a, ledger)
        assert ledger.upload(a, *marker_doc(n, "after")), (ledger.last_refusal, a.log())
        check_invariants(b, ledger)
    finally:
        a.stop()
        b.stop()
