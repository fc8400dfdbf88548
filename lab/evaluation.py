"""`rag eval`: retrieval metrics and answer quality on any BEIR-layout dataset.

Like rag.bootstrap this is a composition helper: it drives the real pipeline (ingestion
through unstructured, the real retriever, the real LLM) on a scratch collection.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.pipeline import IncomingFile, document_id
from ingest.uploads import count_outcomes
from rag.answer.grounding import is_refusal
from rag.bootstrap import Runtime
from rag.retrieval.hybrid import MODES
from rag.types import Filters

KS = (1, 5, 10)


@dataclass(frozen=True)
class Dataset:
    """A BEIR dataset: corpus, queries (with optional answers) and relevance judgements."""

    name: str
    corpus: dict[str, dict[str, Any]]
    queries: dict[str, dict[str, Any]]
    qrels: dict[str, dict[str, int]]

    @classmethod
    def load(cls, folder: Path, split: str = "test") -> "Dataset":
        """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv; keeps only judged queries and grades > 0."""
        folder = Path(folder)
        corpus = {d["_id"]: d for d in _jsonl(folder / "corpus.jsonl")}
        queries = {q["_id"]: q for q in _jsonl(folder / "queries.jsonl")}
        qrels: dict[str, dict[str, int]] = {}
        with open(folder / "qrels" / f"{split}.tsv") as f:
            for i, line in enumerate(f):
                parts = line.rstrip("\n").split("\t")
                if i == 0 and parts[0] == "query-id":
                    continue
                if len(parts) >= 3 and int(parts[2]) > 0:
                    qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
        return cls(folder.name, corpus, {q: queries[q] for q in qrels if q in queries}, qrels)

    @property
    def collection(self) -> str:
        """The scratch collection this dataset is ingested into."""
        return "eval-" + "".join(c if c.isalnum() else "-" for c in self.name)[:50]

    def doc_name(self, corpus_id: str) -> str:
        """The file name a corpus document is ingested under (its id determines the document id)."""
        return f"{corpus_id}.txt"


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def ingest_dataset(runtime: Runtime, dataset: Dataset, collection: str,
                   progress: Callable[[int, int], None] | None = None, batch: int = 256) -> dict[str, int]:
    """Ingest the corpus through the real pipeline (idempotent: a re-run skips what is there)."""
    outcomes = []
    items = list(dataset.corpus.values())
    for start in range(0, len(items), batch):
        files = [IncomingFile(dataset.doc_name(d["_id"]),
                              ((d.get("title") or "") + "\n\n" + d["text"]).strip().encode(),
                              source=f"eval:{dataset.name}", metadata={"corpus_id": d["_id"]})
                 for d in items[start:start + batch]]
        outcomes += runtime.ingestor.ingest_many(collection, files)
        if progress:
            progress(min(start + batch, len(items)), len(items))
    return {status: n for status, n in count_outcomes(outcomes).items() if n}


def _ranked_docs(hits, limit: int = 10) -> list[str]:
    out: list[str] = []
    for h in hits:
        cid = h.document.metadata.get("corpus_id") or h.document.name.removesuffix(".txt")
        if cid not in out:
            out.append(cid)
        if len(out) == limit:
            break
    return out


def retrieval_metrics(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Recall@1/5/10, MRR@10, nDCG@10 averaged over queries."""
    sums = {f"recall@{k}": 0.0 for k in KS} | {"mrr@10": 0.0, "ndcg@10": 0.0}
    for qid, rels in qrels.items():
        docs = ranked.get(qid, [])
        for k in KS:
            sums[f"recall@{k}"] += len(set(docs[:k]) & set(rels)) / len(rels)
        sums["mrr@10"] += next((1.0 / (i + 1) for i, d in enumerate(docs[:10]) if d in rels), 0.0)
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:10]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rels.values(), reverse=True)[:10]))
        sums["ndcg@10"] += dcg / ideal if ideal else 0.0
    n = max(len(qrels), 1)
    return {key: round(value / n, 4) for key, value in sums.items()}


def eval_retrieval(runtime: Runtime, dataset: Dataset, collection: str, modes: Iterable[str] = MODES,
                   limit: int | None = None) -> dict[str, dict[str, float]]:
    """Retrieval metrics per first-stage mode over the first `limit` judged queries, plus
    `ms_per_query`; with the reranker on, also "hybrid+rerank" (what the service ranks by)."""
    qids = list(dataset.qrels)[:limit] if limit else list(dataset.qrels)
    service_retriever = runtime.service.retriever
    first_stage = getattr(service_retriever, "inner", service_retriever)
    runs = [(mode, first_stage, mode) for mode in modes]
    if first_stage is not service_retriever and "hybrid" in modes:
        runs.append(("hybrid+rerank", service_retriever, "hybrid"))
    results = {}
    for label, retriever, mode in runs:
        ranked = {}
        started = time.perf_counter()
        for qid in qids:
            hits = retriever.retrieve(collection, dataset.queries[qid]["text"], 20, Filters(), mode)
            ranked[qid] = _ranked_docs(hits)
        metrics = retrieval_metrics(ranked, {q: dataset.qrels[q] for q in qids})
        metrics["ms_per_query"] = round((time.perf_counter() - started) * 1000 / max(len(qids), 1), 2)
        results[label] = metrics
    return results


@dataclass
class AnswerRecord:
    """One question's outcome; `match`/`parametric` are case-insensitive substring checks."""

    qid: str
    answer: str
    refused: bool
    match: bool
    parametric: bool
    cites_gold: bool
    latency_ms: float
    top_relevance: float | None = None


@dataclass
class AnswerReport:
    """The records of an eval_answers run."""

    records: list[AnswerRecord] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Rates as fractions of all questions (citation accuracy: of answered ones), latencies in ms."""
        n = max(len(self.records), 1)
        answered = [r for r in self.records if not r.refused]
        lat = sorted(r.latency_ms for r in self.records) or [0.0]
        return {
            "questions": len(self.records),
            "match": round(sum(r.match for r in self.records) / n, 4),
            "parametric_rate": round(sum(r.parametric for r in self.records) / n, 4),
            "citation_accuracy": round(sum(r.cites_gold for r in answered) / max(len(answered), 1), 4),
            "refusal_rate": round(sum(r.refused for r in self.records) / n, 4),
            "latency_p50_ms": round(statistics.median(lat), 1),
            "latency_p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
        }


def eval_answers(runtime: Runtime, dataset: Dataset, collection: str, limit: int | None = None,
                 drop_gold: bool = False, progress: Callable[[int, int], None] | None = None) -> AnswerReport:
    """Ask every query through the real service; with drop_gold the gold passages are
    filtered out before ranking, so no question is answerable from what is retrieved."""
    qids = list(dataset.qrels)[:limit] if limit else list(dataset.qrels)
    report = AnswerReport()
    for i, qid in enumerate(qids, start=1):
        query = dataset.queries[qid]
        gold_docs = {document_id(collection, dataset.doc_name(c)) for c in dataset.qrels[qid]}
        filters = Filters(exclude_document_ids=tuple(sorted(gold_docs))) if drop_gold else Filters()
        started = time.perf_counter()
        answer = runtime.service.ask(collection, query["text"], filters=filters)
        latency = (time.perf_counter() - started) * 1000
        text = answer.text.lower()
        gold = (query.get("answer") or "").lower()
        param = (query.get("parametric_answer") or "").lower()
        match = bool(gold) and gold in text
        report.records.append(AnswerRecord(
            qid=qid, answer=answer.text, refused=is_refusal(answer.text), match=match,
            parametric=bool(param) and param in text and not match,
            cites_gold=any(c.chunk.document.id in gold_docs for c in answer.citations if c.supported),
            latency_ms=latency,
            top_relevance=max((s.relevance_or_score for s in answer.sources), default=None),
        ))
        if progress:
            progress(i, len(qids))
    return report


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per key (mode or setting), one column per metric."""
    columns = list(next(iter(rows.values())).keys()) if rows else []
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(metrics[c]) for c in columns) + " |")
    return "\n".join(lines)


# Cosine thresholds (reranker off) are around 0.45-0.5; reranker probabilities around 0.5-0.9.
REFUSAL_THRESHOLDS = (0.3, 0.4, 0.45, 0.48, 0.5, 0.53, 0.6, 0.7, 0.8, 0.9)


def refusal_curve(runtime: Runtime, dataset: Dataset, collection: str, limit: int | None = None,
                  thresholds: Iterable[float] = REFUSAL_THRESHOLDS,
                  mode: str = "hybrid") -> dict[str, dict[str, float]]:
    """For each threshold: the share of answerable questions refused (false refusal) and of
    unanswerable ones (gold filtered out) refused (correct refusal), from the top chunk's
    relevance, which is what the service thresholds before it calls the LLM."""
    qids = list(dataset.qrels)[:limit] if limit else list(dataset.qrels)
    with_gold: list[float] = []
    without_gold: list[float] = []
    k = runtime.service.options.top_k
    for qid in qids:
        text = dataset.queries[qid]["text"]
        gold = tuple(sorted(document_id(collection, dataset.doc_name(c)) for c in dataset.qrels[qid]))
        for bucket, filters in ((with_gold, Filters()), (without_gold, Filters(exclude_document_ids=gold))):
            hits = runtime.service.retriever.retrieve(collection, text, k, filters, mode)
            bucket.append(max((h.relevance_or_score for h in hits), default=-1.0))
    n = max(len(qids), 1)
    return {
        f"{t:.2f}": {"false_refusal": round(sum(r < t for r in with_gold) / n, 4),
                     "correct_refusal": round(sum(r < t for r in without_gold) / n, 4)}
        for t in thresholds
    }


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the text between <!-- name:start --> and <!-- name:end --> (append if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)
