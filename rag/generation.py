"""LLM backends: the Generator protocol and the transformers backend (llama.cpp: rag.llamacpp_generation)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    """A chat prompt: the system rules and the user turn (passages + question)."""

    system: str
    user: str


class Generator(Protocol):
    """Streams the text of an answer."""

    model_dir: str  # where the weights come from (shown by /health)
    backend: str  # "transformers" or "llamacpp"
    adapter: Path | None  # a merged LoRA adapter, if any

    @property
    def ready(self) -> bool: ...

    def warm_up(self) -> None: ...

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]: ...


class TransformersGenerator:
    """Greedy decoding with a Hugging Face causal LM loaded from a local folder."""

    def __init__(self, model_dir: Path | str, threads: int | None = None, adapter: Path | None = None):
        self.model_dir = str(model_dir)
        self.backend = "transformers"
        self.threads = threads
        self.adapter = adapter  # a peft LoRA folder merged into the weights at load
        self._model = None
        self._tokenizer = None
        # Two cores: parallel generations would only slow each other down.
        self._busy = threading.Lock()
        self._loading = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._model is not None

    def warm_up(self) -> None:
        """Load the model and tokenizer (once)."""
        with self._loading:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
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

    def _encode(self, prompt: Prompt):
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        return self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        abandoned = threading.Event()

        class _Stop(StoppingCriteria):
            # Checked after every token: a disconnected client (stop) or a caller that
            # stopped reading (abandoned) ends the generation and frees the model.
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return abandoned.is_set() or (stop is not None and stop.is_set())

        if self._model is None:
            self.warm_up()  # RAG_LLM__PRELOAD=false: load at the first question
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
