"""Parsing per format: where the time goes, with unstructured's spaCy "narrative text" guess
on (as unstructured ships) and off (Groundwork's default for HTML, Markdown, e-mail, DOCX).

The same 40 sections (a heading and a conflicts passage each, ~5,000 words) written as HTML,
Markdown, plain text, DOCX and PDF by the test generators; each parsed in this process
(`ingest.parsing.parse`, no worker), the median of three parses. The chunks are compared
too: the guess only chooses NarrativeText or Text, which the chunker treats alike.
"""

from __future__ import annotations

import statistics
import textwrap
import time

from bench.common import CONFLICTS
from ingest.parsing import narrative_guess, parse
from lab.evaluation import Dataset
from tests import docs


def _corpus() -> dict[str, tuple[str, bytes]]:
    ds = Dataset.load(CONFLICTS)
    passages = [ds.corpus[c] for c in list(ds.corpus)[:40]]
    sections = {f"{i + 1}. {p.get('title') or 'Section'}": p["text"] for i, p in enumerate(passages)}
    text = "\n\n".join(f"{h}\n\n{t}" for h, t in sections.items())
    pdf_pages = [[h, *textwrap.wrap(t, 90)] for h, t in sections.items()]
    return {"HTML": ("p.html", docs.html("Passages", sections)), "MD": ("p.md", docs.markdown("Passages", sections)),
            "TXT": ("p.txt", text.encode()), "DOCX": ("p.docx", docs.docx("Passages", sections)),
            "PDF": ("p.pdf", docs.pdf(pdf_pages))}


def _median_parse(data: bytes, name: str, kind: str) -> tuple[float, list]:
    times, elements = [], []
    for _ in range(3):
        started = time.perf_counter()
        elements = parse(data, name, kind)
        times.append(time.perf_counter() - started)
    return statistics.median(times), elements


def bench_parsing(runtime) -> dict:
    """Seconds per format with the guess on and off, and whether the chunks are the same."""
    parse(b"Warm-up: loads unstructured and spaCy.\n", "w.txt", "TXT")
    out: dict = {}
    try:
        for kind, (name, data) in _corpus().items():
            narrative_guess(True)
            on_s, on = _median_parse(data, name, kind)
            narrative_guess(False)
            off_s, off = _median_parse(data, name, kind)
            same = ([c.text for c in runtime.ingestor.chunker.chunk(on)]
                    == [c.text for c in runtime.ingestor.chunker.chunk(off)])
            out[kind] = {"guess_on_s": round(on_s, 3), "guess_off_s": round(off_s, 3),
                         "speedup": round(on_s / off_s, 2), "same_chunks": same, "elements": len(off)}
    finally:
        narrative_guess(False)
    return out
