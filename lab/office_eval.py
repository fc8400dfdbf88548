"""The office evaluation set (data/eval/office): documents in many formats, questions in a
colleague's words, scored through the real service.

Scores per question: the value is found (any accepted answer occurs in the answer text,
ignoring case, whitespace runs and thousands separators), the right document is cited (a
supported citation names the source document), and unanswerable questions are refused.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.pipeline import IncomingFile
from ingest.uploads import count_outcomes
from rag.answer.grounding import is_refusal
from rag.bootstrap import Runtime

COLLECTION = "eval-office"


def load_questions(folder: Path, split: str | None = None) -> list[dict[str, Any]]:
    """The set's questions, of one split ("dev" / "test") or all."""
    rows = [json.loads(line) for line in (Path(folder) / "questions.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all") or r["split"] == split]


def is_office_set(folder: Path) -> bool:
    """True for a folder in this set's layout (questions.jsonl and build.py), not BEIR."""
    return (Path(folder) / "questions.jsonl").exists() and (Path(folder) / "build.py").exists()


def build_documents(folder: Path, out: Path) -> list[Path]:
    """Run the set's own builder (it writes the DOCX/PDF/PPTX/XLSX files from code)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(Path(folder) / "build.py"), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return sorted(p for p in out.iterdir() if p.is_file() and not p.name.startswith("."))


def ingest_documents(runtime: Runtime, folder: Path, scratch: Path) -> dict[str, int]:
    """Build and ingest the documents into COLLECTION (a re-run skips what is there)."""
    paths = build_documents(folder, scratch)
    files = [IncomingFile(p.name, p.read_bytes(), source=f"eval:office/{p.name}") for p in paths]
    outcomes = runtime.ingestor.ingest_many(COLLECTION, files)
    failed = [f"{o.name}: {o.reason}" for o in outcomes if o.status == "failed"]
    if failed:
        raise RuntimeError("office set documents failed to ingest: " + "; ".join(failed))
    return {k: n for k, n in count_outcomes(outcomes).items() if n}


def normalise(text: str) -> str:
    """Lower case, one space for any whitespace run, no thousands separators (2,450 = 2450)."""
    text = re.sub(r"(?<=\d)[,\u202f\u00a0'](?=\d{3}\b)", "", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def value_found(answer: str, answers: list[str]) -> bool:
    """Any accepted answer occurs in the answer text."""
    said = normalise(answer)
    return any(normalise(a) in said for a in answers)


@dataclass
class OfficeRecord:
    """One question's outcome."""

    id: str
    question: str
    answerable: bool
    answer: str
    refused: bool
    value: bool
    cited_source: bool
    latency_ms: float
    top_relevance: float | None
    cited: list[str]


@dataclass
class OfficeReport:
    """The records of one run, and their summary."""

    split: str
    records: list[OfficeRecord] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Rates over answerable and unanswerable questions; latencies in ms."""
        yes = [r for r in self.records if r.answerable]
        no = [r for r in self.records if not r.answerable]
        lat = sorted(r.latency_ms for r in self.records) or [0.0]
        return {
            "answerable": len(yes),
            "unanswerable": len(no),
            "value_right": round(sum(r.value for r in yes) / max(1, len(yes)), 3),
            "source_cited": round(sum(r.cited_source for r in yes) / max(1, len(yes)), 3),
            "false_refusals": round(sum(r.refused for r in yes) / max(1, len(yes)), 3),
            "unanswerable_refused": round(sum(r.refused for r in no) / max(1, len(no)), 3),
            "latency_p50_ms": round(statistics.median(lat), 1),
        }

    def to_json(self) -> dict[str, Any]:
        """Summary and every record, for results files."""
        return {"split": self.split, "summary": self.summary(), "records": [asdict(r) for r in self.records]}


def eval_office(runtime: Runtime, folder: Path, split: str = "test",
                progress: Callable[[int, int], None] | None = None) -> OfficeReport:
    """Ask every question of `split` through the service and score it."""
    questions = load_questions(folder, split)
    report = OfficeReport(split)
    for i, q in enumerate(questions, start=1):
        started = time.perf_counter()
        answer = runtime.service.ask(COLLECTION, q["question"])
        latency = (time.perf_counter() - started) * 1000
        cited = sorted({c.chunk.document.name for c in answer.citations if c.supported})
        report.records.append(OfficeRecord(
            id=q["id"], question=q["question"], answerable=bool(q["answerable"]), answer=answer.text,
            refused=is_refusal(answer.text), value=bool(q["answerable"]) and value_found(answer.text, q["answers"]),
            cited_source=q.get("source") in cited, latency_ms=round(latency, 1),
            top_relevance=max((s.relevance_or_score for s in answer.sources),
                              default=None),
            cited=cited))
        if progress:
            progress(i, len(questions))
    return report


def candidate_chunks(runtime: Runtime, k: int = 20) -> Callable[[str], list[tuple[str, str]]]:
    """(document name, chunk text) of the fused candidates the reranker sees for a question
    (the first-stage retriever, before any reranking)."""
    retriever = getattr(runtime.service.retriever, "inner", runtime.service.retriever)

    def chunks_for(question: str) -> list[tuple[str, str]]:
        return [(h.document.name, h.chunk.text) for h in retriever.retrieve(COLLECTION, question, k)]

    return chunks_for
