"""The llama.cpp generator: the same GGUF as the transformers path, run by llama.cpp.

transformers dequantizes the shipped Q4_1 GGUF to fp32 and decodes it with PyTorch; on two
cores llama.cpp decodes several times faster (BENCHMARKS.md). By default it runs a float16
copy of the GGUF (rag.models.widened_gguf), since the 4-bit weights changed answers. Same
chat template (read from the GGUF), same greedy decoding, no repetition penalty, so answers
match the transformers path's closely. A LoRA adapter is merged into the float16 copy
(rag.models.lora_deltas); non-GGUF models stay on the transformers backend (rag.bootstrap
chooses).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.generation import Prompt


class LlamaCppGenerator:
    """Greedy decoding of a GGUF chat model with llama-cpp-python, one request at a time."""

    def __init__(self, gguf: Path | str, threads: int | None = None, context_tokens: int = 8192,
                 adapter: Path | None = None):
        self.gguf = Path(gguf)
        self.model_dir = str(self.gguf)
        self.backend = "llamacpp"
        self.adapter = adapter  # already merged into the GGUF's weights
        self.threads = threads or (os.cpu_count() or 1)
        self.context_tokens = context_tokens
        self._llm = None
        # llama.cpp's context is not thread-safe, and two cores gain nothing from parallel runs.
        self._busy = threading.Lock()
        self._loading = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._llm is not None

    def warm_up(self) -> None:
        """Load the GGUF (once, about a second)."""
        with self._loading:
            if self._llm is not None:
                return
            from llama_cpp import Llama

            self._llm = Llama(model_path=str(self.gguf), n_ctx=self.context_tokens, n_threads=self.threads,
                              n_threads_batch=self.threads, verbose=False)

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        if self._llm is None:
            self.warm_up()  # RAG_LLM__PRELOAD=false: load at the first question
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        with self._busy:
            stream = self._llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0,
                                                      top_k=1, repeat_penalty=1.0, stream=True)
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
