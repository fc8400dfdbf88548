"""Embedders: torch fp32 vs ONNX int8, on speed and on retrieval quality."""

from __future__ import annotations

import time

import numpy as np

from bench.common import CONFLICTS, WORK
from lab.evaluation import Dataset, retrieval_metrics
from rag.embedding.onnx_int8 import OnnxEmbedder
from rag.embedding.sentence_transformer import SentenceTransformerEmbedder
from rag.models import resolve_embedding_model


def bench_embedders(passages: int) -> dict:
    """Chunks/s of both backends on the same conflicts passages, and dense nDCG@10 of each on
    the conflicts queries (exact search over the first `passages` passages plus every gold one)."""
    ds = Dataset.load(CONFLICTS)
    gold = {c for rels in ds.qrels.values() for c in rels}
    ids = sorted(gold) + [c for c in ds.corpus if c not in gold][: max(0, passages - len(gold))]
    texts = [ds.corpus[c]["text"] for c in ids]
    qids = list(ds.qrels)
    model = resolve_embedding_model("default")
    out = {"passages": len(ids), "queries": len(qids)}
    for name, embedder in (("torch", SentenceTransformerEmbedder(model)),
                           ("onnx-int8", OnnxEmbedder(model, WORK / "models"))):
        embedder.warm_up()
        embedder.embed_documents(texts[:64])
        started = time.perf_counter()
        vectors = embedder.embed_documents(texts)
        per_s = len(texts) / (time.perf_counter() - started)
        queries = embedder.embed_documents([ds.queries[q]["text"] for q in qids])
        started = time.perf_counter()
        for q in [ds.queries[q]["text"] for q in qids[:100]]:
            embedder.embed_query(q)
        query_ms = (time.perf_counter() - started) * 10
        top = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
        ranked = {qid: [ids[j] for j in row] for qid, row in zip(qids, top)}
        out[name] = {"chunks_per_s": round(per_s, 2), "query_ms": round(query_ms, 2),
                     **retrieval_metrics(ranked, ds.qrels)}
    out["speedup"] = round(out["onnx-int8"]["chunks_per_s"] / out["torch"]["chunks_per_s"], 2)
    out["ndcg_delta"] = round(out["onnx-int8"]["ndcg@10"] - out["torch"]["ndcg@10"], 4)
    return out
