"""Generation weights: answers from the 8-bit (Q8_0) copy against the float16 copy.

The same questions go through the whole answer path twice (retrieval, reranker, reader,
generator, value check), once with each copy of the merged model; only the generator
differs. Three sets: conflicts questions over the bench-answers corpus (their gold passages
among 2,000), the reworded sample questions over data/samples, and the office set's dev
half. An answer counts as equal when its text is the same, character for character.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import ROOT
from ingest.pipeline import IncomingFile
from lab.office_eval import COLLECTION as OFFICE_COLLECTION
from lab.office_eval import ingest_documents, load_questions
from rag.bootstrap import Runtime, build_runtime
from rag.llm.llamacpp import from_settings

OFFICE = ROOT / "data" / "eval" / "office"
SAMPLE_QUESTIONS = ROOT / "tests" / "rag" / "sample_questions.json"


def _question_sets(runtime: Runtime, conflicts: list[str], scratch: Path) -> dict[str, tuple[str, list[str]]]:
    samples = sorted(runtime.settings.samples_dir.iterdir())
    runtime.ingestor.ingest_many("bench-samples", [IncomingFile(p.name, p.read_bytes()) for p in samples])
    ingest_documents(runtime, OFFICE, scratch)
    return {
        "conflicts": ("bench-answers", conflicts),
        "samples": ("bench-samples", [q["question"] for q in json.loads(SAMPLE_QUESTIONS.read_text())]),
        "office_dev": (OFFICE_COLLECTION, [q["question"] for q in load_questions(OFFICE, "dev")]),
    }


def bench_weights(runtime: Runtime, conflicts: list[str], scratch: Path, candidate: str = "q8_0") -> dict:
    """Ask every question with the float16 generator and with `candidate`'s; per set, the
    share of equal answers, and the seconds each copy took."""
    sets = _question_sets(runtime, conflicts, scratch)
    answers: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for weights in ("f16", candidate):
        settings = runtime.settings.model_copy(
            update={"llm": runtime.settings.llm.model_copy(update={"llamacpp_weights": weights})})
        generator = from_settings(settings)
        generator.warm_up()
        other = build_runtime(settings, generator=generator, embedder=runtime.embedder, parser=runtime.parser,
                              reranker=runtime.reranker)
        started = time.perf_counter()
        answers[weights] = {name: [other.service.ask(collection, q).text for q in questions]
                            for name, (collection, questions) in sets.items()}
        seconds[weights] = round(time.perf_counter() - started, 1)
        generator.close()
        other.store.close()
    per_set = {}
    for name in sets:
        pairs = list(zip(answers["f16"][name], answers[candidate][name]))
        per_set[name] = {"questions": len(pairs), "equal": sum(a == b for a, b in pairs),
                         "differing": [{"f16": a, candidate: b} for a, b in pairs if a != b][:5]}
    total = sum(s["questions"] for s in per_set.values())
    equal = sum(s["equal"] for s in per_set.values())
    return {"candidate": candidate, "questions": total, "equal_share": round(equal / total, 4),
            "sets": per_set, "seconds": seconds}
