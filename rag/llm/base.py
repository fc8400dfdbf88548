"""The Generator protocol, the Prompt it takes, and the base class every backend builds on."""

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

    model_dir: str  # where the weights come from, or the engine's URL (shown by /health)
    backend: str  # "transformers", "llamacpp" or "openai"
    adapter: Path | None  # a merged LoRA adapter, if any
    context_window: int  # tokens the model reads, prompt and answer together

    @property
    def ready(self) -> bool:
        """True once the model is loaded (generation will not pay the load)."""

    def warm_up(self) -> None:
        """Load the model; idempotent and thread-safe (generate loads it otherwise)."""

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream non-empty text pieces of at most `max_tokens` new tokens; setting `stop` ends it early."""


class BaseGenerator:
    """What every backend shares: a load-once warm-up under a lock, and loading at the first
    question when preloading is off. A backend implements `_load()`."""

    backend = "base"
    # SmolLM2's trained length; a backend that knows its model's sets its own.
    context_window = 8192

    def __init__(self, model_dir: Path | str, threads: int | None = None, adapter: Path | None = None):
        self.model_dir = str(model_dir)
        self.threads = threads
        self.adapter = adapter
        self._loaded = False
        self._loading = threading.Lock()

    def _load(self) -> None:
        raise NotImplementedError

    @property
    def ready(self) -> bool:
        """True once the model is in memory."""
        return self._loaded

    def warm_up(self) -> None:
        """Load the model (once; later calls return at once)."""
        with self._loading:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.warm_up()  # RAG_LLM__PRELOAD=false: load at the first question

    @staticmethod
    def messages(prompt: Prompt) -> list[dict[str, str]]:
        """The prompt as chat messages (system, then user)."""
        return [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
