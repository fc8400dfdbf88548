"""The chunker keeps sections, respects the embedder's token budget, and is deterministic."""

from __future__ import annotations

import random

import pytest

from ingest.chunking import Chunker, ChunkerConfig
from ingest.parsing import Element
from rag.bootstrap import Runtime


@pytest.fixture(scope="module")
def chunker(runtime: Runtime) -> Chunker:
    return Chunker(runtime.embedder.count_tokens, ChunkerConfig(max_tokens=120, overlap_tokens=16))


def test_titles_start_sections_and_travel_with_chunks(chunker: Chunker) -> None:
    chunks = chunker.chunk([
        Element("Pricing", "Title", 1), Element("Bikes cost 2450 euros.", "NarrativeText", 1),
        Element("Warranty", "Title", 2), Element("Frames carry 12 years.", "NarrativeText", 2),
    ])
    assert [(c.section, c.page) for c in chunks] == [("Pricing", 1), ("Warranty", 2)]
    assert chunks[1].text == "Warranty\nFrames carry 12 years."
    assert [c.position for c in chunks] == [0, 1]


def test_a_table_that_fits_stays_whole(chunker: Chunker) -> None:
    table = " ".join(f"row{i} value{i}" for i in range(20))
    chunks = chunker.chunk([Element("Intro text. " * 30, "NarrativeText", 1), Element(table, "Table", 1)])
    assert sum(table in c.text for c in chunks) == 1


def test_long_sections_are_split_within_budget_with_overlap(chunker: Chunker, runtime: Runtime) -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(200)]
    chunks = chunker.chunk([Element("Long", "Title", 3), Element(" ".join(sentences), "NarrativeText", 3)])
    assert len(chunks) > 5
    for c in chunks:
        # Nothing is silently truncated by the embedder: every chunk fits its window.
        assert runtime.embedder.count_tokens(c.text) <= 120 < runtime.embedder.max_tokens
        assert c.section == "Long" and c.page == 3
    # Neighbouring pieces share some words (overlap), and together they cover every sentence.
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)
    first_words = set(chunks[0].text.split()[-6:])
    assert first_words & set(chunks[1].text.split()[:30])


@pytest.mark.parametrize("seed", range(5))
def test_hostile_text_terminates_bounded_and_deterministic(chunker: Chunker, runtime: Runtime, seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abc xyz 0123 .,;\n\u200b\u202e\u4e2d\u00e9" + "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(50))
    text = "".join(rng.choice(alphabet) for _ in range(5000)) + "A" * 3000  # a 3000-char "word"
    first = chunker.chunk([Element(text, "NarrativeText", None)])
    again = chunker.chunk([Element(text, "NarrativeText", None)])
    assert first == again
    assert all(runtime.embedder.count_tokens(c.text) <= 120 for c in first)


def test_overlap_must_be_below_budget(runtime: Runtime) -> None:
    with pytest.raises(ValueError):
        Chunker(runtime.embedder.count_tokens, ChunkerConfig(max_tokens=50, overlap_tokens=50))


def test_a_title_with_nothing_under_it_is_kept(chunker: Chunker) -> None:
    # unstructured calls a one-line text file a Title; its text must still become a chunk.
    only = chunker.chunk([Element("Invoice INV7311 is overdue", "Title", None)])
    assert [d.text for d in only] == ["Invoice INV7311 is overdue"]
    # A document title before a section title labels; it does not become a chunk of its own.
    nested = chunker.chunk([Element("Vindholm harbour", "Title", None), Element("Harbour master", "Title", None),
                            Element("The harbour master is Sigrun Aasheim.", "NarrativeText", None)])
    assert [d.text for d in nested] == ["Harbour master\nThe harbour master is Sigrun Aasheim."]
