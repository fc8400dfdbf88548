"""What the reranker reads of a chunk: the chunk, and the chunk under its document's title."""

from __future__ import annotations

from datetime import datetime, timezone

from rag.retrieval.rerank import document_title, with_document_title
from rag.types import Chunk, Document, ScoredChunk


def _hit(name: str, text: str) -> ScoredChunk:
    doc = Document("d", "c", name, "upload", "h", 1, datetime.now(timezone.utc), 1, "text/plain", {}, 1)
    return ScoredChunk(Chunk(1, "d", text, 0, None, None), doc, 0.5)


def test_document_names_read_as_words() -> None:
    assert document_title("meterlink-release-notes.txt") == "meterlink release notes"
    assert document_title("Q1_2026.update.pptx") == "Q1 2026 update"
    assert document_title(".hidden") == "hidden"


def test_a_chunk_that_does_not_say_its_title_gets_it() -> None:
    chunk = "Version 4.3.0 - 16 February 2026\nNew: dark mode."
    assert with_document_title(_hit("meterlink-release-notes.txt", chunk)) == f"meterlink release notes\n{chunk}"
    said = "MeterLink release notes\nMeterLink is the field app."
    assert with_document_title(_hit("meterlink-release-notes.txt", said)) == said


def test_a_name_without_words_is_not_a_title() -> None:
    assert with_document_title(_hit("p00412.txt", "Some passage.")) == "Some passage."
    assert with_document_title(_hit("scan_0042.pdf", "Some passage.")) == "scan 0042\nSome passage."
