"""The reader: find the sentence that holds the answer, and make sure the answer carries it.

A 135M model given a whole chunk often restates the question's subject and stops before the
value ("Oat flour [1].") or invents one. So the reader (1) scores every sentence, list line
and table field of the evidence with the reranker and shows the LLM the chunk's title and
the best of them; (2) after generation checks that the answer carries the value: a word of
the answer-bearing sentence that the question does not contain, and no number the evidence
does not contain. When it does not (or the model refused although the evidence is
relevant), the answer becomes a faithful extract of the answer-bearing sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.grounding import is_refusal
from rag.retrieval.rerank import Reranker
from rag.text import content_words, sentences
from rag.types import ScoredChunk

_CITE = re.compile(r"\s*\[\d{1,3}\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A value-like token: has a digit, or is an e-mail address or a code with a dash.
_VALUE = re.compile(r"\S*\d\S*|\S+@\S+|\b[A-Z]+-[A-Z0-9-]+\b")
_FIELD = re.compile(r";\s+(?=[^;:]{1,60}:\s)")  # "header: value; header: value" records


@dataclass(frozen=True)
class Reading:
    """What the reader chose in one evidence chunk: the text shown to the LLM and the
    answer-bearing unit (sentence, list line or table field) with its score."""

    hit: ScoredChunk
    shown: str
    bearing: str
    score: float


def units(text: str) -> list[str]:
    """Candidate answer-bearing units of a chunk: sentences and lines, and the fields of
    `header: value; ...` table records (the first field, the row's name, stays with each)."""
    out: list[str] = []
    for line in sentences(text):
        fields = _FIELD.split(line)
        if len(fields) > 2 and all(":" in f for f in fields):
            out += [fields[0]] + [f"{fields[0]}; {f}" for f in fields[1:]]
        else:
            out.append(line)
    return out


def _title(hit: ScoredChunk) -> str | None:
    section = hit.chunk.section
    return section if section and hit.chunk.text.startswith(section) else None


class Reader:
    """Chooses answer-bearing sentences with the reranker and checks answers against them."""

    def __init__(self, reranker: Reranker, max_units: int = 1):
        self.reranker = reranker
        self.max_units = max_units

    def read(self, question: str, hits: Sequence[ScoredChunk]) -> list[Reading]:
        """One Reading per hit, best unit first within each; hits keep their order."""
        readings = []
        for hit in hits:
            title = _title(hit)
            candidates = [u for u in units(hit.chunk.text) if u != title] or [hit.chunk.text]
            scores = self.reranker.score(question, candidates)
            order = np.argsort(-scores, kind="stable")[: self.max_units]
            # Shown in document order, under the chunk's title: where the passage comes from.
            chosen = [candidates[i] for i in sorted(order)]
            shown = "\n".join(([title] if title else []) + chosen)
            best = int(order[0])
            readings.append(Reading(hit, shown, candidates[best], float(scores[best])))
        return readings

    @staticmethod
    def carries_value(answer: str, question: str, reading: Reading) -> bool:
        """True when the answer holds a word of the answer-bearing unit that the question does
        not, every number it states is in the evidence, and (where the unit has value-like
        tokens: numbers, codes, addresses) at least one of those."""
        text = _CITE.sub("", answer)
        if not text.strip() or is_refusal(text):
            return False
        asked = content_words(question)
        value_words = content_words(reading.bearing) - asked
        said = content_words(text)
        if not value_words or not (said & value_words):
            return False
        evidence_numbers = {_norm_number(n) for n in _NUMBER.findall(reading.hit.chunk.text)}
        if any(_norm_number(n) not in evidence_numbers for n in _NUMBER.findall(text)):
            return False  # a number the documents do not state: invented
        values = {v.lower().strip(".,;:()") for v in _VALUE.findall(reading.bearing)}
        values -= {w.lower() for w in _VALUE.findall(question)}
        return not values or any(v in text.lower() for v in values if v)

    @staticmethod
    def extract(reading: Reading, n: int) -> str:
        """The answer-bearing unit itself, cited as passage `n`: a faithful extract instead of
        a fragment."""
        unit = reading.bearing.strip().lstrip("-*• ").strip()
        if not unit.endswith((".", "!", "?")):
            unit += "."
        return unit[:-1] + f" [{n}]" + unit[-1]


def _norm_number(text: str) -> str:
    # 2,450 and 2450 are one number; a trailing ".00" is not a different price.
    plain = text.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text) else text.replace(",", ".")
    return re.sub(r"\.0+$", "", plain)
