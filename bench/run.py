"""`make bench`: measure Groundwork on this machine and write BENCHMARKS.json / BENCHMARKS.md.

Every section states its data, settings and the command. Absolute times depend on the
(shared, noisy) machine; ratios are measured within one run. Sections that need a peer
environment not built yet (LangChain, llama.cpp, ONNX) report null and say so.

    .venv/bin/python bench/run.py [--quick] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.pipeline import IncomingFile  # noqa: E402
from rag.bootstrap import Runtime, build_runtime  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation import Dataset  # noqa: E402
from rag.store.sqlite import DocumentWrite  # noqa: E402
from rag.types import ChunkDraft, Filters  # noqa: E402

WORK = ROOT / "data" / "bench"
CONFLICTS = ROOT.parent / "shared" / "data" / "conflicts"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def machine() -> dict:
    import faiss
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next(int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "faiss": faiss.__version__,
            "torch_threads": torch.get_num_threads()}


# -- ingestion -------------------------------------------------------------------------

def bench_ingest(runtime: Runtime, docs: int) -> dict:
    """End-to-end ingest of conflicts passages as text files, and the bare embedding bound."""
    ds = Dataset.load(CONFLICTS)
    files = [IncomingFile(f"{cid}.txt", (d.get("title", "") + "\n\n" + d["text"]).encode())
             for cid, d in list(ds.corpus.items())[:docs]]
    started = time.perf_counter()
    outcomes = runtime.ingestor.ingest_many("bench-ingest", files)
    elapsed = time.perf_counter() - started
    chunks = sum(o.chunks for o in outcomes)
    with runtime.store.snapshot() as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM chunks WHERE collection_id = "
                                            "(SELECT id FROM collections WHERE name = 'bench-ingest')")]
    started = time.perf_counter()
    runtime.embedder.embed_documents(texts)
    embed_s = time.perf_counter() - started
    return {"documents": len(files), "chunks": chunks, "seconds": round(elapsed, 2),
            "documents_per_s": round(len(files) / elapsed, 2), "chunks_per_s": round(chunks / elapsed, 2),
            "embed_bound_chunks_per_s": round(len(texts) / embed_s, 2),
            "fraction_of_embed_bound": round((chunks / elapsed) / (len(texts) / embed_s), 3)}


# -- retrieval at scale ----------------------------------------------------------------

_VOCAB = None


def _text(rng: random.Random, words: int) -> str:
    global _VOCAB
    if _VOCAB is None:
        ds = Dataset.load(CONFLICTS)
        _VOCAB = sorted({w for d in list(ds.corpus.values())[:2000] for w in d["text"].split() if w.isalpha()})
    return " ".join(rng.choice(_VOCAB) for _ in range(words))


def build_synthetic(runtime: Runtime, collection: str, size: int, seed: int = 0) -> None:
    """`size` chunks of ~120 words with random unit 384-d vectors, in 1,000-chunk documents."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    per_doc = 1000
    for start in range(0, size, per_doc):
        n = min(per_doc, size - start)
        drafts = [ChunkDraft(_text(rng, 120), i, None, None, 160) for i in range(n)]
        vectors = nrng.standard_normal((n, runtime.embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        write = runtime.store.replace_documents(collection, [DocumentWrite(
            document_id=f"doc_syn{size}_{start}", name=f"syn-{start}.txt", source="bench", content_hash=f"h{start}",
            config_hash="bench", size=0, mime_type="text/plain", metadata={}, chunks=drafts, embeddings=vectors)])
        runtime.indexes.apply(write, vectors)


def bench_retrieval(runtime: Runtime, size: int, queries: list[str]) -> dict:
    collection = f"bench-syn-{size}"
    started = time.perf_counter()
    build_synthetic(runtime, collection, size)
    build_s = time.perf_counter() - started
    for q in queries[:5]:  # warm caches
        runtime.service.retriever.retrieve(collection, q, 5, Filters(), "hybrid")
    latencies = []
    for q in queries:
        t = time.perf_counter()
        runtime.service.retriever.retrieve(collection, q, 5, Filters(), "hybrid")
        latencies.append((time.perf_counter() - t) * 1000)
    return {"chunks": size, "build_s": round(build_s, 1), "queries": len(queries),
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}


def bench_ann(size: int, queries: int = 200, seed: int = 1) -> dict:
    """HNSW against exact (Flat) search on clustered synthetic vectors: recall@10 and speed."""
    import faiss

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, 384)).astype(np.float32)
    data = centres[rng.integers(0, 200, size)] + 0.6 * rng.standard_normal((size, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    q = data[rng.integers(0, size, queries)] + 0.1 * rng.standard_normal((queries, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(384)
    flat.add(data)
    t = time.perf_counter()
    _, exact = flat.search(q, 10)
    flat_ms = (time.perf_counter() - t) * 1000 / queries
    hnsw = faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    t = time.perf_counter()
    hnsw.add(data)
    build_s = time.perf_counter() - t
    hnsw.hnsw.efSearch = 64
    t = time.perf_counter()
    _, approx = hnsw.search(q, 10)
    hnsw_ms = (time.perf_counter() - t) * 1000 / queries
    recall = float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)]))
    return {"vectors": size, "flat_ms_per_query": round(flat_ms, 3), "hnsw_ms_per_query": round(hnsw_ms, 3),
            "hnsw_build_s": round(build_s, 1), "hnsw_M": 32, "efSearch": 64, "recall_at_10": round(recall, 4)}


# -- generation and answers --------------------------------------------------------------

def bench_generation(runtime: Runtime, prompts: int = 8, max_tokens: int = 64) -> dict:
    """Prefill speed, decode speed and time to first token of the service's generator, on
    the service's prompt with one conflicts passage."""
    import torch

    from rag.grounding import build_prompt

    gen = runtime.generator
    gen.warm_up()
    ds = Dataset.load(CONFLICTS)
    qids = list(ds.qrels)[:prompts]
    prefill, decode, ttft = [], [], []
    for qid in qids:
        passage = ds.corpus[next(iter(ds.qrels[qid]))]["text"]
        prompt = build_prompt(ds.queries[qid]["text"], [passage])
        inputs = gen._encode(prompt)
        n_prompt = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            t = time.perf_counter()
            gen._model(**inputs)
            prefill_s = time.perf_counter() - t
            prefill.append(n_prompt / prefill_s)
            t = time.perf_counter()
            out = gen._model.generate(**inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens,
                                      do_sample=False, pad_token_id=gen._tokenizer.eos_token_id)
            decode.append((out.shape[1] - n_prompt) / max(1e-6, time.perf_counter() - t - prefill_s))
        t = time.perf_counter()
        stream = gen.generate(prompt, max_tokens)
        next(stream, None)  # what a streaming client waits for
        ttft.append((time.perf_counter() - t) * 1000)
        for _ in stream:
            pass
    return {"prompts": len(qids), "max_new_tokens": max_tokens,
            "prompt_tokens_per_s": round(statistics.median(prefill), 1),
            "gen_tokens_per_s": round(statistics.median(decode), 1),
            "ttft_ms_p50": pct(ttft, 50)}


def bench_answers(runtime: Runtime, questions: int) -> dict:
    """Single-client answer latency over conflicts questions (top-5 retrieval, <= 64 tokens)."""
    ds = Dataset.load(CONFLICTS)
    collection = "bench-answers"
    qids = list(ds.qrels)[:questions]
    gold = {c for q in qids for c in ds.qrels[q]}
    others = [c for c in ds.corpus if c not in gold][: 2000 - len(gold)]
    files = [IncomingFile(f"{c}.txt", ds.corpus[c]["text"].encode()) for c in sorted(gold) + others]
    runtime.ingestor.ingest_many(collection, files)
    latencies = []
    for qid in qids:
        t = time.perf_counter()
        runtime.service.ask(collection, ds.queries[qid]["text"], top_k=5, max_tokens=64)
        latencies.append((time.perf_counter() - t) * 1000)
    return {"questions": len(qids), "corpus_passages": len(files), "p50_ms": pct(latencies, 50),
            "p95_ms": pct(latencies, 95)}


def bench_warm_start(data_dir: Path) -> dict:
    """Seconds from `rag serve` on an existing data directory to /health answering 200."""
    from tests.server import free_port

    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_LOAD_SAMPLES": "false"}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
            if proc.poll() is not None or time.perf_counter() - t > 300:
                raise RuntimeError("server did not start")
        return {"seconds": round(time.perf_counter() - t, 2)}
    finally:
        proc.terminate()
        proc.wait(30)


# -- report -------------------------------------------------------------------------------

NOT_BUILT = "not measured yet: the peer environment is not built by `make bench` yet"


def write_reports(results: dict, command: str) -> None:
    r = results
    flat = {
        "ingest_speedup_vs_langchain": None,
        "ingest_fraction_of_embed_bound": r["ingest"]["fraction_of_embed_bound"],
        "embed_onnx_speedup": None,
        "embed_onnx_ndcg_delta": None,
        "gen_tokens_per_s": r["generation"]["gen_tokens_per_s"],
        "gen_tokens_per_s_llamacpp": None,
        "retrieval_p50_ms_100k": r["retrieval"].get("100000", {}).get("p50_ms"),
        "retrieval_p95_ms_100k": r["retrieval"].get("100000", {}).get("p95_ms"),
        "answer_p50_ms": r["answers"]["p50_ms"],
        "answer_p95_ms": r["answers"]["p95_ms"],
        "ann_recall_at_10": r["ann"]["recall_at_10"],
        "warm_start_s": r["warm_start"]["seconds"],
    }
    payload = {**flat, "command": command, "machine": r["machine"], "details": r,
               "null_means": NOT_BUILT}
    (ROOT / "BENCHMARKS.json").write_text(json.dumps(payload, indent=2) + "\n")
    rows = "\n".join(f"| {size} | {v['build_s']} | {v['p50_ms']} | {v['p95_ms']} |" for size, v in r["retrieval"].items())
    m, ing, gen, ans, ann = r["machine"], r["ingest"], r["generation"], r["answers"], r["ann"]
    md = f"""# Benchmarks

Made by `{command}` (≈ 15 min) on {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB RAM;
Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, faiss {m['faiss']}.
The machine is shared and noisy: compare ratios within one run. Raw figures:
[BENCHMARKS.json](BENCHMARKS.json). Tests never assert times.

## Ingestion (end to end vs the bare embedder)
{ing['documents']} passages of `../shared/data/conflicts` as text files through the real pipeline
(type detection, parser worker, chunking, embedding, SQLite + FAISS):
**{ing['documents_per_s']} documents/s, {ing['chunks_per_s']} chunks/s**. The embedder alone on the same
{ing['chunks']} chunks: {ing['embed_bound_chunks_per_s']} chunks/s, so the pipeline runs at
**{ing['fraction_of_embed_bound']:.0%} of its embedding bound**.
The LangChain peer (DirectoryLoader + unstructured, RecursiveCharacterTextSplitter,
HuggingFaceEmbeddings, FAISS.from_documents) is not run yet: `ingest_speedup_vs_langchain` is null.

## Retrieval latency at scale (query embedding + hybrid search + fetch, top 5)
Synthetic chunks: ~120 words each drawn from the conflicts vocabulary (for FTS5), random
unit 384-d vectors; {r['queries']} conflicts questions as queries; exact FAISS (Flat).

| chunks | build (s) | p50 (ms) | p95 (ms) |
|---|---|---|---|
{rows}

## Approximate index
{ann['vectors']:,} clustered synthetic vectors, 200 queries: exact Flat {ann['flat_ms_per_query']} ms/query;
HNSW (M={ann['hnsw_M']}, efSearch={ann['efSearch']}) {ann['hnsw_ms_per_query']} ms/query, built in {ann['hnsw_build_s']} s,
**recall@10 {ann['recall_at_10']}** against exact. (The service still uses Flat for every size.)

## Generation (SmolLM2-135M, transformers fp32, the service's generator)
{gen['prompts']} prompts as the service builds them (one conflicts passage), {gen['max_new_tokens']} new tokens:
prefill **{gen['prompt_tokens_per_s']} tokens/s**, decode **{gen['gen_tokens_per_s']} tokens/s**,
time to first token p50 {gen['ttft_ms_p50']} ms. llama.cpp is not run yet (`gen_tokens_per_s_llamacpp` null).

## Answers end to end (single client, in process)
{ans['questions']} conflicts questions over {ans['corpus_passages']} passages, top-5 retrieval, answers
≤ 64 tokens, default settings (adapter on): **p50 {ans['p50_ms']} ms, p95 {ans['p95_ms']} ms**.

## Warm start
`rag serve` on the benchmark's data directory (models cached, indexes on disk) until
`/health` answers 200: **{r['warm_start']['seconds']} s**.

## Not measured yet
LangChain ingestion peer, ONNX int8 embedder, llama.cpp generation, 1M chunks, and 8
concurrent clients: their keys in BENCHMARKS.json are null.
"""
    (ROOT / "BENCHMARKS.md").write_text(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--ingest-docs", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--answers", type=int, default=30)
    parser.add_argument("--ann-size", type=int, default=100_000)
    args = parser.parse_args()
    command = "make bench"
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    models = ROOT / "data" / "models"
    if models.is_dir():
        from tests.server import link_model_cache
        link_model_cache(models, WORK)
    runtime = build_runtime(Settings(data_dir=WORK, load_samples=False, run_jobs=False))
    ds = Dataset.load(CONFLICTS)
    queries = [ds.queries[q]["text"] for q in list(ds.qrels)[: args.queries]]
    results: dict = {"machine": machine(), "queries": len(queries)}
    print("ingest ...", flush=True)
    results["ingest"] = bench_ingest(runtime, args.ingest_docs)
    print(results["ingest"], flush=True)
    results["retrieval"] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"retrieval {size} ...", flush=True)
        results["retrieval"][str(size)] = bench_retrieval(runtime, size, queries)
        print(results["retrieval"][str(size)], flush=True)
    print("ann ...", flush=True)
    results["ann"] = bench_ann(args.ann_size)
    print(results["ann"], flush=True)
    print("generation ...", flush=True)
    results["generation"] = bench_generation(runtime)
    print(results["generation"], flush=True)
    print("answers ...", flush=True)
    results["answers"] = bench_answers(runtime, args.answers)
    print(results["answers"], flush=True)
    runtime.parser.close()
    runtime.store.close()
    print("warm start ...", flush=True)
    results["warm_start"] = bench_warm_start(WORK)
    print(results["warm_start"], flush=True)
    write_reports(results, command)


if __name__ == "__main__":
    main()
