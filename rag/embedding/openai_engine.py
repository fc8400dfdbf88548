"""The `openai` embedder: vectors from an OpenAI-compatible /v1/embeddings server (TEI, vLLM,
Ollama, or another Groundwork), in batches of RAG_EMBEDDING__BATCH_SIZE texts.

The dimension is the length of the server's first vector (read at warm-up). Chunk budgets are
still counted in the packaged MiniLM's word pieces: the remote model's tokenizer is not known
here, and the default budget (200) stays well inside what embedding servers read (512).
A change of RAG_EMBEDDING__MODEL changes the config hash, so the next sync re-embeds.
"""

from __future__ import annotations

import numpy as np

from rag.config import Settings
from rag.embedding.base import BaseEmbedder, WordPieceCounter
from rag.engines import Engine
from rag.errors import EngineUnavailable
from rag.models import resolve_embedding_model

# The input length assumed of the remote model (word pieces of the packaged tokenizer).
REMOTE_MAX_TOKENS = 512


class OpenAIEmbedder(BaseEmbedder):
    """Embeddings from an engine; normalised here, whatever the engine does."""

    backend = "openai"

    def __init__(self, engine: Engine, model: str, batch_size: int = 32):
        super().__init__(f"{engine.url} ({model})", batch_size)
        self.engine = engine
        self.model = model

    def _load(self) -> None:
        """Read the dimension from the engine (one short request) and load the local counter."""
        from transformers import AutoTokenizer

        self._counter = WordPieceCounter(
            AutoTokenizer.from_pretrained(resolve_embedding_model("default"), local_files_only=True))
        self.max_tokens = REMOTE_MAX_TOKENS
        self.dimension = int(self._request(["What is the dimension of these vectors?"]).shape[1])

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._request(texts)

    def _request(self, texts: list[str]) -> np.ndarray:
        with self.engine.failures("embedding text"):
            response = self.engine.client.embeddings.create(model=self.model, input=texts, encoding_format="float")
            rows = sorted(response.data, key=lambda item: item.index)
            vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or (self.dimension and vectors.shape[1] != self.dimension):
            shape = "x".join(str(n) for n in vectors.shape)
            raise EngineUnavailable(
                f"the embedding engine at {self.engine.url} answered {shape} numbers for {len(texts)} texts of "
                f"dimension {self.dimension or 'any'}; if its model changed, restart Groundwork to re-read it")
        self.engine.mark_reachable()
        return vectors


def from_settings(settings: Settings) -> OpenAIEmbedder:
    """The registry's factory for RAG_EMBEDDING__BACKEND=openai."""
    e = settings.embedding
    return OpenAIEmbedder(Engine("embedding", "RAG_EMBEDDING", e), e.model, e.batch_size)
