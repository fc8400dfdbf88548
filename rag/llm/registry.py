"""LLM backends by name: a new backend is one module with `from_settings` and one line here."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import Settings
from rag.llm import hf_transformers, llamacpp, openai_engine
from rag.llm.base import Generator
from rag.models import resolve_llm

GENERATORS: dict[str, Callable[[Settings], Generator]] = {
    "llamacpp": llamacpp.from_settings,
    "transformers": hf_transformers.from_settings,
    "openai": openai_engine.from_settings,
}


def backend_name(settings: Settings) -> str:
    """The backend that runs: "auto" means llama.cpp for a GGUF, transformers otherwise."""
    if settings.llm.backend != "auto":
        return settings.llm.backend
    return "llamacpp" if resolve_llm(settings.llm.model, settings.llm.gguf_file).gguf_file else "transformers"


def make_generator(settings: Settings) -> Generator:
    """The configured LLM backend (not yet loaded); see LLMSettings.backend."""
    return GENERATORS[backend_name(settings)](settings)
