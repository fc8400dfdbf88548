"""The llama.cpp generator: the same GGUF as the transformers path, run by llama.cpp.

transformers dequantizes the shipped Q4_1 GGUF to fp32 and decodes it with PyTorch; on two
cores llama.cpp decodes several times faster (BENCHMARKS.md). By default it runs a float16
copy of the GGUF (rag.llm.gguf.widened_gguf), since the 4-bit weights changed answers. Same
chat template (read from the GGUF), same greedy decoding, no repetition penalty, so answers
match the transformers path's closely. Questions asked at the same time are decoded together
(rag.llm.batch). A LoRA adapter is merged into the float16 copy
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
from rag.llm.batch import DecodeLoop
from rag.llm.gguf import widened_gguf
from rag.models import resolve_adapter, resolve_llm


class LlamaCppGenerator(BaseGenerator):
    """Greedy decoding of a GGUF chat model with llama.cpp; the questions in flight share
    each decode step (rag.llm.batch.DecodeLoop, `slots` sequences at once)."""

    backend = "llamacpp"

    def __init__(self, gguf: Path | str, threads: int | None = None, context_tokens: int = 8192,
                 adapter: Path | None = None, slots: int = 4):
        # adapter: already merged into the GGUF's weights; shown by /health.
        super().__init__(gguf, threads or (os.cpu_count() or 1), adapter)
        self.gguf = Path(gguf)
        self.context_window = context_tokens
        self.slots = slots
        self._llm: Any = None
        self._loop: DecodeLoop | None = None
        self._format: Any = None

    def _load(self) -> None:
        """Load the GGUF (about a second) and start the decode loop."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # This Llama gives the model, vocabulary, chat template and context settings; its own
        # small context stays idle (the decode loop has the sequences' contexts).
        self._llm = Llama(model_path=str(self.gguf), n_ctx=512, n_threads=self.threads,
                          n_threads_batch=self.threads, verbose=False)
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelUnavailable(f"{self.gguf.name} has no chat template: set RAG_LLM__BACKEND=transformers")
        model = self._llm._model
        # The same formatter llama-cpp-python builds from the GGUF for create_chat_completion.
        self._format = Jinja2ChatFormatter(template=template, eos_token=model.token_get_text(model.token_eos()),
                                           bos_token=model.token_get_text(model.token_bos()),
                                           stop_token_ids=[model.token_eos()])
        self._loop = DecodeLoop(self._llm, self.slots, self.context_window)

    @property
    def widest_step(self) -> int:
        """The most answers one decode step has carried so far (0 before the first)."""
        return self._loop.widest_step if self._loop is not None else 0

    def close(self) -> None:
        """Stop the decode loop and free its context (a later question loads the model again)."""
        with self._loading:
            if self._loop is not None:
                self._loop.close()
                self._loop, self._llm, self._loaded = None, None, False

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The prompt as the model's chat template renders it, tokenised (special tokens parsed)."""
        self._ensure_loaded()
        rendered = self._format(messages=self.messages(prompt))
        return self._llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special,
                                  special=True)

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the answer's pieces; setting `stop` ends the generation after the next token."""
        tokens = self.prompt_tokens(prompt)
        assert self._loop is not None
        yield from self._loop.generate(tokens, max_tokens, stop)


def from_settings(settings: Settings) -> LlamaCppGenerator:
    """The registry's factory for RAG_LLM__BACKEND=llamacpp (a GGUF model only)."""
    source = resolve_llm(settings.llm.model, settings.llm.gguf_file)
    if not source.gguf_file:
        raise ModelUnavailable(f"the llamacpp backend runs GGUF files; {settings.llm.model!r} is not one: set "
                               "RAG_LLM__GGUF_FILE to the .gguf in that folder, or RAG_LLM__BACKEND=transformers")
    adapter = resolve_adapter(settings.llm.adapter, settings.llm.model)
    gguf = Path(source.model) / source.gguf_file
    weights = settings.llm.llamacpp_weights
    if weights != "original" or adapter is not None:
        # An adapter is merged into dequantized weights, then written as float16 or Q8_0
        # (merged into the shipped 4-bit blocks it would be lost).
        gguf = widened_gguf(source, settings.model_cache_dir, adapter, "f16" if weights == "original" else weights)
    return LlamaCppGenerator(gguf, settings.llm.threads, settings.llm.context_window or 8192, adapter=adapter,
                             slots=settings.llm.batch_slots)
