"""Generators of test documents in every format (no downloaded fixtures)."""

from __future__ import annotations

import io

from docx import Document as DocxDocument
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def markdown(title: str, sections: dict[str, str]) -> bytes:
    body = f"# {title}\n\n" + "\n\n".join(f"## {h}\n\n{t}" for h, t in sections.items())
    return (body + "\n").encode()


def html(title: str, sections: dict[str, str]) -> bytes:
    parts = "".join(f"<h2>{h}</h2><p>{t}</p>" for h, t in sections.items())
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{parts}</body></html>".encode()


def docx(title: str, sections: dict[str, str]) -> bytes:
    doc = DocxDocument()
    doc.add_heading(title, level=1)
    for heading, text in sections.items():
        doc.add_heading(heading, level=2)
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one list of lines per page (reportlab, real text objects)."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for lines in pages:
        y = 800
        for line in lines:
            c.drawString(72, y, line)
            y -= 18
        c.showPage()
    c.save()
    return out.getvalue()
