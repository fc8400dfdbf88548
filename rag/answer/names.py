"""The names a question asks about, and whether the evidence mentions them.

The reranker reads "How much does the AquaRead S300 cost?" and the price-list row of the
S200 as a near-perfect match (0.67-0.99): the row is about a meter's price, and one
character apart from the name asked. The same for "the hotel rate in Paris" against the
row for Amsterdam. A question that names something specific (a proper name, a model or
version like S300 or 4.3.1) whose name occurs nowhere in the evidence is about something
the documents do not cover, and is refused rather than answered from a neighbour.

Plain numbers are not names ("a claim of 3,000 euros" is answered by "over 2,500 euros"),
and neither is the first word of a sentence nor the pronoun "I".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.types import ScoredChunk

# A word with a capital after its first letter position in the question, or a token that
# mixes letters and digits (S300, DN15, 4G), or a dotted version (4.3.1).
_TOKEN = re.compile(r"[A-Za-z0-9][\w\-.']*[A-Za-z0-9]|[A-Za-z0-9]")
_VERSION = re.compile(r"^\d+(\.\d+)+$")
_MIXED = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9\-.]+$")
# Capitalised words that name nothing in the documents.
_GENERIC = {"i", "i'm", "i've", "i'd", "ok", "okay", "mr", "mrs", "ms", "dr", "eur", "euro", "euros",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def asked_names(question: str) -> list[str]:
    """The specific names in `question`, in order, as written (possessive 's dropped)."""
    out: list[str] = []
    keys: set[str] = set()
    for m in _TOKEN.finditer(question):
        word = m.group(0)
        if word.lower().endswith("'s"):
            word = word[:-2]
        key = word.lower()
        if not word or key in _GENERIC:
            continue
        # A capital at the start of any sentence of the question says nothing ("... in
        # confidence. What number do I ring?").
        starts_sentence = not question[:m.start()].rstrip() or question[:m.start()].rstrip()[-1] in ".?!:;"
        named = (not starts_sentence and word[0].isupper()) or _MIXED.match(word) or _VERSION.match(word)
        if named and key not in keys:
            keys.add(key)
            out.append(word)
    return out


def missing_names(question: str, texts: Iterable[str]) -> list[str]:
    """The names the question asks about that none of `texts` mentions (whole words,
    case-insensitive)."""
    haystack = " ".join(texts).lower()
    return [name for name in asked_names(question)
            if not re.search(r"(?<![\w.])" + re.escape(name.lower()) + r"(?![\w]|\.\d)", haystack)]


def missing_in_hits(question: str, hits: Iterable[ScoredChunk]) -> list[str]:
    """The names asked that none of these chunks mentions in its text, section or document name."""
    return missing_names(question, [t for h in hits for t in (h.chunk.text, h.document.name, h.chunk.section or "")])
