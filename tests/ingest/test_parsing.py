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
