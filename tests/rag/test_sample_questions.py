"""Reworded questions about data/samples/, asked through the HTTP API with the default
settings: an answerable one is right when its value is in the answer and the right document
is cited; one the samples do not answer is right when it is refused.

The questions (tests/rag/sample_questions.json) were written in a colleague's words, not
copied from the documents; near misses are among the unanswerable ones (Kestrel 3.1's price,
a Kestrel 4.0 release, the Lisbon showroom's door code).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from rag.answer.grounding import is_refusal
from rag.bootstrap import Runtime

QUESTIONS = json.loads((Path(__file__).parent / "sample_questions.json").read_text())
COLLECTION = "reworded-samples"
RIGHT_AT_LEAST = 33


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def test_the_question_set_is_large_enough() -> None:
    answerable = [q for q in QUESTIONS if q["answers"]]
    assert len(answerable) >= 30 and len(QUESTIONS) - len(answerable) >= 6


def test_reworded_sample_questions_are_answered_right_or_refused_right(client: TestClient, runtime: Runtime) -> None:
    files = [("files", (p.name, p.read_bytes())) for p in sorted(runtime.settings.samples_dir.iterdir())]
    assert client.post(f"/collections/{COLLECTION}/documents?wait=true", files=files).status_code == 200
    wrong = []
    for q in QUESTIONS:
        body = client.post(f"/collections/{COLLECTION}/query", json={"question": q["question"]}).json()
        answer = body["answer"]
        if q["answers"]:
            cited = {c["document_name"] for c in body["citations"] if c["supported"]}
            ok = any(_plain(a) in _plain(answer) for a in q["answers"]) and q["source"] in cited
        else:
            ok = is_refusal(answer)
        if not ok:
            wrong.append((q["question"], answer))
    # The goal is every question right; measured on 2026-12-01 with the shipped
    # reranker, fused ordering and the name check: 35 of 48 (EVALUATION.md, "The sample
    # questions", lists the misses). This floor keeps most of what was reached; it is not the goal.
    right = len(QUESTIONS) - len(wrong)
    print(f"sample questions: {right} of {len(QUESTIONS)} right; wrong: {wrong}")
    assert right >= RIGHT_AT_LEAST, f"{right} of {len(QUESTIONS)} right; wrong:\n" + "\n".join(
        f"{question!r} -> {answer!r}" for question, answer in wrong)
