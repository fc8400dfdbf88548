"""OpenAI-compatible endpoints, driven by the official `openai` client against a real server."""

from __future__ import annotations

import numpy as np
import pytest
from openai import NotFoundError, OpenAI

from rag.api.routes.openai_compat import Message, standalone_question
from rag.bootstrap import Runtime
from tests import docs
from tests.server import Server, link_model_cache

DOC = docs.markdown("Lighthouse", {
    "Keeper": "The keeper of the Brannock lighthouse is Morwenna Tallis.",
    "History": "The Brannock lighthouse was first lit in 1871."})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime):
    data = tmp_path_factory.mktemp("openai") / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, RAG_LOAD_SAMPLES="false").start()
    assert srv.upload("coast", {"lighthouse.md": DOC})[0] == 200
    yield srv
    srv.stop()


@pytest.fixture()
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=server.base + "/v1", api_key="unused-without-auth", max_retries=0)


def test_models_list_collections(client: OpenAI) -> None:
    assert "groundwork/coast" in [m.id for m in client.models.list()]


def test_chat_completion(client: OpenAI) -> None:
    r = client.chat.completions.create(model="groundwork/coast", messages=[
        {"role": "user", "content": "Who is the keeper of the Brannock lighthouse?"}])
    text = r.choices[0].message.content
    assert "Tallis" in text and "[1]" in text
    extra = r.model_extra["groundwork"]
    assert extra["grounded"] and extra["citations"][0]["document_name"] == "lighthouse.md"


def test_chat_completion_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="groundwork/coast", stream=True, messages=[
        {"role": "user", "content": "Who is the keeper of the Brannock lighthouse?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Tallis" in text and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["groundwork"]["citations"]


def test_unknown_collection_is_404(client: OpenAI) -> None:
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="groundwork/nope", messages=[{"role": "user", "content": "hi?"}])


def test_embeddings_match_the_service_model(client: OpenAI, runtime: Runtime) -> None:
    r = client.embeddings.create(model="groundwork-embeddings", input=["lighthouse keeper", "pear orchard"])
    got = np.array([d.embedding for d in r.data], dtype=np.float32)
    assert got.shape == (2, 384)
    assert np.allclose(got, runtime.embedder.embed_documents(["lighthouse keeper", "pear orchard"]), atol=1e-4)


def test_follow_up_is_made_standalone() -> None:
    msgs = [Message(role="user", content="Tell me about the Brannock lighthouse."),
            Message(role="assistant", content="It is on the coast [1]."),
            Message(role="user", content="When was it first lit?")]
    assert standalone_question(msgs) == "Tell me about the Brannock lighthouse. When was it first lit?"
    assert standalone_question(msgs[:1]) == "Tell me about the Brannock lighthouse."
