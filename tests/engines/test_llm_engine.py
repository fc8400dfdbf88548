"""The `openai` LLM backend against a real engine: llama.cpp's OpenAI-compatible server on
loopback, serving the float16 GGUF with the adapter merged that the in-process backend runs.
Same answers, streamed over HTTP, 503 naming the engine while it is down, recovery after."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ingest.pipeline import IncomingFile
from rag.api.app import create_app
from rag.bootstrap import Runtime, build_runtime
from rag.errors import EngineUnavailable
from rag.llm.base import Prompt
from rag.llm.llamacpp import LlamaCppGenerator
from rag.llm.openai_engine import OpenAIGenerator
from tests.api.test_end_to_end import FILES
from tests.engine import ALIAS, GREEDY, LlamaServer
from tests.server import sse_events

C = "engine"
SECRET = "sk-engine-test-5f1c9a"
QUESTIONS = [
    "What is the access code of the Lisbon office?",
    "When does the Porto office close?",
    "Who organises the Quellmoor lantern festival?",
    "Who manages the Fenwick warehouse?",
    "What does the Quellmoor market sell?",
    "What is the boiling point of liquid nitrogen?",  # not in the documents: refused before the LLM
]


@pytest.fixture(scope="module")
def engine(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    assert isinstance(runtime.generator, LlamaCppGenerator), "the in-process reference is llama.cpp"
    server = LlamaServer(runtime.generator.gguf, tmp_path_factory.mktemp("engine"),
                         runtime.generator.context_window).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engine_runtime(runtime: Runtime, engine: LlamaServer) -> Runtime:
    """A second runtime over the same data, writing its answers through the engine."""
    runtime.ingestor.ingest_many(C, [IncomingFile(name, data) for name, data in FILES.items()])
    llm = runtime.settings.llm.model_copy(update={
        "backend": "openai", "base_url": engine.base_url, "api_key": SecretStr(SECRET), "retries": 1,
        "engine_options": GREEDY, "prompt_style": "compact", "timeout_s": 30.0,
        "context_window": engine.context_window})
    settings = runtime.settings.model_copy(update={"llm": llm})
    return build_runtime(settings, embedder=runtime.embedder, parser=runtime.parser, reranker=runtime.reranker)


@pytest.fixture()
def up(engine: LlamaServer) -> Iterator[LlamaServer]:
    """The engine, running (a test before may have stopped it)."""
    if engine.models() is None:
        engine.start()
    yield engine
    if engine.models() is None:
        engine.start()


def test_the_engine_gives_the_in_process_answers(runtime: Runtime, engine_runtime: Runtime, up: LlamaServer) -> None:
    assert isinstance(engine_runtime.generator, OpenAIGenerator)
    assert engine_runtime.generator.model == ALIAS  # "default": what the engine lists
    for question in QUESTIONS:
        local = runtime.service.ask(C, question)
        remote = engine_runtime.service.ask(C, question)
        assert remote.text == local.text, question
        assert [(c.n, c.chunk.chunk.id, c.supported) for c in remote.citations] == \
               [(c.n, c.chunk.chunk.id, c.supported) for c in local.citations], question
    assert "7-Q-42" in engine_runtime.service.ask(C, QUESTIONS[0]).text


def test_answers_stream_over_http_and_health_shows_the_engine_not_its_key(
        engine_runtime: Runtime, up: LlamaServer) -> None:
    with TestClient(create_app(runtime=engine_runtime)) as client:
        with client.stream("POST", f"/collections/{C}/query",
                           json={"question": "Who organises the Quellmoor lantern festival?", "stream": True}) as r:
            assert r.status_code == 200
            events = sse_events(r.read().decode())
        kinds = [k for k, _ in events]
        assert kinds[-2:] == ["answer", "done"] and kinds.count("token") >= 2
        assert "Vostrikova" in events[-2][1]["answer"] and events[-2][1]["citations"]
        health = client.get("/health/details")
    assert health.status_code == 200, health.text
    llm = health.json()["models"]["llm"]
    assert llm["backend"] == "openai" and llm["model"] == ALIAS and llm["path"] == up.base_url
    assert llm["engine"] == {"url": up.base_url, "reachable": True, "models": [ALIAS], "error": None}
    assert SECRET not in health.text


def test_engine_down_gives_503_naming_it_and_the_service_recovers(engine_runtime: Runtime, up: LlamaServer) -> None:
    question = {"question": "When does the Porto office close?"}
    with TestClient(create_app(runtime=engine_runtime)) as client:
        before = client.post(f"/collections/{C}/query", json=question).json()["answer"]
        up.stop()
        r = client.post(f"/collections/{C}/query", json=question)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "engine_unavailable" and up.base_url in error["message"]
        assert "RAG_LLM__BASE_URL" in error["message"]
        with client.stream("POST", f"/collections/{C}/query", json={**question, "stream": True}) as s:
            # Refused before the first token: still a plain HTTP status.
            assert s.status_code == 503
        # Search does not need the engine.
        assert client.post(f"/collections/{C}/search", json={"query": "Porto office"}).status_code == 200
        health = client.get("/health/details")
        assert health.status_code == 503 and health.json()["models"]["llm"]["engine"]["reachable"] is False
        up.start()
        again = client.post(f"/collections/{C}/query", json=question)
        assert again.status_code == 200 and again.json()["answer"] == before
        assert client.get("/health").status_code == 200


def test_engine_killed_mid_answer_ends_the_stream_with_the_error_then_recovers(up: LlamaServer) -> None:
    gen = OpenAIGenerator(_engine(up), "default", options=GREEDY)
    long = Prompt("You count.", "Count from 1 to 500, one number per line.")
    pieces = gen.generate(long, 1500)
    first = next(pieces)
    assert first
    up.kill()
    with pytest.raises(EngineUnavailable) as caught:
        for _ in pieces:
            pass
    assert up.base_url in str(caught.value)
    up.start()
    assert "".join(gen.generate(long, 8))


def test_a_client_going_away_closes_the_engine_request(up: LlamaServer) -> None:
    gen = OpenAIGenerator(_engine(up), "default", options=GREEDY)
    stop = threading.Event()
    pieces = []
    for piece in gen.generate(Prompt("You count.", "Count from 1 to 500, one number per line."), 1500, stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) == 3
    # The engine noticed and stopped generating (llama.cpp's server says so in its log).
    assert "".join(gen.generate(Prompt("Answer.", "Say yes."), 4))
    assert "Disconnected from client" in up.log_path.read_text(errors="replace")


def _engine(server: LlamaServer):
    from rag.config import LLMSettings
    from rag.engines import Engine

    return Engine("LLM", "RAG_LLM", LLMSettings(backend="openai", base_url=server.base_url, retries=1,
                                                timeout_s=30))

