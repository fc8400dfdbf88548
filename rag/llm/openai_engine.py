"""The `openai` generator: answers written by an OpenAI-compatible chat-completions engine.

Retrieval, the refusal threshold, citations and their verification stay in Groundwork; only
the writing moves to the engine (vLLM, Ollama, llama.cpp's server, TGI, LM Studio). Tokens are
relayed as the engine streams them, and closing the stream (a client that went away) closes
the HTTP response, which is how these engines learn to stop generating.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from rag.config import Settings
from rag.engines import Engine, EngineStatus
from rag.errors import EngineUnavailable
from rag.llm.base import BaseGenerator, Prompt

# When neither the setting nor the engine gives a context window: what every engine serves.
FALLBACK_WINDOW = 4096


class OpenAIGenerator(BaseGenerator):
    """Greedy (temperature 0) streamed chat completions from an engine; any number at a time
    (the engine batches them, unlike the in-process backends)."""

    backend = "openai"

    def __init__(self, engine: Engine, model: str = "default", context_window: int | None = None,
                 options: dict[str, float | int | str | bool] | None = None):
        super().__init__(engine.url)
        self.engine = engine
        self.model = model  # "default": the first model the engine lists, resolved at warm-up
        self._window_setting = context_window
        self.context_window = context_window or FALLBACK_WINDOW
        self.options = dict(options or {})

    def _load(self) -> None:
        """Ask the engine what it serves (the model name and, where it says, its window)."""
        status = self.engine.status(fresh=True)
        if not status.reachable:
            raise EngineUnavailable(status.error or f"the LLM engine at {self.engine.url} cannot be reached")
        if self.model == "default":
            if not status.models:
                raise EngineUnavailable(f"the LLM engine at {self.engine.url} lists no model; set RAG_LLM__MODEL")
            self.model = status.models[0]
        if self._window_setting is None and status.context_window:
            self.context_window = status.context_window

    @property
    def ready(self) -> bool:
        """The engine answered at warm-up and (within the last few seconds) still does."""
        return self._loaded and self.engine.status().reachable

    def status(self) -> EngineStatus:
        """The engine's reachability and models, for /health."""
        return self.engine.status()

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the engine's answer; setting `stop` closes the request after the next piece."""
        self._ensure_loaded()
        with self.engine.failures("writing an answer"):
            stream: Any = self.engine.client.chat.completions.create(
                model=self.model, messages=self.messages(prompt),  # type: ignore[arg-type]
                max_tokens=max_tokens, temperature=0.0, stream=True, extra_body=self.options or None)
            chunks = 0
            try:
                for chunk in stream:
                    chunks += 1
                    if stop is not None and stop.is_set():
                        break
                    if not chunk.choices:  # a usage-only chunk
                        continue
                    piece = chunk.choices[0].delta.content
                    if piece:
                        yield piece
            finally:
                stream.close()
            if not chunks:
                # Not one event: a web page or an empty body where a stream was expected.
                raise ValueError("the answer stream held no completion event")
        self.engine.mark_reachable()


def from_settings(settings: Settings) -> OpenAIGenerator:
    """The registry's factory for RAG_LLM__BACKEND=openai."""
    llm = settings.llm
    return OpenAIGenerator(Engine("LLM", "RAG_LLM", llm), llm.model, llm.context_window, llm.engine_options)
