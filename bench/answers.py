"""Answers end to end: in process with one client, and against `rag serve` with concurrent
clients; starting the server also gives the startup times."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.common import CONFLICTS, pct, repeated
from ingest.pipeline import IncomingFile
from lab.evaluation import Dataset
from rag.bootstrap import Runtime
from tests.server import Server


def answers_corpus(runtime: Runtime, questions: int) -> list[str]:
    """Ingest the gold passages of the first `questions` conflicts questions plus other
    passages (2,000 in all) into `bench-answers`; return the questions."""
    ds = Dataset.load(CONFLICTS)
    qids = list(ds.qrels)[:questions]
    gold = {c for q in qids for c in ds.qrels[q]}
    others = [c for c in ds.corpus if c not in gold][: 2000 - len(gold)]
    files = [IncomingFile(f"{c}.txt", ds.corpus[c]["text"].encode()) for c in sorted(gold) + others]
    runtime.ingestor.ingest_many("bench-answers", files)
    return [ds.queries[q]["text"] for q in qids]


def bench_answers(runtime: Runtime, questions: list[str]) -> dict:
    """Single-client answer latency in process (top-5 retrieval, <= 64 tokens)."""
    latencies = []
    for q in questions:
        t = time.perf_counter()
        runtime.service.ask("bench-answers", q, top_k=5, max_tokens=64)
        latencies.append((time.perf_counter() - t) * 1000)
    return {"questions": len(questions), "corpus_passages": 2000, "p50_ms": pct(latencies, 50),
            "p95_ms": pct(latencies, 95)}


def start_server(data_dir: Path) -> tuple[Server, float]:
    """`rag serve` on a data directory, and the seconds until /health answered."""
    started = time.perf_counter()
    server = Server(data_dir, RAG_LOAD_SAMPLES="false").start(timeout=600, poll_s=0.05)
    return server, round(time.perf_counter() - started, 2)


def bench_concurrent(server: Server, questions: list[str], clients: int,
                     alone: dict[str, str] | None = None) -> dict:
    """`clients` threads asking the running server over loopback, each its share of the
    questions; per-request latency as each client sees it (queueing included). With `alone`
    (each question's answer when asked one at a time), the share of answers that are the same."""
    latencies: list[float] = []
    statuses: list[int] = []
    answers: dict[str, str] = {}
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        for q in mine:
            t = time.perf_counter()
            status, body = server.call("POST", "/collections/bench-answers/query",
                                       {"question": q, "top_k": 5, "max_tokens": 64}, timeout=600)
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
                statuses.append(status)
                answers[q] = (body or {}).get("answer", "") if isinstance(body, dict) else ""

    threads = [threading.Thread(target=client, args=(questions[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    out = {"clients": clients, "questions": len(questions), "p50_ms": pct(latencies, 50),
           "p95_ms": pct(latencies, 95), "answers_per_s": round(len(questions) / wall, 3),
           "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))}}
    if alone is not None:
        out["same_answers_as_alone"] = round(sum(answers.get(q) == alone.get(q) for q in questions) / len(questions), 3)
    out["_answers"] = answers  # for the next call's comparison; dropped before the report
    return out


def bench_concurrency(server: Server, questions: list[str], clients: int = 8) -> dict:
    """Answers/s with one client, then with `clients` at once (three runs), on the same
    server and questions: the speed-up batching gives, and whether any answer changed."""
    one = bench_concurrent(server, questions, 1)
    alone = one.pop("_answers")
    many = repeated(lambda _: bench_concurrent(server, questions, clients, alone), "answers_per_s")
    many.pop("_answers")
    many["one_client"] = one
    many["speedup"] = round(many["answers_per_s"] / one["answers_per_s"], 2)
    return many
