"""Embedding: the Embedder protocol, its base class, and one module per backend.

Backends are chosen by name (RAG_EMBEDDING__BACKEND) through `rag.embedding.registry`.
"""

from rag.embedding.base import BaseEmbedder, Embedder, WordPieceCounter

__all__ = ["BaseEmbedder", "Embedder", "WordPieceCounter"]
