"""Small text helpers shared by retrieval, evidence selection, the guard and grounding.

One copy of each: sentence splitting, English function words, content words.
"""

from __future__ import annotations

import re

# A sentence ends at . ! or ? followed by space; a line break also ends one (lists, tables).
_SENTENCE_OR_LINE = re.compile(r"(?<=[.!?])\s+|\n+")
# Keeps the whitespace between sentences, so kept sentences can be re-joined with the
# document's own line and paragraph breaks.
_SENTENCE_GAP = re.compile(r"(?<=[.!?])(\s+)(?=\S)")
# In generated answers a sentence also needs a capital after the break ("v. 3.2" stays whole).
_ANSWER_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[\w][\w\-./]*", re.UNICODE)

# Function words only: nothing that names a thing, so no content word is ever dropped.
STOPWORDS = frozenset(
    "a an the of to in on at by for from with and or but is are was were be been being am it its "
    "this that these those as which who whom whose what when where why how i you he she we they me "
    "him her us them my your his our their do does did done has have had having will would can "
    "could should shall may might must not no nor so than then there here if into onto about "
    "over under up down out off again very s t yes".split()
)
# The model's own framing words ("The document states that ...") are not claims.
_FRAMING = frozenset("document documents passage passages states stated according text".split())


def sentences(text: str) -> list[str]:
    """Sentences and lines of `text`, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_OR_LINE.split(text) if s.strip()]


def sentence_pieces(text: str) -> tuple[list[str], list[str]]:
    """The sentences of `text` and the whitespace before each (the first gets "")."""
    parts = _SENTENCE_GAP.split(text.strip())
    return parts[0::2], [""] + parts[1::2]


def answer_sentences(text: str) -> list[str]:
    """Sentences of a generated answer (a break needs a capital letter after it)."""
    return [s.strip() for s in _ANSWER_SENTENCE.split(text) if s.strip()]


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text` that carry meaning (no function or framing words)."""
    return {w.lower().strip(".-/") for w in _WORD.findall(text)} - STOPWORDS - _FRAMING - {""}


# A table row as ingest.tables writes it: "header: value; header: value; ...".
RECORD_FIELD = re.compile(r";\s+(?=[^;:]{1,60}:\s)")


def record_fields(line: str) -> list[str] | None:
    """The `header: value` fields of a table record line (three or more), else None."""
    fields = RECORD_FIELD.split(line)
    return fields if len(fields) > 2 and all(":" in f for f in fields) else None
