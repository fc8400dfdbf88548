"""Retrieval over a collection: filters first, then dense (FAISS), lexical (FTS5 BM25) or both fused."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rag.config import RetrievalSettings
from rag.embedding import Embedder
from rag.errors import InvalidInput
from rag.store.base import Store
from rag.store.vectors import VectorIndexes
from rag.text import STOPWORDS
from rag.types import Filters, ScoredChunk

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
_ATTEMPTS = 5
_TOKEN = re.compile(r"\w+", re.UNICODE)


class Retriever(Protocol):
    """Finds the chunks of a collection most relevant to a query."""

    def retrieve(self, collection: str, query: str, k: int, filters: Filters = Filters(),
                 mode: str = "hybrid") -> list[ScoredChunk]:
        """At most `k` chunks passing `filters`, best first; raises NotFound / InvalidInput."""

    def generation(self, collection: str, min_generation: int | None = None) -> int:
        """The collection's generation a query reads now (at least `min_generation`, else NotCaughtUp)."""


_R = RetrievalSettings.model_fields  # the one source of the defaults below


@dataclass(frozen=True)
class FusionConfig:
    """How dense and lexical rankings are combined in hybrid mode.

    method "convex": alpha * dense + (1 - alpha) * lexical, each min-max normalised over the
    candidates; "rrf": sum of 1 / (rrf_k + rank). Defaults chosen on conflicts-train (EVALUATION.md).
    """

    method: Literal["convex", "rrf"] = _R["fusion"].default
    alpha: float = _R["alpha"].default
    rrf_k: int = 60
    candidates: int = _R["fusion_candidates"].default
    # Leave English function words out of the lexical query: they match most chunks, so
    # FTS5 had to score nearly the whole collection for every question, for almost no BM25
    # weight (EVALUATION.md and BENCHMARKS.md measure both).
    lexical_stopwords: bool = _R["lexical_stopwords"].default

    @classmethod
    def from_settings(cls, retrieval: RetrievalSettings) -> "FusionConfig":
        """The fusion of RAG_RETRIEVAL__FUSION / ALPHA / FUSION_CANDIDATES / LEXICAL_STOPWORDS."""
        return cls(method=retrieval.fusion, alpha=retrieval.alpha, candidates=retrieval.fusion_candidates,
                   lexical_stopwords=retrieval.lexical_stopwords)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _lexical_pool() -> ThreadPoolExecutor:
    """Threads shared by all retrievers for the lexical side of a query."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")
        return _POOL


class HybridRetriever:
    """Dense (MiniLM cosine, exact FAISS), lexical (FTS5 BM25), or both fused."""

    def __init__(self, store: Store, indexes: VectorIndexes, embedder: Embedder,
                 fusion: FusionConfig = FusionConfig(), wait_s: float = 5.0):
        """`wait_s`: how long `generation` waits for a `min_generation` (RAG_REPLICA__WAIT_S)."""
        self.store = store
        self.indexes = indexes
        self.embedder = embedder
        self.fusion = fusion
        self.wait_s = wait_s

    def generation(self, collection: str, min_generation: int | None = None) -> int:
        """The generation a query of the collection reads now: this replica's index snapshot,
        brought to the database's; with `min_generation`, at least that (NotCaughtUp after
        waiting `wait_s`). NotFound for an unknown collection."""
        return self.indexes.require(self.store.collection_id(collection), min_generation, self.wait_s)

    def retrieve(self, collection: str, query: str, k: int, filters: Filters = Filters(),
                 mode: str = "hybrid") -> list[ScoredChunk]:
        """At most `k` chunks passing `filters`, best first; re-searched if a write lands mid-query.

        `score` is the mode's ranking score, `relevance` the exact query cosine. Raises
        InvalidInput for an unknown mode and NotFound for an unknown collection.
        """
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}")
        collection_id = self.store.collection_id(collection)  # NotFound for an unknown collection
        terms = _TOKEN.findall(query.lower())
        if self.fusion.lexical_stopwords:
            terms = [t for t in terms if t not in STOPWORDS] or terms
        n = max(k, self.fusion.candidates) if mode == "hybrid" else k
        # BM25 does not need the query vector: it runs in another thread while the question
        # is embedded and searched in FAISS (SQLite and ONNX Runtime both release the GIL),
        # so a hybrid query costs the slower side, not the sum (BENCHMARKS.md, retrieval).
        early_lexical = (_lexical_pool().submit(self.store.lexical_search, collection_id, terms, n, filters)
                         if mode != "dense" else None)
        vector = self.embedder.embed_query(query)
        for attempt in range(_ATTEMPTS):
            cosines: dict[int, float] = {}  # exact cosine per candidate, filled as it is computed
            # Restrict the scan before ranking, so a strict filter still yields k permitted hits.
            allowed = self.store.allowed_chunk_ids(collection_id, filters) if filters.active else None
            dense = self.indexes.search(collection_id, vector, n, allowed) if mode != "lexical" else []
            if early_lexical is not None and attempt == 0:
                lexical = early_lexical.result()
            else:
                lexical = self.store.lexical_search(collection_id, terms, n, filters) if mode != "dense" else []
            if mode == "dense":
                ranked = dense[:k]
            elif mode == "lexical":
                ranked = lexical[:k]
            else:
                ranked = self._fuse(dense, lexical, vector, cosines)[:k]
            rows = self.store.load_chunks([cid for cid, _ in ranked])
            if all(cid in rows for cid, _ in ranked):
                break
            # A write committed between the index search and the SQLite read: search again in
            # the newer snapshot, so the query sees the new state whole instead of a gap.
        cosines.update(dense)
        relevance = self._cosines(vector, [cid for cid, _ in ranked if cid in rows], cosines)
        return [ScoredChunk(*rows[cid], score=score, relevance=relevance.get(cid))
                for cid, score in ranked if cid in rows]

    def _fuse(self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
              vector: np.ndarray, cosines: dict[int, float]) -> list[tuple[int, float]]:
        if self.fusion.method == "rrf":
            scores: dict[int, float] = {}
            for ranking in (dense, lexical):
                for rank, (cid, _) in enumerate(ranking, start=1):
                    scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.fusion.rrf_k + rank)
        else:
            # Exact cosine for every candidate (lexical-only ones too), so no candidate is
            # scored 0 on the dense side just because it fell outside the dense top-n.
            ids = list(dict.fromkeys([cid for cid, _ in dense] + [cid for cid, _ in lexical]))
            cos = self._cosines(vector, ids, dict(dense))
            cosines.update(cos)  # reused for the relevance of the results: no second read
            lex = dict(lexical)
            d_norm = _minmax({cid: cos.get(cid, 0.0) for cid in ids})
            l_norm = _minmax({cid: lex.get(cid, 0.0) for cid in ids}) if lex else {}
            a = self.fusion.alpha
            scores = {cid: a * d_norm[cid] + (1 - a) * l_norm.get(cid, 0.0) for cid in ids}
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))

    def _cosines(self, vector: np.ndarray, ids: Sequence[int], known: dict[int, float]) -> dict[int, float]:
        missing = [cid for cid in ids if cid not in known]
        out = {cid: known[cid] for cid in ids if cid in known}
        for cid, emb in self.store.chunk_embeddings(missing).items():
            out[cid] = float(np.dot(emb, vector))  # inner product = cosine on normalised vectors
        return out


def _minmax(scores: dict[int, float]) -> dict[int, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo < 1e-12:
        return {cid: 1.0 for cid in scores}
    return {cid: (v - lo) / (hi - lo) for cid, v in scores.items()}
