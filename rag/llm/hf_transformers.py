"""The transformers backend: greedy decoding with PyTorch, any Hugging Face causal LM."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.llm.base import BaseGenerator, Prompt
from rag.llm.gguf import converted_llm_dir
from rag.models import resolve_adapter, resolve_llm


class TransformersGenerator(BaseGenerator):
    """Greedy decoding with a Hugging Face causal LM loaded from a local folder."""

    backend = "transformers"

    def __init__(self, model_dir: Path | str, threads: int | None = None, adapter: Path | None = None):
        super().__init__(model_dir, threads, adapter)  # adapter: a peft LoRA folder merged at load
        self._model: Any = None
        self._tokenizer: Any = None
        # One generation at a time: on two cores parallel generations only slow each other
        # down (the llama.cpp backend batches them instead).
        self._busy = threading.Lock()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.threads:
            torch.set_num_threads(self.threads)
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
        if self.adapter is not None:
            from peft import PeftModel

            # Merged once, so answering costs exactly what the base model costs.
            model = PeftModel.from_pretrained(model, str(self.adapter)).merge_and_unload()
        self._model = model
        self._model.eval()
        self.context_window = int(getattr(model.config, "max_position_embeddings", None) or self.context_window)

    def _encode(self, prompt: Prompt):
        return self._tokenizer.apply_chat_template(
            self.messages(prompt), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the greedy answer's pieces; `stop`, or closing the iterator, ends it after the next token.

        One generation at a time; an error in the decoding thread is re-raised here.
        """
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        abandoned = threading.Event()

        class _Stop(StoppingCriteria):
            # Checked after every token: a disconnected client (stop) or a caller that
            # stopped reading (abandoned) ends the generation and frees the model.
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return abandoned.is_set() or (stop is not None and stop.is_set())

        self._ensure_loaded()
        with self._busy:
            inputs = self._encode(prompt)
            streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.inference_mode():
                        self._model.generate(
                            **inputs, max_new_tokens=max_tokens, do_sample=False,
                            streamer=streamer, stopping_criteria=StoppingCriteriaList([_Stop()]),
                            pad_token_id=self._tokenizer.eos_token_id,
                        )
                except BaseException as exc:  # surfaced to the caller below
                    errors.append(exc)
                    streamer.end()

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:
                abandoned.set()
                worker.join()
            if errors:
                raise errors[0]


def llm_dir(settings: Settings) -> Path | str:
    """A loadable model folder: GGUF sources are converted once and cached under data/."""
    source = resolve_llm(settings.llm.model, settings.llm.gguf_file)
    if source.gguf_file:
        return converted_llm_dir(source, settings.model_cache_dir)
    return source.model


def from_settings(settings: Settings) -> TransformersGenerator:
    """The registry's factory for RAG_LLM__BACKEND=transformers."""
    adapter = resolve_adapter(settings.llm.adapter, settings.llm.model)
    return TransformersGenerator(llm_dir(settings), settings.llm.threads, adapter)
