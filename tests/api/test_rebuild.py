"""The FAISS file is a cache: damaged, stale or missing, it is rebuilt from SQLite."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.bootstrap import Runtime
from rag.store.faiss_index import FaissIndex
from tests import docs
from tests.conftest import restart

C = "rebuild"
QUESTION = "Who is the keeper of the Varenholt lighthouse?"


@pytest.fixture(scope="module")
def seeded(client: TestClient, runtime: Runtime) -> int:
    r = client.post(f"/collections/{C}/documents?wait=true", files=[("files", ("voyage.md", docs.markdown("Voyages", {
        "Varenholt lighthouse": "The keeper of the Varenholt lighthouse is Oskar Miravelle.",
        "Supplies": "The lighthouse stores dried cod, oats and forty barrels of water.",
    })))])
    assert r.status_code == 200
    return runtime.store.get_collection(C).id


def _answer(runtime: Runtime) -> tuple[dict, list]:
    with TestClient(create_app(runtime=runtime)) as c:
        hits = c.post(f"/collections/{C}/search", json={"query": QUESTION, "top_k": 3}).json()["results"]
        body = c.post(f"/collections/{C}/query", json={"question": QUESTION}).json()
        health = c.get("/health")
        assert health.status_code == 200, health.text
    return body, [(h["chunk_id"], h["score"]) for h in hits]


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "stale"])
def test_damaged_index_is_rebuilt_and_answers_the_same(runtime: Runtime, seeded: int, damage: str) -> None:
    before_body, before_hits = _answer(runtime)
    assert "Miravelle" in before_body["answer"]
    path = runtime.indexes.path(seeded)
    good = path.read_bytes()
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(good[:40] + b"\x00" * (len(good) - 40))
    else:  # a valid file of an older generation, with a vector too few
        index, generation = FaissIndex.load(path, runtime.embedder.dimension)
        index.remove([min(index.ids())])
        index.save(path, generation - 1)

    after = restart(runtime)
    state = next(s for s in after.index_states if s.collection_id == seeded)
    assert state.origin == "rebuilt"
    if damage in ("truncate", "garbage"):    # reported as such in /health/details
        assert state.damaged and str(path) in state.damaged
        with TestClient(create_app(runtime=after)) as c:
            shown = next(x for x in c.get("/health/details").json()["collections"] if x["name"] == C)
        assert shown["index"]["damaged"] == state.damaged and shown["index"]["in_sync"]
    elif damage == "delete":
        assert state.damaged is None
    assert FaissIndex.load(path, after.embedder.dimension)[0].ids() == after.store.chunk_ids(seeded)
    after_body, after_hits = _answer(after)
    assert after_hits == before_hits
    assert after_body["answer"] == before_body["answer"]


def test_intact_index_is_loaded_not_rebuilt(runtime: Runtime, seeded: int) -> None:
    after = restart(runtime)
    state = next(s for s in after.index_states if s.collection_id == seeded)
    assert state.origin == "loaded"


def test_health_tells_a_write_in_progress_from_a_lagging_index(client: TestClient, runtime: Runtime, seeded: int) -> None:
    """Committed but not yet in the snapshot: while this process is writing (an upload job)
    the replica is busy, not broken (200, `writing`); once the writer is done, /health itself
    follows the change log and the index is in sync again."""
    import numpy as np

    from rag.store.sqlite import DocumentWrite
    from rag.types import ChunkDraft

    vector = np.ones((1, runtime.embedder.dimension), dtype=np.float32) / np.sqrt(runtime.embedder.dimension)
    lag = DocumentWrite(document_id="doc_lagging", name="lag.txt", source="upload", content_hash="lag-hash",
                        config_hash="cfg", size=1, mime_type="text/plain", metadata={},
                        chunks=[ChunkDraft("The lag room is blue.", 0, None, None, 6)], embeddings=vector)
    try:
        with runtime.indexes.local_write():
            write = runtime.store.replace_documents(C, [lag])
            assert client.get("/health").status_code == 200
            [shown] = [c for c in client.get("/health/details").json()["collections"] if c["name"] == C]
            assert shown["index"]["in_sync"] is False and shown["index"]["writing"] is True
        assert client.get("/health").status_code == 200
        [shown] = [c for c in client.get("/health/details").json()["collections"] if c["name"] == C]
        assert shown["index"]["in_sync"] is True and shown["index"]["writing"] is False
    finally:
        runtime.indexes.catch_up(write.collection_id)
        runtime.store.delete_document(C, "doc_lagging")
        runtime.indexes.catch_up(write.collection_id)
    assert client.get("/health").status_code == 200
