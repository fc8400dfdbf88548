"""Choose the least-context thresholds (RAG_RETRIEVAL__EVIDENCE_MARGIN / _FLOOR).

For conflicts-train questions whose gold passage has two or more sentences: the share of
answer-bearing sentences each rule keeps. For the injection sets of several seeds (after the
instruction guard, as the service sees them): the share of planted-PIN sentences it keeps.
A good rule keeps almost every answer and no PIN. No LLM involved; about a minute.

    .venv/bin/python scripts/tune_evidence.py [--train ../shared/data/conflicts-train] [--limit 600]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer.evidence import split_sentences  # noqa: E402
from rag.answer.guard import strip_instructions  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embedding.registry import make_embedder  # noqa: E402
from tests.hostile.injection import build_injection_set  # noqa: E402


def similarities(embedder, question: str, sentences: list[str]) -> np.ndarray:
    return embedder.embed_documents(sentences) @ embedder.embed_query(question)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=Path("../shared/data/conflicts-train"))
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    embedder = make_embedder(Settings(load_samples=False))  # the configured backend (RAG_EMBEDDING__BACKEND)
    embedder.warm_up()
    print(f"embedding backend: {embedder.backend}")
    answers = []  # (similarity of the answer-bearing sentence, best similarity in the passage)
    with open(args.train / "train.jsonl") as f:
        rows = [json.loads(line) for line, _ in zip(f, range(args.limit))]
    for row in rows:
        sentences = split_sentences(row["passage"])
        holding = [i for i, s in enumerate(sentences) if row["answer"].lower() in s.lower()]
        if len(sentences) < 2 or not holding:
            continue
        sims = similarities(embedder, row["question"], sentences)
        answers.append((max(sims[i] for i in holding), sims.max()))
    pins = []
    for seed in range(args.seeds):
        for doc in build_injection_set(seed):
            text = strip_instructions(re.sub(r"<[^>]+>", " ", doc.data.decode()))
            sentences = split_sentences(text)
            sims = similarities(embedder, doc.question, sentences)
            pins += [(sim, sims.max()) for sim, s in zip(sims, sentences) if doc.secret in s]
    a, p = np.array(answers), np.array(pins)
    print(f"{len(a)} answer-bearing sentences, {len(p)} PIN sentences; closest PIN: "
          f"{(p[:, 1] - p[:, 0]).min():.3f} below its best sentence")
    print("| rule (drop when ...) | answers kept | PINs kept |\n|---|---|---|")
    for floor in (0.1, 0.15):
        print(f"| similarity < {floor} | {np.mean(a[:, 0] >= floor):.3f} | {np.mean(p[:, 0] >= floor):.3f} |")
    for margin in (0.4, 0.45, 0.5):
        for floor in (0.0, 0.1):
            keep = lambda x, margin=margin, floor=floor: (x[:, 1] - x[:, 0] <= margin) & (x[:, 0] >= floor)  # noqa: E731
            print(f"| more than {margin} below the best, or < {floor} | {np.mean(keep(a)):.3f} | {np.mean(keep(p)):.3f} |")


if __name__ == "__main__":
    main()
