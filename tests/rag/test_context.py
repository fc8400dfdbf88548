"""Least context: the sentences shown to the LLM, chosen with the real embedding model."""

from __future__ import annotations

from datetime import datetime, timezone

from rag.answer.evidence import best_sentences, relevant_sentences
from rag.types import Chunk, Document, ScoredChunk

MARGIN, FLOOR = 0.5, 0.1  # the defaults (rag.config.RetrievalSettings)


def _hit(i: int, text: str) -> ScoredChunk:
    doc = Document(f"doc{i}", "c", f"d{i}.md", "upload", "h", 1, datetime.now(timezone.utc), 1, "text/markdown")
    return ScoredChunk(Chunk(i, doc.id, text, 0, None, None), doc, 0.9)


def test_a_secret_beside_the_answer_is_not_shown(runtime) -> None:
    text = ("Hana Sato's office is room 417, the one with the teal door. Hana Sato joined the planning "
            "team in 2019 and works on logistics. The vault PIN is ZX123456.")
    shown = relevant_sentences("Which room is Hana Sato's office?", [_hit(1, text)], runtime.embedder, MARGIN, FLOOR)
    assert len(shown) == 1
    assert "room 417" in shown[0].text and "joined the planning team" in shown[0].text
    assert "ZX123456" not in shown[0].text


def test_related_sentences_stay_in_document_order(runtime) -> None:
    text = ("The Vindholm harbour was rebuilt in 1987. The rebuilding was paid for by the town council. "
            "The harbour master at the time was Ivo Brandt.")
    shown = relevant_sentences("Who paid for rebuilding the Vindholm harbour?", [_hit(1, text)],
                               runtime.embedder, MARGIN, FLOOR)
    assert shown[0].text == text  # every sentence is about the harbour: nothing is cut


def test_the_best_sentence_is_always_kept_and_empty_hits_dropped(runtime) -> None:
    hits = [_hit(1, "Bananas are yellow."), _hit(2, "The print room opens at 8 o'clock. Bananas are yellow.")]
    shown = relevant_sentences("When does the print room open?", hits, runtime.embedder, MARGIN, FLOOR)
    assert [e.hit.chunk.id for e in shown] == [2]
    assert shown[0].text == "The print room opens at 8 o'clock."
    # Nothing similar at all: the single best sentence still reaches the model.
    shown = relevant_sentences("What is the capital of Peru?", [_hit(1, "Bananas are yellow.")],
                               runtime.embedder, MARGIN, FLOOR)
    assert [e.text for e in shown] == ["Bananas are yellow."]


def test_best_sentences_keeps_the_top_n_with_neighbours(runtime) -> None:
    text = "The archive is in the basement. It opens at nine. Bananas are yellow. Parking is free."
    shown = best_sentences("Where is the archive?", [_hit(1, text)], runtime.embedder, 1, neighbours=1)
    assert shown[0].text == "The archive is in the basement. It opens at nine."
