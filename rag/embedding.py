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


class WordPieceCounter:
    """Word pieces the model sees, without [CLS]/[SEP] (chunk budgets are counted in these).

    Counts with a private copy of the model's fast tokenizer. A Hugging Face fast tokenizer
    keeps its truncation and padding switches in shared state and sets them on every call:
    counting (no truncation, no padding) in the ingest thread while another thread embeds
    (padding, truncation) handed the embedder unpadded rows ("ValueError: setting an array
    element with a sequence"). This copy is configured once and never changed again, so any
    number of threads may use it.
    """

    def __init__(self, tokenizer):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._slow = tokenizer if backend is None else None  # a Python tokenizer has no such state
        self._fast = None
        if backend is not None:
            from tokenizers import Tokenizer

            self._fast = Tokenizer.from_str(backend.to_str())
            self._fast.no_truncation()
            self._fast.no_padding()

    def __call__(self, text: str) -> int:
        if self._fast is not None:
            return len(self._fast.encode(text, add_special_tokens=False).ids)
        return len(self._slow(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model) on the CPU."""

    def __init__(self, model_path: str, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_path = model_path
        self.backend = "torch"
        self.batch_size = batch_size
        self._model = None
        self._counter: WordPieceCounter | None = None
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
        self._counter = WordPieceCounter(self._model.tokenizer)

    @property
    def model(self):
        if self._model is None:
            raise RuntimeError("call warm_up() first")
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            raise RuntimeError("call warm_up() first")
        return self._counter(text)

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
