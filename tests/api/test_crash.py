"""Crash safety: SIGKILL the server at named fault points and at random moments, restart,
and check that nothing acknowledged is lost and nothing half-written is served."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from rag.bootstrap import Runtime
from rag.store.base import Store
from rag.store.faiss_index import FaissIndex
from rag.store.postgres import PostgresStore
from rag.store.sqlite import SQLiteStore
from tests import docs
from tests.server import Server, link_model_cache

C = "crash"
FAST = {"RAG_LLM__PRELOAD": "false", "RAG_LOAD_SAMPLES": "false", "RAG_JOB_LEASE_S": "2"}
WORDS = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "heron", "iris", "juniper",
         "kelp", "lichen", "marram", "nettle", "osprey", "puffin", "quartz", "rowan", "sorrel", "tern"]


def marker_doc(i: int, salt: str) -> tuple[str, str, bytes]:
    marker = f"{WORDS[i % len(WORDS)]}-{salt}-{i:05d}"  # fixed width: no marker is a prefix of another
    body = docs.markdown(f"Record {marker}", {
        "Marker": f"This record carries the marker {marker} and nothing else of note.",
        "Filler": f"Record {i} of batch {salt} was written for the crash test.",
    })
    return f"record-{salt}-{i}.md", marker, body


class Ledger:
    """What the server acknowledged: documents present, and documents deleted."""

    def __init__(self) -> None:
        self.present: dict[str, str] = {}  # document id -> marker
        self.deleted: dict[str, str] = {}
        # A delete the server never answered may or may not have committed: such a document
        # must be wholly there or wholly gone, but which one is not known.
        self.uncertain: dict[str, str] = {}
        self.lock = threading.Lock()
        self.last_refusal: object = None  # why the last unacknowledged upload was not acknowledged

    def upload(self, srv: Server, name: str, marker: str, data: bytes) -> bool:
        try:
            status, body = srv.upload(C, {name: data}, timeout=60)
        except OSError as e:
            self.last_refusal = e
            return False  # the connection died: not acknowledged
        if status == 200 and body["files"][0]["status"] in ("added", "updated", "unchanged"):
            with self.lock:
                self.present[body["files"][0]["document_id"]] = marker
            return True
        self.last_refusal = (status, body)
        return False

    def delete(self, srv: Server, doc_id: str) -> bool:
        try:
            status, _ = srv.call("DELETE", f"/collections/{C}/documents/{doc_id}", timeout=60)
        except OSError:
            with self.lock:
                self.uncertain[doc_id] = self.present.pop(doc_id)
            return False
        if status == 204:
            with self.lock:
                self.deleted[doc_id] = self.present.pop(doc_id)
            return True
        return False


def check_invariants(srv: Server, ledger: Ledger) -> None:
    """Every acknowledged document is retrievable through FAISS, no deleted one is, and the
    FAISS id set equals SQLite's chunk ids; no content hash is stored twice."""
    status, health = srv.call("GET", "/health")
    assert status == 200 and health["status"] == "ok", health
    for doc_id, marker in ledger.present.items():
        _, body = srv.call("POST", f"/collections/{C}/search",
                           {"query": marker, "top_k": 5, "filters": {"document_ids": [doc_id]}})
        assert any(marker in hit["text"] for hit in body["results"]), (marker, body)
    for doc_id, marker in ledger.deleted.items():
        _, body = srv.call("POST", f"/collections/{C}/search",
                           {"query": marker, "top_k": 50, "filters": {"document_ids": [doc_id]}})
        assert body["results"] == [], (marker, body)
        _, any_hits = srv.call("POST", f"/collections/{C}/search", {"query": marker, "top_k": 50})
        assert all(marker not in hit["text"] for hit in any_hits["results"])
    for doc_id, marker in ledger.uncertain.items():
        stored, _ = srv.call("GET", f"/collections/{C}/documents/{doc_id}")
        _, body = srv.call("POST", f"/collections/{C}/search",
                           {"query": marker, "top_k": 5, "filters": {"document_ids": [doc_id]}})
        found = any(marker in hit["text"] for hit in body["results"])
        assert (stored, found) in ((200, True), (404, False)), (marker, stored, body)
    db = server_store(srv)
    try:
        dupes = db.connection().execute("SELECT content_hash FROM documents GROUP BY collection_id, content_hash "
                                        "HAVING COUNT(*) > 1").fetchall()
        assert dupes == []
        for cid in db.generations():
            generation, chunk_ids = db.chunk_ids_at(cid)
            index, file_generation = FaissIndex.load(srv.data_dir / "index" / f"collection-{cid}.faiss", 384)
            if file_generation == generation:
                assert index.ids() == chunk_ids
            else:
                # A replica that followed another's writes saves its file now and then; the
                # change log must still reach back to it, so its next start forwards, not rebuilds.
                assert file_generation < generation and db.changes_since(cid, file_generation) is not None
    finally:
        db.close()


def server_store(srv: Server) -> Store:
    """The store a server process writes to (its SQLite file, or its PostgreSQL database)."""
    url = srv.env.get("RAG_DATABASE_URL")
    store: Store = PostgresStore(url) if url else SQLiteStore(srv.data_dir / "groundwork.sqlite3")
    store.open()
    return store


@pytest.fixture()
def data_dir(tmp_path: Path, runtime: Runtime) -> Path:
    data = tmp_path / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """The crash harness runs against both stores: the environment that picks one."""
    return {} if request.param == "sqlite" else {"RAG_DATABASE_URL": request.getfixturevalue("pg_url")}


def start(data_dir: Path, **env: str) -> Server:
    return Server(data_dir, **FAST, **env).start()


@pytest.mark.parametrize("fault", ["after_chunks_committed", "faiss_mid_save"])
def test_kill_at_write_fault_points(data_dir: Path, fault: str, backend: dict[str, str]) -> None:
    ledger = Ledger()
    srv = start(data_dir, RAG_FAULT_POINT=fault, RAG_FAULT_AFTER="4", **backend)
    results = [ledger.upload(srv, *marker_doc(i, "w")) for i in range(6)]
    assert srv.wait_dead() is not None, "the fault point was never reached"
    assert results[:3] == [True] * 3 and results[3] is False  # killed while writing the 4th
    srv = start(data_dir, **backend)
    try:
        check_invariants(srv, ledger)
        # Retrying what was not acknowledged is safe: one document, one set of chunks.
        for i in range(3, 6):
            assert ledger.upload(srv, *marker_doc(i, "w"))
        check_invariants(srv, ledger)
    finally:
        srv.stop()


def test_kill_after_a_delete_is_committed(data_dir: Path) -> None:
    ledger = Ledger()
    srv = start(data_dir, RAG_FAULT_POINT="after_delete_committed", RAG_FAULT_AFTER="2")
    for i in range(4):
        name, marker, data = marker_doc(i, "d")
        assert ledger.upload(srv, name, marker, data)
    ids = list(ledger.present)
    assert ledger.delete(srv, ids[0])
    assert not ledger.delete(srv, ids[1])  # killed after the commit, before the FAISS update
    assert srv.wait_dead() is not None
    srv = start(data_dir)
    try:
        check_invariants(srv, ledger)
        status, _ = srv.call("GET", f"/collections/{C}/documents/{ids[1]}")
        assert status == 404  # the committed delete stands
    finally:
        srv.stop()


def test_sync_killed_midway_is_failed_requeued_and_completed(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    markers = {}
    for i in range(6):
        name, marker, data = marker_doc(i, "s")
        (folder / name).write_bytes(data)
        markers[name] = marker
    # One file per batch, so the fault point falls between files as before batching.
    srv = start(data_dir, RAG_FAULT_POINT="sync_between_files", RAG_FAULT_AFTER="3",
                RAG_INGEST__SYNC_BATCH_FILES="1")
    status, source = srv.call("POST", "/sources", {"kind": "folder", "path": str(folder), "collection": C})
    assert status == 201
    assert srv.wait_dead() is not None
    srv = start(data_dir)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, jobs = srv.call("GET", f"/jobs?source_id={source['id']}")
            states = [j["state"] for j in jobs["jobs"]]
            if "succeeded" in states:
                break
            time.sleep(0.5)
        died = next(j for j in jobs["jobs"] if j["retry_of"] is None)
        retry = next(j for j in jobs["jobs"] if j["retry_of"] == died["id"])
        assert died["state"] == "failed" and "heartbeat" in died["reason"]
        assert retry["state"] == "succeeded", jobs
        assert "running" not in states
        ledger = Ledger()
        _, listed = srv.call("GET", f"/collections/{C}/documents")
        for d in listed["documents"]:
            ledger.present[d["id"]] = markers[d["name"]]
        assert len(ledger.present) == 6
        check_invariants(srv, ledger)
    finally:
        srv.stop()


def test_random_kills_during_uploads_and_deletes(data_dir: Path, backend: dict[str, str]) -> None:
    rng = random.Random(20261129)
    ledger = Ledger()
    counter = iter(range(10_000))
    for round_ in range(3):
        srv = start(data_dir, **backend)
        if round_:
            check_invariants(srv, ledger)
        stop = threading.Event()

        def writer(stop: threading.Event = stop, srv=srv) -> None:
            while not stop.is_set():
                i = next(counter)
                name, marker, data = marker_doc(i, "r")
                if not ledger.upload(srv, name, marker, data):
                    return
                if i % 3 == 2 and ledger.present:
                    if not ledger.delete(srv, rng.choice(sorted(ledger.present))):
                        return

        before = len(ledger.present) + len(ledger.deleted)
        thread = threading.Thread(target=writer)
        thread.start()
        # Kill at a random moment after the first acknowledged write of this round.
        deadline = time.monotonic() + 120
        while len(ledger.present) + len(ledger.deleted) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 3.0))
        srv.kill()
        stop.set()
        thread.join(60)
    srv = start(data_dir, **backend)
    try:
        assert len(ledger.present) + len(ledger.deleted) >= 3, "too few writes to mean anything"
        check_invariants(srv, ledger)
    finally:
        srv.stop()


def test_kill_after_a_collection_delete_is_committed(data_dir: Path, backend: dict[str, str]) -> None:
    """Killed between the delete's commit and the removal of its vector cache: on restart the
    collection is gone, its name makes a new empty collection, the others are whole."""
    ledger = Ledger()
    srv = start(data_dir, RAG_FAULT_POINT="after_collection_deleted", **backend)
    for i in range(3):
        assert ledger.upload(srv, *marker_doc(i, "k"))
    doomed = [marker_doc(i, "gone") for i in range(3)]
    for name, _, data in doomed:
        status, _ = srv.upload("doomed", {name: data}, timeout=60)
        assert status == 200
    with pytest.raises(OSError):
        srv.call("DELETE", "/collections/doomed", timeout=60)
    assert srv.wait_dead() is not None
    srv = start(data_dir, **backend)
    try:
        assert srv.call("GET", "/collections/doomed")[0] == 404
        status, created = srv.call("POST", "/collections", {"name": "doomed"})
        assert status == 201 and created["documents"] == 0
        for _, marker, _ in doomed:
            _, body = srv.call("POST", "/collections/doomed/search", {"query": marker, "top_k": 10})
            assert body["results"] == []
        check_invariants(srv, ledger)
    finally:
        srv.stop()
