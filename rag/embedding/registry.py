"""Embedding backends by name: a new backend is one module with `from_settings` and one line here."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import Settings
from rag.embedding import onnx_int8, openai_engine, sentence_transformer
from rag.embedding.base import Embedder

EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "torch": sentence_transformer.from_settings,
    "onnx-int8": onnx_int8.from_settings,
    "openai": openai_engine.from_settings,
}


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder (not yet warmed up)."""
    return EMBEDDERS[settings.embedding.backend](settings)
