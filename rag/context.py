"""What reaches the LLM: evidence chunks, optionally cut down to their most relevant sentences.

A 135M model is easily distracted by the rest of a passage; giving it only the sentences
most similar to the question is measured in EVALUATION.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embedding import Embedder
from rag.types import ScoredChunk

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


@dataclass(frozen=True)
class Evidence:
    """A numbered passage as shown to the LLM: the chunk it comes from and the text shown."""

    hit: ScoredChunk
    text: str


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def best_sentences(question: str, hits: Sequence[ScoredChunk], embedder: Embedder,
                   max_sentences: int, neighbours: int = 0) -> list[Evidence]:
    """Keep the `max_sentences` sentences most similar to the question (across the hits),
    each with `neighbours` sentences either side, in document order; drop hits left empty."""
    per_hit = [split_sentences(h.chunk.text) or [h.chunk.text] for h in hits]
    flat = [(i, j, s) for i, sentences in enumerate(per_hit) for j, s in enumerate(sentences)]
    if not flat:
        return []
    vectors = embedder.embed_documents([s for _, _, s in flat])
    scores = vectors @ embedder.embed_query(question)
    chosen: dict[int, set[int]] = {}
    for idx in np.argsort(-scores)[:max_sentences]:
        i, j, _ = flat[int(idx)]
        for k in range(j - neighbours, j + neighbours + 1):
            if 0 <= k < len(per_hit[i]):
                chosen.setdefault(i, set()).add(k)
    return [Evidence(hits[i], " ".join(per_hit[i][k] for k in sorted(chosen[i])))
            for i in range(len(hits)) if i in chosen]
