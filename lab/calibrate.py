"""`rag tune calibrate`: choose the reranker's refusal threshold as the service scores.

A training run (lab.rerank) calibrates on bare passages. The service reads each chunk alone
and under its document's title (rag.retrieval.rerank.with_document_title) and, for a
question that names something, takes the relevant chunks that mention it first
(rag.answer.names). This re-chooses the threshold on the same held-out data through the
service's own retriever: the held-out conflicts-train rows (the gold passage against its 5
nearest passages; their ids are no titles, so they score as in training) and the
calibration half of the office dev questions (never the test half). The rule is
lab.rerank.choose_threshold: most questions right with at most 10% of the answerable ones of
each kind refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.office_eval import COLLECTION, load_questions, normalise
from lab.rerank import MAX_FALSE_REFUSALS, Kind, _half, choose_threshold, threshold_figures
from lab.tuning import load_rows, nearest_passages, split_rows
from rag.answer.names import asked_names, missing_in_hits
from rag.bootstrap import Runtime
from rag.retrieval.rerank import CALIBRATION_FILE, RerankingRetriever
from rag.types import Filters


def conflicts_kind(runtime: Runtime, data: Path, holdout: int, seed: int) -> Kind:
    """Scores of the held-out conflicts-train rows (the rows `rag tune reranker` held out)."""
    retriever = runtime.service.retriever
    if not isinstance(retriever, RerankingRetriever):
        raise ValueError("the reranker is off (RAG_RERANK__MODEL=none): nothing to calibrate")
    reranker = retriever.reranker
    rows = load_rows(data)
    _, held = split_rows(len(rows), holdout, seed)
    neighbours = nearest_passages([r["passage"] for r in rows], runtime.embedder)
    kind = Kind([], [])
    for i in held:
        texts = [rows[i]["passage"]] + [rows[j]["passage"] for j in neighbours[i][:5]]
        s = reranker.score(rows[i]["question"], texts)
        kind.answerable.append(float(s[0]) if s[0] >= s[1:].max() else -1.0)
        kind.unanswerable.append(float(s[1:].max()))
    return kind


def office_kind(runtime: Runtime, office_set: Path, pool: int = 20) -> Kind:
    """Scores of the office dev questions that did not train the reranker, as the service
    ranks: the first ranked chunk that mentions every name asked (refused by the name check
    when none does), its probability; answerable ones count only if it is the right chunk."""
    kind = Kind([], [])
    for q in load_questions(office_set, "dev"):
        if _half(q["id"]) != 1:
            continue
        hits = runtime.service.retriever.retrieve(COLLECTION, q["question"], pool, Filters(), "hybrid")
        if asked_names(q["question"]):
            hits = [h for h in hits if not missing_in_hits(q["question"], [h])]
        top = hits[0] if hits else None
        if q["answerable"]:
            right = top is not None and top.document.name == q["source"] and any(
                normalise(a) in normalise(top.chunk.text) for a in q["answers"])
            kind.answerable.append(top.relevance_or_score if right and top else -1.0)
        else:
            kind.unanswerable.append(top.relevance_or_score if top else -1.0)
    return kind


def recalibrate(runtime: Runtime, conflicts: Path, office_set: Path, holdout: int = 150,
                seed: int = 13) -> dict[str, Any]:
    """The threshold and its figures per kind, as written to the reranker's calibration.json."""
    kinds = {"conflicts": conflicts_kind(runtime, conflicts, holdout, seed), "office": office_kind(runtime, office_set)}
    threshold = choose_threshold(kinds)
    return {"threshold": threshold, "max_false_refusals": MAX_FALSE_REFUSALS,
            "rule": "most right with at most max_false_refusals of the answerable of each kind refused",
            "chosen_on": f"{len(kinds['conflicts'].answerable)} held-out conflicts-train rows + "
                         f"{len(kinds['office'].answerable) + len(kinds['office'].unanswerable)} office dev "
                         "questions, scored as the service scores (titles, name check)",
            "figures": threshold_figures(kinds, threshold)}


def write_calibration(folder: Path, calibration: dict[str, Any]) -> Path:
    """Write calibration.json beside the reranker's weights."""
    path = folder / CALIBRATION_FILE
    path.write_text(json.dumps(calibration, indent=2) + "\n")
    return path
