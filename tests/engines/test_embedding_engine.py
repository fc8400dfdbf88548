"""The `openai` embedding backend against a second Groundwork's /v1/embeddings over HTTP:
the same vectors, documents ingested and found through it, and an engine that is down or
dies mid-ingest leaves nothing half-written and the next ingest completes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import IncomingFile
from rag.api.app import create_app
from rag.bootstrap import Runtime, build_runtime
from rag.embedding.openai_engine import OpenAIEmbedder
from rag.errors import EngineUnavailable
from tests import docs
from tests.engine import ThreadedGroundwork

C = "remote-vectors"
TEXTS = ["The Quellmoor lantern festival is organised by Maren Vostrikova.",
         "The backup generator in building C is serviced every 45 days.", "Kurz."]


@pytest.fixture(scope="module")
def groundwork(runtime: Runtime) -> Iterator[ThreadedGroundwork]:
    server = ThreadedGroundwork(create_app(runtime=runtime)).start()
    yield server
    server.stop()


@pytest.fixture()
def up(groundwork: ThreadedGroundwork) -> Iterator[ThreadedGroundwork]:
    if not groundwork.running():
        groundwork.start()
    yield groundwork
    if not groundwork.running():
        groundwork.start()


@pytest.fixture(scope="module")
def remote(runtime: Runtime, groundwork: ThreadedGroundwork, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """A runtime of its own (its own data directory) whose embedder is the second Groundwork."""
    data_dir: Path = tmp_path_factory.mktemp("remote") / "data"
    embedding = runtime.settings.embedding.model_copy(update={
        "backend": "openai", "base_url": groundwork.base_url, "model": "minilm-remote", "batch_size": 2,
        "retries": 1, "timeout_s": 30.0})
    settings = runtime.settings.model_copy(update={"data_dir": data_dir, "embedding": embedding})
    return build_runtime(settings, generator=runtime.generator, parser=runtime.parser, reranker=runtime.reranker)


def test_the_vectors_are_the_servers(runtime: Runtime, remote: Runtime, up: ThreadedGroundwork) -> None:
    assert isinstance(remote.embedder, OpenAIEmbedder)
    assert remote.embedder.dimension == runtime.embedder.dimension
    # One text per request: exactly the server's vector (its int8 model quantizes the
    # activations per batch, so batches of other texts move the last digits).
    for text in TEXTS:
        np.testing.assert_allclose(remote.embedder.embed_query(text), runtime.embedder.embed_query(text), atol=1e-5)
    got = remote.embedder.embed_documents(TEXTS)  # batches of two, in input order
    want = runtime.embedder.embed_documents(TEXTS)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(got * want, axis=1) > 0.98)


def test_documents_ingested_through_the_engine_are_found(remote: Runtime, up: ThreadedGroundwork) -> None:
    files = {"guide.md": docs.markdown("Guide", {
        "Lisbon office": "The access code of the Lisbon office is 7-Q-42.",
        "Porto office": "The Porto office opens at 08:45 and closes at 17:30."})}
    outcomes = remote.ingestor.ingest_many(C, [IncomingFile(n, d) for n, d in files.items()])
    assert [o.status for o in outcomes] == ["added"]
    hits = remote.service.search(C, "Which code opens the Lisbon office?")
    assert "7-Q-42" in hits[0].chunk.text


def _chunks(runtime: Runtime) -> int:
    return runtime.store.get_collection(C).chunk_count


def test_engine_down_at_ingest_changes_nothing_and_the_retry_succeeds(remote: Runtime, up: ThreadedGroundwork) -> None:
    before = _chunks(remote)
    up.stop()
    doc = IncomingFile("down.md", docs.markdown("Down", {"Canteen": "The Fenwick canteen serves lunch from 12:15."}))
    with pytest.raises(EngineUnavailable, match=r"embedding engine at .* could not be reached.*RAG_EMBEDDING__BASE_URL"):
        remote.ingestor.ingest_many(C, [doc])
    assert remote.store.find_document(C, "down.md") is None and _chunks(remote) == before
    with pytest.raises(EngineUnavailable):
        remote.service.search(C, "When is lunch?")
    up.start()
    assert [o.status for o in remote.ingestor.ingest_many(C, [doc])] == ["added"]
    assert "12:15" in remote.service.search(C, "When does the Fenwick canteen serve lunch?")[0].chunk.text


def test_engine_dying_mid_ingest_leaves_nothing_half_written(remote: Runtime, up: ThreadedGroundwork) -> None:
    sections = {f"Room {i}": f"Meeting room {i} on floor {i % 5} seats {10 + i} people and has a projector."
                for i in range(40)}
    doc = IncomingFile("rooms.md", docs.markdown("Rooms", sections))
    before = _chunks(remote)
    up.stop_after(2)  # two batches of two chunks answered, then the engine is gone
    with pytest.raises(EngineUnavailable):
        remote.ingestor.ingest_many(C, [doc])
    assert up.embedding_calls >= 2
    assert remote.store.find_document(C, "rooms.md") is None and _chunks(remote) == before
    state = {s.collection_id: s for s in remote.indexes.states()}[remote.store.collection_id(C)]
    assert state.vectors == before  # FAISS holds nothing of it either
    up.start()
    outcome = remote.ingestor.ingest_many(C, [doc])[0]
    assert outcome.status == "added" and outcome.chunks > 4
    assert _chunks(remote) == before + outcome.chunks  # each chunk once
    hits = remote.service.search(C, "How many people does meeting room 17 seat?", top_k=3)
    assert any("27 people" in h.chunk.text for h in hits)


def test_a_new_engine_model_name_re_embeds_and_a_moved_server_does_not(
        runtime: Runtime, up: ThreadedGroundwork, tmp_path: Path) -> None:
    """The config hash knows an engine's model by its name: serving another model under a new
    RAG_EMBEDDING__MODEL re-embeds every document on its next ingest; the same model at another
    address (here `localhost` for `127.0.0.1`) re-embeds nothing."""
    doc = IncomingFile("policy.md", docs.markdown("Policy", {
        "Parking": "Visitors park in bay 14 behind the Harwick depot."}))

    def ingest_with(model: str, base_url: str) -> tuple[str, str | None]:
        embedding = runtime.settings.embedding.model_copy(update={
            "backend": "openai", "base_url": base_url, "model": model, "retries": 1, "timeout_s": 30.0})
        settings = runtime.settings.model_copy(update={"data_dir": tmp_path / "data", "embedding": embedding})
        rt = build_runtime(settings, generator=runtime.generator, parser=runtime.parser, reranker=runtime.reranker)
        try:
            outcome = rt.ingestor.ingest_many(C, [doc])[0]
            assert outcome.document_id is not None
            assert rt.store.get_collection(C).chunk_count == outcome.chunks  # never twice
            return outcome.status, rt.store.document_config_hash(outcome.document_id)
        finally:
            rt.store.close()

    status, first = ingest_with("minilm-a", up.base_url)
    assert status == "added"
    assert ingest_with("minilm-a", up.base_url.replace("127.0.0.1", "localhost")) == ("unchanged", first)
    status, second = ingest_with("minilm-b", up.base_url)
    assert status == "updated" and second != first
