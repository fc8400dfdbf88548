"""Retrieval over a collection: filters first, then dense (FAISS) ranking."""

from __future__ import annotations

from typing import Protocol

from rag.embedding import Embedder
from rag.store.sqlite import SQLiteStore
from rag.store.vectors import VectorIndexes
from rag.types import Filters, ScoredChunk


_ATTEMPTS = 5


class Retriever(Protocol):
    """Finds the chunks of a collection most relevant to a query."""

    def retrieve(self, collection: str, query: str, k: int, filters: Filters) -> list[ScoredChunk]: ...


class DenseRetriever:
    """Cosine similarity of MiniLM embeddings, exact search in FAISS."""

    def __init__(self, store: SQLiteStore, indexes: VectorIndexes, embedder: Embedder):
        self.store = store
        self.indexes = indexes
        self.embedder = embedder

    def retrieve(self, collection: str, query: str, k: int, filters: Filters = Filters()) -> list[ScoredChunk]:
        info = self.store.get_collection(collection)  # NotFound for an unknown collection
        allowed = None
        if filters.document_ids is not None or filters.metadata:
            # Restrict the scan before ranking, so a strict filter still yields k permitted hits.
            allowed = self.store.allowed_chunk_ids(info.id, filters.document_ids, filters.metadata)
        vector = self.embedder.embed_query(query)
        for _ in range(_ATTEMPTS):
            hits = self.indexes.search(info.id, vector, k, allowed)
            rows = self.store.load_chunks([chunk_id for chunk_id, _ in hits])
            if all(cid in rows for cid, _ in hits):
                break
            # A write committed between the FAISS search and the SQLite read: search again in
            # the newer snapshot, so the query sees the new state whole instead of a gap.
            if allowed is not None:
                allowed = self.store.allowed_chunk_ids(info.id, filters.document_ids, filters.metadata)
        return [ScoredChunk(*rows[cid], score=score) for cid, score in hits if cid in rows]
