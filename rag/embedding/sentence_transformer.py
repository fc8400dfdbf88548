"""The torch backend: any sentence-transformers model on the CPU (all-MiniLM-L6-v2 by default)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rag.config import Settings
from rag.embedding.base import BaseEmbedder, WordPieceCounter
from rag.models import resolve_embedding_model


class SentenceTransformerEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 (or any sentence-transformers model) on the CPU."""

    backend = "torch"

    def __init__(self, model_path: str, batch_size: int = 32):
        super().__init__(model_path, batch_size)
        self._model: Any = None

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._counter = WordPieceCounter(self._model.tokenizer)

    @property
    def model(self):
        """The loaded SentenceTransformer."""
        self._require_loaded()
        return self._model

    @property
    def tokenizer(self):
        """The model's tokenizer."""
        return self.model.tokenizer

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=len(texts), normalize_embeddings=False,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def from_settings(settings: Settings) -> SentenceTransformerEmbedder:
    """The registry's factory for RAG_EMBEDDING__BACKEND=torch."""
    return SentenceTransformerEmbedder(resolve_embedding_model(settings.embedding.model), settings.embedding.batch_size)
