"""unstructured parses every supported format offline, keeping pages and titles."""

from __future__ import annotations

import io

import openpyxl
import pytest

from ingest.filetypes import detect_kind
from ingest.parsing import normalise_text, parse
from rag.errors import ParseFailed
from tests import docs

# Runs unstructured / exports and loads the embedding model: the slow tier.
pytestmark = pytest.mark.slow


def _xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["part", "stock"])
    ws.append(["titanium dropout", 412])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    from pptx import Presentation

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "The Osprey tandem ships in May."
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


EML = (b"From: ada@example.org\r\nTo: team@example.org\r\nSubject: Rota\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe night rota starts on Monday with Bram.\r\n")

CASES = [
    ("a.md", docs.markdown("Guide", {"Keys": "The key box code is 2211."}), "MD", "2211"),
    ("a.html", docs.html("Guide", {"Keys": "The key box code is 2211."}), "HTML", "2211"),
    ("a.docx", docs.docx("Guide", {"Keys": "The key box code is 2211."}), "DOCX", "2211"),
    ("a.pdf", docs.pdf([["Intro"], ["The key box code is 2211."]]), "PDF", "2211"),
    ("a.txt", b"The key box code is 2211.\n", "TXT", "2211"),
    ("a.csv", b"item,code\nkey box,2211\n", "CSV", "2211"),
    ("a.xlsx", _xlsx(), "XLSX", "titanium dropout"),
    ("a.pptx", _pptx(), "PPTX", "Osprey"),
    ("a.eml", EML, "EML", "night rota"),
]


@pytest.mark.parametrize("name, data, kind, fact", CASES, ids=[c[0] for c in CASES])
def test_every_supported_format_parses_offline(name: str, data: bytes, kind: str, fact: str) -> None:
    # The network guard is active: a spaCy download attempt would fail this test.
    assert detect_kind(data, name).name == kind
    elements = parse(data, name, kind)
    assert any(fact in e.text for e in elements), elements


def test_pdf_keeps_page_numbers_and_titles_survive() -> None:
    pdf = parse(docs.pdf([["First page text here."], ["The key box code is 2211."]]), "p.pdf", "PDF")
    assert next(e.page for e in pdf if "2211" in e.text) == 2
    md = parse(docs.markdown("Guide", {"Keys": "The key box code is 2211."}), "g.md", "MD")
    assert ("Keys", "Title") in [(e.text, e.kind) for e in md]


def test_packaged_spacy_model_is_used() -> None:
    from unstructured.nlp import tokenize

    parse(b"Some plain sentence. Another one follows here.\n", "s.txt", "TXT")
    nlp = tokenize._get_nlp()
    assert nlp.meta["name"].startswith("core_web_sm") and nlp.meta["version"] == "3.8.0"


def test_unreadable_pdf_fails_with_a_reason() -> None:
    with pytest.raises(ParseFailed, match="x.pdf"):
        parse(b"%PDF-1.4\n%%EOF", "x.pdf", "PDF")


def test_normalise_removes_invisible_characters() -> None:
    assert normalise_text("pass\u200bword\u00ad \ufeffok\x00") == "password ok"


# A fixed corpus per format with what the narrative guess decides on: prose, short lines in
# capitals, label-like fragments, numbers, a list, a table.
_SECTIONS = {
    "Opening hours": "The workshop opens at 7:30 on weekdays. ON SATURDAYS IT OPENS AT NINE. Closed on Sundays.",
    "Contacts": "Facilities: Ada Brenner\n\nPhone 0171 224 889\n\nWrite to facilities@example.org for keys.",
    "Rules": "No food near the lathes\n\nGoggles at all times. Visitors sign in at the desk and wear a badge.",
    "Figures": "2024\n\n41.50 EUR per bag\n\nThe lead time for rye grain is ten days from the order.",
}
_PER_FORMAT = [
    ("f.html", docs.html("Workshop guide", _SECTIONS), "HTML"),
    ("f.md", docs.markdown("Workshop guide", _SECTIONS), "MD"),
    ("f.docx", docs.docx("Workshop guide", _SECTIONS), "DOCX"),
    ("f.txt", "\n\n".join(f"{k}\n\n{v}" for k, v in _SECTIONS.items()).encode(), "TXT"),
    ("f.pdf", docs.pdf([[k, *v.split("\n\n")] for k, v in _SECTIONS.items()]), "PDF"),
    ("f.eml", b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Guide\r\nContent-Type: text/html\r\n\r\n"
     + docs.html("Workshop guide", _SECTIONS), "EML"),
]


@pytest.mark.parametrize("name, data, kind", _PER_FORMAT, ids=[c[0] for c in _PER_FORMAT])
def test_chunks_are_the_same_without_the_narrative_guess(runtime, name: str, data: bytes, kind: str) -> None:
    """Switching unstructured's spaCy "narrative text" guess off (the default) changes no chunk."""
    from ingest.chunking import Chunker, ChunkerConfig
    from ingest.parsing import narrative_guess

    chunker = Chunker(runtime.embedder.count_tokens, ChunkerConfig(max_tokens=60, overlap_tokens=8))
    try:
        narrative_guess(True)
        guessed = parse(data, name, kind)
        narrative_guess(False)
        skipped = parse(data, name, kind)
    finally:
        narrative_guess(False)
    assert [e.text for e in skipped] == [e.text for e in guessed]
    assert [c.text for c in chunker.chunk(skipped)] == [c.text for c in chunker.chunk(guessed)]
    titles = [e.text for e in skipped if e.kind == "Title"]
    assert titles == [e.text for e in guessed if e.kind == "Title"]
    if kind in ("HTML", "MD", "DOCX", "EML"):  # headings from the markup, not from spaCy
        assert "Opening hours" in titles


def test_html_is_parsed_without_spacy(monkeypatch) -> None:
    """The guess is where HTML's parse time went; with it off, spaCy is not called at all."""
    from unstructured.nlp import tokenize

    from ingest.parsing import narrative_guess

    parse(b"Warm-up. Loads the model.\n", "w.txt", "TXT")
    calls: list[str] = []
    nlp = tokenize._get_nlp()
    monkeypatch.setattr(tokenize, "_get_nlp", lambda: calls.append("nlp") or nlp)
    for cached in (tokenize._process_cached, tokenize.word_tokenize, tokenize.pos_tag, tokenize._tokenize_for_cache):
        cached.cache_clear()  # texts classified by an earlier test would not call spaCy again
    narrative_guess(False)
    parse(docs.html("Workshop guide", _SECTIONS), "g.html", "HTML")
    assert calls == []
    narrative_guess(True)
    try:
        parse(docs.html("Workshop guide", _SECTIONS), "g.html", "HTML")
    finally:
        narrative_guess(False)
    assert calls  # the hook point is still where unstructured asks spaCy
