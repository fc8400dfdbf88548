"""The Embedder protocol and the base class every backend builds on."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns text into normalised vectors."""

    dimension: int
    max_tokens: int  # the longest input (word pieces) the model reads
    model_path: str
    backend: str  # "torch", "onnx-int8" or "openai"

    def warm_up(self) -> None:
        """Load the model; idempotent and thread-safe. The other methods require it first."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimension) float32 array of L2-normalised rows, in input order."""

    def embed_query(self, text: str) -> np.ndarray:
        """One L2-normalised (dimension,) vector for a question."""

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text`, without special tokens (the unit of `max_tokens` and chunk budgets)."""


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
        """Number of word pieces in `text` (no truncation; safe from any thread)."""
        if self._fast is not None:
            return len(self._fast.encode(text, add_special_tokens=False).ids)
        return len(self._slow(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])


class BaseEmbedder:
    """What every backend shares: argument checks, a load-once warm-up under a lock, length-
    sorted batching and L2 normalisation. A backend implements `_load()` (set `dimension`,
    `max_tokens` and `_counter`) and `_encode(batch)` (raw vectors of one batch)."""

    backend = "base"

    def __init__(self, model_path: str, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_path = str(model_path)
        self.batch_size = batch_size
        self.dimension = 0
        self.max_tokens = 0
        self._counter: WordPieceCounter | None = None
        self._loaded = False
        self._loading = threading.Lock()

    def _load(self) -> None:
        raise NotImplementedError

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load the model (once; later calls return at once)."""
        with self._loading:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise RuntimeError("call warm_up() first")

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` as the model counts them (chunk budgets use this)."""
        self._require_loaded()
        assert self._counter is not None
        return self._counter(text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dimension) float32 rows, L2-normalised (inner product = cosine)."""
        self._require_loaded()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Batches of similar length waste little on padding (sentence-transformers does the same).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._encode([texts[i] for i in idx])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised vector for a question."""
        return self.embed_documents([text])[0]
