"""What reaches the LLM: evidence chunks, optionally cut down to their most relevant sentences.

A 135M model is easily distracted by the rest of a passage; giving it only the sentences
most similar to the question is measured in EVALUATION.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embedding import Embedder
from rag.text import sentence_pieces
from rag.types import ScoredChunk


@dataclass(frozen=True)
class Evidence:
    """A numbered passage as shown to the LLM: the chunk it comes from and the text shown."""

    hit: ScoredChunk
    text: str


def split_sentences(text: str) -> list[str]:
    """The sentences of a chunk, as evidence selection sees them."""
    return sentence_pieces(text)[0]


def _sentence_scores(question: str, hits: Sequence[ScoredChunk], embedder: Embedder
                     ) -> tuple[list[list[str]], list[tuple[int, int]], np.ndarray]:
    """Each hit's sentences, their (hit, sentence) positions, and each one's cosine
    similarity to the question."""
    per_hit = [split_sentences(h.chunk.text) for h in hits]
    positions = [(i, j) for i, sentences in enumerate(per_hit) for j in range(len(sentences))]
    if not positions:
        return per_hit, positions, np.zeros(0, dtype=np.float32)
    vectors = embedder.embed_documents([per_hit[i][j] for i, j in positions])
    return per_hit, positions, vectors @ embedder.embed_query(question)


def _shown(hits: Sequence[ScoredChunk], chosen: dict[int, set[int]]) -> list[Evidence]:
    return [Evidence(hits[i], _join(hits[i].chunk.text, chosen[i])) for i in range(len(hits)) if i in chosen]


def _join(text: str, keep: set[int]) -> str:
    # Adjacent kept sentences keep the text's own line and paragraph breaks between them
    # (a small model answers differently when a document's layout is flattened).
    sentences, gaps = sentence_pieces(text)
    out, previous = "", None
    for k in sorted(keep):
        if out:
            out += gaps[k] if previous == k - 1 else " "
        out += sentences[k]
        previous = k
    return out


def best_sentences(question: str, hits: Sequence[ScoredChunk], embedder: Embedder,
                   max_sentences: int, neighbours: int = 0) -> list[Evidence]:
    """Keep the `max_sentences` sentences most similar to the question (across the hits),
    each with `neighbours` sentences either side, in document order; drop hits left empty."""
    per_hit, positions, scores = _sentence_scores(question, hits, embedder)
    chosen: dict[int, set[int]] = {}
    for idx in np.argsort(-scores)[:max_sentences]:
        i, j = positions[int(idx)]
        for k in range(j - neighbours, j + neighbours + 1):
            if 0 <= k < len(per_hit[i]):
                chosen.setdefault(i, set()).add(k)
    return _shown(hits, chosen)


def relevant_sentences(question: str, hits: Sequence[ScoredChunk], embedder: Embedder,
                       margin: float, floor: float) -> list[Evidence]:
    """Drop only the sentences that have nothing to do with the question: those whose
    similarity is more than `margin` below the best sentence's, or below `floor`.

    Least context: a sentence about something else (a PIN beside the office number that was
    asked for) cannot leak into the answer if the model never sees it. The best sentence is
    always kept; hits left empty are dropped.
    """
    per_hit, positions, scores = _sentence_scores(question, hits, embedder)
    if not positions:
        return []
    best = float(scores.max())
    chosen: dict[int, set[int]] = {}
    for (i, j), score in zip(positions, scores):
        if score >= best or (score >= best - margin and score >= floor):
            chosen.setdefault(i, set()).add(j)
    return _shown(hits, chosen)
