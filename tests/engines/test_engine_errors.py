"""What the `openai` backends do when an engine misbehaves: retries, garbage, wrong URLs,
secrets. Played by rag.testing.ScriptedEngine (no model); real answers are tested against
llama.cpp's server in test_llm_engine.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from rag.config import LLMSettings, Settings
from rag.engines import Engine, shown_url
from rag.errors import EngineUnavailable, ModelUnavailable
from rag.llm.base import Prompt
from rag.llm.openai_engine import OpenAIGenerator
from rag.testing import ScriptedEngine
from tests.server import free_port

PROMPT = Prompt("Answer.", "Who organises the festival?")
MODELS = (200, "application/json", json.dumps({"object": "list", "data": [
    {"id": "served-model", "object": "model", "created": 0, "owned_by": "x", "max_model_len": 32768}]}).encode())


@pytest.fixture()
def scripted() -> Iterator[list[ScriptedEngine]]:
    engines: list[ScriptedEngine] = []
    yield engines
    for e in engines:
        e.close()


def generator(base_url: str, **llm) -> OpenAIGenerator:
    settings = LLMSettings(backend="openai", base_url=base_url, retries=2, timeout_s=5, **llm)
    return OpenAIGenerator(Engine("LLM", "RAG_LLM", settings), settings.model, settings.context_window)


def test_429_and_503_are_retried_then_the_answer_streams(scripted: list[ScriptedEngine]) -> None:
    engine = ScriptedEngine([MODELS, (429, "application/json", b'{"error": {"message": "slow down"}}'),
                             (503, "application/json", b'{"error": {"message": "loading"}}'),
                             ScriptedEngine.completion_stream("Maren Vostrikova organises it.")])
    scripted.append(engine)
    gen = generator(engine.base_url)
    pieces = list(gen.generate(PROMPT, 32))
    assert "".join(pieces) == "Maren Vostrikova organises it."
    assert len(pieces) > 1  # streamed piece by piece, not gathered
    assert engine.requests == ["GET /v1/models"] + ["POST /v1/chat/completions"] * 3
    # The model and the window come from the engine when not set.
    assert gen.model == "served-model" and gen.context_window == 32768


def test_retries_are_bounded_and_the_error_names_the_engine(scripted: list[ScriptedEngine]) -> None:
    engine = ScriptedEngine([MODELS, (503, "application/json", b'{"error": {"message": "overloaded"}}')])
    scripted.append(engine)
    with pytest.raises(EngineUnavailable) as caught:
        list(generator(engine.base_url).generate(PROMPT, 32))
    assert engine.requests.count("POST /v1/chat/completions") == 3  # the first try and two retries
    assert engine.base_url in str(caught.value) and "HTTP 503" in str(caught.value)


@pytest.mark.parametrize("reply", [
    (200, "text/html", b"<html><body>Welcome to nginx!</body></html>"),
    (200, "text/event-stream", b"data: {not json\n\n"),
    (200, "text/event-stream", b'data: {"choices": "none"}\n\n'),
], ids=["web page", "broken json", "wrong shape"])
def test_an_engine_answering_garbage_is_unavailable_not_an_empty_answer(
        scripted: list[ScriptedEngine], reply: tuple[int, str, bytes]) -> None:
    engine = ScriptedEngine([MODELS, reply])
    scripted.append(engine)
    with pytest.raises(EngineUnavailable) as caught:
        list(generator(engine.base_url).generate(PROMPT, 32))
    assert "not an OpenAI-compatible response" in str(caught.value)
    assert engine.base_url in str(caught.value)


def test_a_wrong_path_says_to_check_the_url(scripted: list[ScriptedEngine]) -> None:
    engine = ScriptedEngine([(404, "text/plain", b"no such route")])
    scripted.append(engine)
    gen = generator(engine.base_url, model="served-model")
    with pytest.raises(EngineUnavailable, match="404.*RAG_LLM__BASE_URL"):
        list(gen.generate(PROMPT, 32))


def test_nothing_listening_says_start_it_and_the_status_says_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    gen = generator(url)
    with pytest.raises(EngineUnavailable, match="could not be reached.*start it, or check RAG_LLM__BASE_URL"):
        gen.warm_up()
    assert not gen.ready
    status = gen.status()
    assert not status.reachable and url in (status.error or "")


def test_the_api_key_is_sent_but_never_shown(scripted: list[ScriptedEngine], caplog: pytest.LogCaptureFixture) -> None:
    engine = ScriptedEngine([MODELS, (401, "application/json", b'{"error": {"message": "bad key"}}')])
    scripted.append(engine)
    secret = "sk-groundwork-test-0123456789"
    settings = Settings(llm=LLMSettings(backend="openai", base_url=f"http://user:pw@{engine.base_url[7:]}",
                                        api_key=SecretStr(secret), retries=0))
    caplog.set_level(logging.DEBUG)
    gen = OpenAIGenerator(Engine("LLM", "RAG_LLM", settings.llm), "served-model")
    with pytest.raises(EngineUnavailable) as caught:
        list(gen.generate(PROMPT, 8))
    shown = " ".join([str(caught.value), repr(settings), str(gen.status()), caplog.text, gen.model_dir])
    assert "RAG_LLM__API_KEY" in str(caught.value)
    assert secret not in shown
    assert "pw@" not in shown.replace(repr(settings), "")  # the settings show what was configured


def test_urls_lose_their_password_when_shown() -> None:
    assert shown_url("http://me:secret@gpu-box:8000/v1") == "http://gpu-box:8000/v1"
    assert shown_url("http://gpu-box:8000/v1") == "http://gpu-box:8000/v1"


def test_the_openai_backend_needs_a_url() -> None:
    with pytest.raises(ModelUnavailable, match="RAG_LLM__BASE_URL"):
        Engine("LLM", "RAG_LLM", LLMSettings(backend="openai"))


def test_offline_is_the_default() -> None:
    """Nothing names an engine unless configured: both models run in this process."""
    from rag.answer.service import AskOptions

    settings = Settings()
    assert settings.llm.backend != "openai" and settings.embedding.backend != "openai"
    assert settings.llm.base_url is None and settings.embedding.base_url is None
    assert AskOptions.from_settings(settings).prompt_style == "compact"
