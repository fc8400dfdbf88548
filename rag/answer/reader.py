"""The reader: find the sentence that holds the answer, and make sure the answer carries it.

A 135M model given a whole chunk often restates the question's subject and stops before the
value ("Oat flour [1].") or invents one. So the reader (1) scores every sentence, list line
and table field of the evidence with the reranker and shows the LLM the chunk's title and
the best three of them (the answer-bearing units); (2) after generation checks that the
answer carries the value: a word of those units that the question does not contain, no
number the evidence does not contain, and one of their value-like tokens (numbers, codes,
addresses) where they have any. When it does not (or the model refused although the
evidence is relevant), the answer becomes a faithful extract of the answer-bearing units.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.answer_type import MONTHS, VERSION, expected_value
from rag.answer.grounding import is_refusal
from rag.answer.guard import MARKER, strip_instructions
from rag.embedding import Embedder
from rag.retrieval.rerank import Reranker
from rag.text import content_words, record_fields, sentences
from rag.types import ScoredChunk

_CITE = re.compile(r"\s*\[\d{1,3}\]")
# A number, with its decimals, thousands and the minutes of a time ("21:00" is one value: its
# "21" must not pass for the "21" of "21 April").
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# A value-like token: has a digit, or is an e-mail address or a code with a dash.
_VALUE = re.compile(r"\S*\d\S*|\S+@\S+|\b[A-Z]+-[A-Z0-9-]+\b")
# A heading that dates or versions what is under it ("Version 4.3.1 - 9 March 2026").
_RELEASE = re.compile(rf"{VERSION}|\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b", re.IGNORECASE)
# The best unit must lead the second by this much for the LLM's phrasing to be kept: when the
# reranker cannot tell which unit holds the value, the extract of all of them is the answer
# (office dev half, value right: 0.548 keeping every phrasing that passed the check, 0.595
# with a margin of 0.3, 0.619 with 0.6, 0.643 with the extract always; 0.6 keeps the short
# phrasing where the reranker is sure and costs 0.024 against always extracting).
MIN_MARGIN = 0.6


@dataclass(frozen=True)
class Unit:
    """A candidate answer-bearing piece of a chunk: a sentence or list line, or one field of
    a table record (`row` is then the record's first field, its name, and `scored` the text
    the reranker reads: the row's name and the field)."""

    text: str
    row: str | None = None

    @property
    def scored(self) -> str:
        """What the reranker scores."""
        return f"{self.row}; {self.text}" if self.row and self.row != self.text else self.text


@dataclass(frozen=True)
class Reading:
    """What the reader chose in one evidence chunk: the text shown to the LLM, the
    answer-bearing units (the best `max_units`, in document order) and the best score."""

    hit: ScoredChunk
    shown: str
    bearing: str
    score: float
    values: str = ""  # the best unit without its row's name: where the value must come from
    margin: float = 1.0  # how far the best unit's score is above the second best's
    # The chunk's title when it versions or dates what is under it ("Version 4.3.1 - 9 March
    # 2026" over the fixes of that release): the extract keeps it, so it names the release.
    heading: str | None = None


def units(text: str) -> list[Unit]:
    """Candidate answer-bearing units of a chunk: sentences and lines, and the fields of
    `header: value; ...` table records (each field with the row's name)."""
    out: list[Unit] = []
    for line in sentences(text):
        fields = record_fields(line)
        if fields:
            out += [Unit(f, fields[0]) for f in fields]
        else:
            out.append(Unit(line))
    return out


def join_units(chosen: Sequence[Unit]) -> str:
    """Units in document order as text: the fields of one row after the row's name, once."""
    lines: list[str] = []
    row: str | None = None
    for unit in chosen:
        if unit.row is None:
            lines.append(unit.text)
        elif unit.row == row:
            lines[-1] += f"; {unit.text}" if unit.text != unit.row else ""
        else:
            lines.append(unit.row if unit.text == unit.row else f"{unit.row}; {unit.text}")
        row = unit.row
    return " ".join(lines)


def _title(hit: ScoredChunk) -> str | None:
    section = hit.chunk.section
    return section if section and hit.chunk.text.startswith(section) else None


class Reader:
    """Chooses answer-bearing units with the reranker and checks answers against them."""

    def __init__(self, reranker: Reranker, embedder: Embedder, max_units: int = 3, margin: float = 0.5,
                 floor: float = 0.1):
        self.reranker = reranker
        self.embedder = embedder
        self.max_units = max_units
        # Least context, as RAG_RETRIEVAL__EVIDENCE=relevant: a unit whose cosine similarity
        # to the question is under `floor`, or more than `margin` below the best unit's, is
        # never shown nor extracted (the vault PIN beside the office number that was asked).
        self.margin = margin
        self.floor = floor

    def read(self, question: str, hits: Sequence[ScoredChunk]) -> list[Reading]:
        """One Reading per hit; hits keep their order."""
        readings = []
        asked = content_words(question)
        # A question that says what kind of value it wants ("What time ...?") is answered by a
        # unit holding one: when some units do, the others go after them.
        kind = expected_value(question)
        for hit in hits:
            title = _title(hit)
            # Units come from the passage as the LLM sees it: instruction-like sentences are
            # already replaced (rag.answer.guard), so neither the prompt nor an extract has them.
            guarded = strip_instructions(hit.chunk.text)
            candidates = [u for u in units(guarded) if u.text != title and MARKER not in u.text]
            candidates = self._related(question, candidates) or [Unit(title or hit.chunk.text)]
            scores = self.reranker.score(question, [u.scored for u in candidates])
            # A unit whose every word is in the question (a heading, the row's location when
            # the question names it) cannot hold the value: it goes last.
            scores = np.where([bool(content_words(u.text) - asked) for u in candidates], scores, scores - 2.0)
            if kind is not None:
                holds = [bool(kind.search(u.text)) for u in candidates]
                if any(holds):
                    scores = np.where(holds, scores, scores - 1.0)
            # The reranker ranks a sentence that names the question's subject above the one
            # after it that holds the value ("It can treat up to 68 million litres a day"):
            # on the office dev half the best unit held the answer 15 times in 30, the best
            # three 28 times. So the best three are the answer-bearing units.
            order = np.argsort(-scores, kind="stable")[: self.max_units]
            chosen = [candidates[i] for i in sorted(order)]
            bearing = join_units(chosen)
            # Shown in document order, under the chunk's title: where the passage comes from.
            shown = "\n".join(([title] if title else []) + [bearing])
            # The LLM's answer must carry the value of the best unit; the extract, if it does
            # not, is all the answer-bearing units (the value is among them far more often).
            best = candidates[int(order[0])]
            margin = float(scores[order[0]] - scores[order[1]]) if len(order) > 1 else 1.0
            heading = title if title and _RELEASE.search(title) and title not in bearing else None
            readings.append(Reading(hit, shown, bearing, float(scores[order[0]]), best.text, margin, heading))
        return readings

    def _related(self, question: str, candidates: list[Unit]) -> list[Unit]:
        if not candidates:
            return []
        similarity = self.embedder.embed_documents([u.scored for u in candidates]) @ self.embedder.embed_query(question)
        best = float(similarity.max())
        return [u for u, s in zip(candidates, similarity)
                if s >= best or (s >= best - self.margin and s >= self.floor)]

    @staticmethod
    def carries_value(answer: str, question: str, reading: Reading) -> bool:
        """True when the answer holds a word of the best answer-bearing unit that the question
        does not, every number it states is in that unit (or the question), and (where the unit
        has value-like tokens: numbers, codes, addresses) at least one of those."""
        text = _CITE.sub("", answer)
        if not text.strip() or is_refusal(text) or reading.margin < MIN_MARGIN:
            return False
        asked = content_words(question)
        value_words = content_words(reading.values or reading.bearing) - asked
        said = content_words(text)
        if not value_words or not (said & value_words):
            return False
        evidence_numbers = {_norm_number(n) for n in _NUMBER.findall(reading.values or reading.hit.chunk.text)}
        evidence_numbers |= {_norm_number(n) for n in _NUMBER.findall(question)}
        if any(_norm_number(n) not in evidence_numbers for n in _NUMBER.findall(text)):
            return False  # a number the best unit does not state: invented or taken from elsewhere
        values = {_value_key(v) for v in _VALUE.findall(reading.values or reading.bearing)}
        values -= {_value_key(w) for w in _VALUE.findall(question)}
        said_values = {_value_key(v) for v in _VALUE.findall(text)}
        # Values are compared whole: "21:00" does not carry the "21" of "21 April".
        return not values or bool(values & said_values)

    @staticmethod
    def extract(reading: Reading, n: int) -> str:
        """The answer-bearing unit itself, cited as passage `n`: a faithful extract instead of
        a fragment."""
        unit = reading.bearing.strip().lstrip("-*• ").strip()
        if reading.heading:
            unit = f"{reading.heading.rstrip('.:')}: {unit}"
        if not unit.endswith((".", "!", "?")):
            unit += "."
        return unit[:-1] + f" [{n}]" + unit[-1]


def _value_key(token: str) -> str:
    """A value-like token as compared: lower case, outer punctuation off, numbers normalised."""
    token = token.lower().strip(".,;:()[]\"'€$£")
    return _norm_number(token) if _NUMBER.fullmatch(token) else token


def _norm_number(text: str) -> str:
    # 2,450 and 2450 are one number; a trailing ".00" is not a different price.
    plain = text.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text) else text.replace(",", ".")
    return re.sub(r"\.0+$", "", plain)
