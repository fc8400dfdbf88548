"""Prompt building, citation parsing, verification and attribution, and the refusal answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text import answer_sentences, content_words, sentences
from rag.types import ScoredChunk

NOT_FOUND = "I could not find the answer in the documents."
_CITE = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Grounded:
    """The answer text after grounding, and which passages (1-based) it cites."""

    text: str
    cited: list[tuple[int, str, bool]]  # (n, quote, supported)
    refused: bool


def support(claim: str, passage: str, ignore: set[str] | frozenset[str] = frozenset()) -> float:
    """Share of the claim's content words found in the passage (0..1), not counting `ignore`
    (unless the claim has no other words)."""
    words = content_words(_CITE.sub("", claim))
    words = (words - ignore) or words
    if not words:
        return 0.0
    return len(words & content_words(passage)) / len(words)


def best_quote(claim: str, passage: str, limit: int = 300) -> str:
    """The passage sentence that best supports the claim."""
    candidates = sentences(passage) or [passage]
    best = max(candidates, key=lambda s: support(claim, s) if content_words(s) else -1)
    return best[:limit]


def is_refusal(text: str) -> bool:
    """Whether the text is a "not in the documents" answer (case-insensitive phrase match)."""
    lowered = text.lower()
    return "could not find the answer" in lowered or "do not contain the answer" in lowered


def ground(answer: str, context: Sequence[ScoredChunk], min_support: float = 0.5,
           question: str = "") -> Grounded:
    """Check the answer's [n] citations against the passages; attribute uncited sentences.

    A citation to a number not in the context is removed. A sentence with no citation is
    attributed to the passage that supports it best, if support >= min_support (small models
    often answer correctly but forget the marker), and the marker is added to the text.
    Words the answer merely repeats from the question do not count towards attribution:
    every retrieved passage tends to share them; the new words (the answer) decide.
    """
    asked = content_words(question)
    text = answer.strip()
    if not text or is_refusal(text):
        return Grounded(NOT_FOUND, [], True)
    valid = range(1, len(context) + 1)
    text = _CITE.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", text)
    cited: dict[int, tuple[str, bool]] = {}
    out_sentences = []
    for sentence in answer_sentences(text):
        numbers = [int(n) for n in _CITE.findall(sentence)]
        if numbers:
            for n in numbers:
                passage = context[n - 1].chunk.text
                ok = support(sentence, passage) >= min_support
                cited.setdefault(n, (best_quote(sentence, passage), ok))
        else:
            scores = [support(sentence, hit.chunk.text, ignore=asked) for hit in context]
            if scores and max(scores) >= min_support:
                n = scores.index(max(scores)) + 1
                cited.setdefault(n, (best_quote(sentence, context[n - 1].chunk.text), True))
                sentence = _append_marker(sentence, n)
        out_sentences.append(sentence)
    return Grounded(" ".join(out_sentences), [(n, q, ok) for n, (q, ok) in sorted(cited.items())], False)


def _append_marker(sentence: str, n: int) -> str:
    match = re.search(r"[.!?]+$", sentence)
    if match:
        return sentence[: match.start()] + f" [{n}]" + sentence[match.start():]
    return sentence + f" [{n}]"
