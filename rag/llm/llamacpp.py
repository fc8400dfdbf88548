"""The llama.cpp generator: the same GGUF as the transformers path, run by llama.cpp.

transformers dequantizes the shipped Q4_1 GGUF to fp32 and decodes it with PyTorch; on two
cores llama.cpp decodes several times faster (BENCHMARKS.md). By default it runs a float16
copy of the GGUF (rag.llm.gguf.widened_gguf), since the 4-bit weights changed answers. Same
chat template (read from the GGUF), same greedy decoding, no repetition penalty, so answers
match the transformers path's closely. A LoRA adapter is merged into the float16 copy
(rag.llm.gguf.lora_deltas); non-GGUF models stay on the transformers backend (rag.llm.registry
chooses).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ModelUnavailable
from rag.llm.base import BaseGenerator, Prompt
from rag.llm.gguf import widened_gguf
from rag.models import resolve_adapter, resolve_llm


class LlamaCppGenerator(BaseGenerator):
    """Greedy decoding of a GGUF chat model with llama-cpp-python, one request at a time."""

    backend = "llamacpp"

    def __init__(self, gguf: Path | str, threads: int | None = None, context_tokens: int = 8192,
                 adapter: Path | None = None):
        # adapter: already merged into the GGUF's weights; shown by /health.
        super().__init__(gguf, threads or (os.cpu_count() or 1), adapter)
        self.gguf = Path(gguf)
        self.context_window = context_tokens
        self._llm: Any = None

    def _load(self) -> None:
        """Load the GGUF (about a second)."""
        from llama_cpp import Llama

        # llama.cpp's context is not thread-safe: BaseGenerator._busy keeps one run at a time.
        self._llm = Llama(model_path=str(self.gguf), n_ctx=self.context_window, n_threads=self.threads,
                          n_threads_batch=self.threads, verbose=False)

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the answer's pieces; setting `stop` ends the generation after the next token."""
        self._ensure_loaded()
        with self._busy:
            stream = self._llm.create_chat_completion(messages=self.messages(prompt), max_tokens=max_tokens,
                                                      temperature=0.0, top_k=1, repeat_penalty=1.0, stream=True)
            try:
                for chunk in stream:
                    # Checked after every token: a disconnected client ends the generation.
                    if stop is not None and stop.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            finally:
                stream.close()


def from_settings(settings: Settings) -> LlamaCppGenerator:
    """The registry's factory for RAG_LLM__BACKEND=llamacpp (a GGUF model only)."""
    source = resolve_llm(settings.llm.model, settings.llm.gguf_file)
    if not source.gguf_file:
        raise ModelUnavailable(f"the llamacpp backend runs GGUF files; {settings.llm.model!r} is not one: set "
                               "RAG_LLM__GGUF_FILE to the .gguf in that folder, or RAG_LLM__BACKEND=transformers")
    adapter = resolve_adapter(settings.llm.adapter, settings.llm.model)
    gguf = Path(source.model) / source.gguf_file
    if settings.llm.llamacpp_weights == "f16" or adapter is not None:
        # An adapter is merged into float16 weights (into 4-bit ones it would be lost).
        gguf = widened_gguf(source, settings.model_cache_dir, adapter)
    return LlamaCppGenerator(gguf, settings.llm.threads, adapter=adapter)
