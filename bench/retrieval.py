"""Retrieval at scale: hybrid query latency on synthetic collections, the HNSW index
against exact search, and FAISS's OpenMP threads on single queries."""

from __future__ import annotations

import os
import random
import time

import numpy as np

from bench.common import CONFLICTS, pct
from lab.evaluation import Dataset
from rag.bootstrap import Runtime, index_policy
from rag.config import Settings
from rag.store.records import DocumentWrite
from rag.types import ChunkDraft, Filters

_VOCAB = None


def _text(rng: random.Random, words: int) -> str:
    global _VOCAB
    if _VOCAB is None:
        ds = Dataset.load(CONFLICTS)
        _VOCAB = sorted({w for d in list(ds.corpus.values())[:2000] for w in d["text"].split() if w.isalpha()})
    return " ".join(rng.choice(_VOCAB) for _ in range(words))


def build_synthetic(runtime: Runtime, collection: str, size: int, seed: int = 0) -> None:
    """`size` chunks of ~120 words with random unit 384-d vectors, in 1,000-chunk documents
    committed 100 documents at a time, as one bulk load (VectorIndexes.bulk: the FAISS cache
    is brought forward once at the end instead of copied and saved per commit)."""
    with runtime.indexes.bulk():
        _write_synthetic(runtime, collection, size, seed)


def _write_synthetic(runtime: Runtime, collection: str, size: int, seed: int) -> None:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    per_doc, per_write = 1000, 100_000
    for batch in range(0, size, per_write):
        writes, all_vectors = [], []
        for start in range(batch, min(batch + per_write, size), per_doc):
            n = min(per_doc, size - start)
            drafts = [ChunkDraft(_text(rng, 120), i, None, None, 160) for i in range(n)]
            vectors = nrng.standard_normal((n, runtime.embedder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            all_vectors.append(vectors)
            writes.append(DocumentWrite(
                document_id=f"doc_syn{size}_{start}", name=f"syn-{start}.txt", source="bench",
                content_hash=f"h{start}", config_hash="bench", size=0, mime_type="text/plain", metadata={},
                chunks=drafts, embeddings=vectors))
        write = runtime.store.replace_documents(collection, writes)
        runtime.indexes.apply(write, np.concatenate(all_vectors))


def bench_retrieval(runtime: Runtime, size: int, queries: list[str]) -> dict:
    collection = f"bench-syn-{size}"
    started = time.perf_counter()
    build_synthetic(runtime, collection, size)
    build_s = time.perf_counter() - started
    # The first stage (hybrid search and fetch), without the reranker that reads its candidates.
    first_stage = getattr(runtime.service.retriever, "inner", runtime.service.retriever)
    for q in queries[:5]:  # warm caches
        first_stage.retrieve(collection, q, 5, Filters(), "hybrid")
    latencies = []
    for q in queries:
        t = time.perf_counter()
        first_stage.retrieve(collection, q, 5, Filters(), "hybrid")
        latencies.append((time.perf_counter() - t) * 1000)
    cid = runtime.store.collection_id(collection)
    kind = next(st.kind for st in runtime.indexes.states() if st.collection_id == cid)
    lexical = []  # the lexical mode alone (the query is still embedded): where the time goes
    for q in queries:
        t = time.perf_counter()
        first_stage.retrieve(collection, q, 5, Filters(), "lexical")
        lexical.append((time.perf_counter() - t) * 1000)
    return {"chunks": size, "build_s": round(build_s, 1), "queries": len(queries),
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "index": kind,
            "lexical_p50_ms": pct(lexical, 50), "store": runtime.store.dialect}


def bench_ann(size: int, queries: int = 200, seed: int = 1) -> dict:
    """The service's HNSW index (rag.store.faiss_index, default RAG_INDEX__* settings) against
    its exact Flat index on clustered synthetic vectors: recall@10, speed, build time and
    memory, with an efSearch sweep; then the same after a fifth of the vectors are replaced
    (tombstones, as document updates leave them)."""
    import faiss

    from rag.store.faiss_index import AnnParams, FaissIndex

    ann = index_policy(Settings()).ann
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, 384)).astype(np.float32)
    data = centres[rng.integers(0, 200, size)] + 0.6 * rng.standard_normal((size, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    q = data[rng.integers(0, size, queries)] + 0.1 * rng.standard_normal((queries, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ids = np.arange(size)
    flat = FaissIndex.new(384, "flat")
    flat.add(ids, data)

    def timed(index: FaissIndex) -> tuple[float, list[set[int]]]:
        t = time.perf_counter()
        found = [{i for i, _ in index.search(q[n:n + 1], 10)[0]} for n in range(queries)]
        return (time.perf_counter() - t) * 1000 / queries, found

    flat_ms, exact = timed(flat)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # the service builds with all cores
    t = time.perf_counter()
    hnsw = FaissIndex.new(384, "hnsw", ann)
    hnsw.add(ids, data)
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)  # and searches with one (RAG_RETRIEVAL__FAISS_THREADS)

    def recall(found: list[set[int]], truth: list[set[int]]) -> float:
        return round(float(np.mean([len(f & e) / 10 for f, e in zip(found, truth)])), 4)

    sweep = {}
    for ef in sorted({64, 128, ann.ef_search, 512}):
        hnsw.ann = AnnParams(ann.m, ann.ef_construction, ef)
        ms, found = timed(hnsw)
        sweep[str(ef)] = {"ms_per_query": round(ms, 3), "recall_at_10": recall(found, exact)}
    hnsw.ann = ann
    flat_bytes, hnsw_bytes = flat.serialized_bytes(), hnsw.serialized_bytes()
    # Replace a fifth of the vectors: HNSW hides the old ones (tombstones), Flat deletes them.
    replaced = rng.choice(size, size // 5, replace=False)
    new_ids = np.arange(size, size + len(replaced))
    fresh = data[replaced] + 0.05 * rng.standard_normal((len(replaced), 384)).astype(np.float32)
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    for index in (flat, hnsw):
        index.remove(replaced.tolist())
        index.add(new_ids, fresh)
    _, exact_after = timed(flat)
    ms_after, found_after = timed(hnsw)
    per_million = 1_000_000 / size / 2**20
    return {"vectors": size, "flat_ms_per_query": round(flat_ms, 3),
            "hnsw_ms_per_query": sweep[str(ann.ef_search)]["ms_per_query"], "hnsw_build_s": round(build_s, 1),
            "hnsw_M": ann.m, "efConstruction": ann.ef_construction, "efSearch": ann.ef_search,
            "recall_at_10": sweep[str(ann.ef_search)]["recall_at_10"], "sweep": sweep,
            "tombstones": hnsw.tombstones, "recall_at_10_with_tombstones": recall(found_after, exact_after),
            "hnsw_ms_per_query_with_tombstones": round(ms_after, 3),
            "flat_mb_per_million": round(flat_bytes * per_million),
            "hnsw_mb_per_million": round(hnsw_bytes * per_million)}


def bench_faiss_threads(size: int = 100_000, queries: int = 100) -> dict:
    """Single-query exact search with 1 and 2 OpenMP threads (ms/query)."""
    import faiss

    rng = np.random.default_rng(2)
    data = rng.standard_normal((size, 384)).astype(np.float32)
    index = faiss.IndexFlatIP(384)
    index.add(data)
    out = {}
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        t = time.perf_counter()
        for i in range(queries):
            index.search(data[i:i + 1], 10)
        out[str(threads)] = round((time.perf_counter() - t) * 1000 / queries, 2)
    faiss.omp_set_num_threads(1)
    return out
