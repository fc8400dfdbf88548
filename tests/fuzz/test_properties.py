"""Properties that must hold for any input (hypothesis, a bounded run in `make test`): the
chunker always terminates, keeps every character of the text (whitespace aside), stays within
the token budget and is deterministic; grounding never crashes and only cites passages that
were shown."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker, ChunkerConfig
from ingest.parsing import Element
from rag.answer.grounding import NOT_FOUND, ground
from rag.bootstrap import Runtime
from rag.types import Chunk, Document, ScoredChunk

BOUNDED = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
KINDS = ["Title", "NarrativeText", "ListItem", "Table", "TableRow", "UncategorizedText"]
# Words, numbers, punctuation, whitespace of every kind, non-Latin scripts, emoji, long runs.
TEXT = st.text(alphabet=st.one_of(
    st.sampled_from(list("abcdefghij KLMNOP 0123456789 .,;:!?-_/()[]{}\"'\n\n\t")),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
), max_size=1200)
ELEMENTS = st.lists(st.builds(Element, text=TEXT, kind=st.sampled_from(KINDS),
                              page=st.one_of(st.none(), st.integers(1, 4))), max_size=8)


@pytest.fixture(scope="module")
def chunker(runtime: Runtime) -> Chunker:
    """The real tokenizer's count, with a small budget so long inputs split often."""
    return Chunker(runtime.embedder.count_tokens, ChunkerConfig(max_tokens=64, overlap_tokens=8))


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


@pytest.mark.slow
def test_chunking_keeps_every_character_within_the_budget_deterministically(chunker: Chunker) -> None:
    @BOUNDED
    @given(elements=ELEMENTS)
    def check(elements: list[Element]) -> None:
        drafts = chunker.chunk(elements)
        assert drafts == chunker.chunk(elements)                          # deterministic
        assert [d.position for d in drafts] == list(range(len(drafts)))
        for d in drafts:
            assert d.token_count == chunker.count(d.text)
            assert d.token_count <= chunker.config.max_tokens, (d.token_count, d.text[:200])
            assert d.text.strip()
        body = "".join(re.sub(r"\s+", "", d.text) for d in drafts)
        content = [e for e in elements if e.kind != "Title"]
        # Titles label sections (they travel as each chunk's heading); they are text of their
        # own only when the document has nothing else. Whitespace is the only thing dropped.
        kept = content if any(e.text.strip() for e in content) else elements
        assert _is_subsequence("".join(re.sub(r"\s+", "", e.text) for e in kept), body)

    check()


def _context(texts: list[str]) -> list[ScoredChunk]:
    when = datetime(2026, 12, 1, tzinfo=timezone.utc)
    doc = Document("doc_1", "c", "d.md", "upload", "h", 1, when, 1, "text/markdown")
    return [ScoredChunk(Chunk(i, "doc_1", t, i, None, None), doc, 0.5) for i, t in enumerate(texts)]


ANSWER = st.lists(st.one_of(TEXT, st.integers(0, 12).map(lambda n: f" [{n}]"), st.sampled_from([". ", "\n", NOT_FOUND])),
                  max_size=12).map("".join)


@given(answer=ANSWER, passages=st.lists(TEXT, max_size=6), question=TEXT)
@BOUNDED
def test_grounding_never_crashes_and_only_cites_passages_shown(answer: str, passages: list[str], question: str) -> None:
    result = ground(answer, _context(passages), question=question)
    shown = range(1, len(passages) + 1)
    assert all(n in shown for n, _, _ in result.cited)
    assert all(int(n) in shown for n in re.findall(r"\[(\d{1,3})\]", result.text) if not result.refused)
    for n, quote, _ in result.cited:
        assert quote in passages[n - 1] or not quote.strip() or quote == passages[n - 1][:300]
    assert result.refused == (result.text == NOT_FOUND)
