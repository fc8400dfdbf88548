"""Embedders: sentence-transformers for real use; all return L2-normalised float32 rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns text into normalised vectors."""

    dimension: int
    max_tokens: int  # the longest input (word pieces) the model reads
    model_path: str
    backend: str  # "torch" or "onnx-int8"

    def warm_up(self) -> None: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def count_word_pieces(tokenizer, text: str) -> int:
    """Word pieces the model sees, without [CLS]/[SEP] (chunk budgets are counted in these)."""
    return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model) on the CPU."""

    def __init__(self, model_path: str, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_path = model_path
        self.backend = "torch"
        self.batch_size = batch_size
        self._model = None
        self.dimension = 0
        self.max_tokens = 0

    def warm_up(self) -> None:
        """Load the model (once)."""
        if self._model is not None:
            return
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)

    @property
    def model(self):
        if self._model is None:
            raise RuntimeError("call warm_up() first")
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        return count_word_pieces(self.tokenizer, text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]
