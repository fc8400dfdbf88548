"""Evidence sized to the model: passages cut to the context window, and the prompt style
(compact for the small in-process model, cited for a capable engine). No model is loaded."""

from __future__ import annotations

from datetime import datetime, timezone

from rag.answer.context import fit_passages
from rag.answer.prompt import CITED_SYSTEM_PROMPT, SYSTEM_PROMPT
from rag.answer.service import AskOptions, RagService
from rag.config import LLMSettings, Settings
from rag.testing import EchoGenerator, HashEmbedder, ListRetriever
from rag.types import Chunk, Document, ScoredChunk


def words(text: str) -> int:
    return len(text.split())


def test_passages_that_fit_are_kept_whole_and_the_next_is_cut_at_a_word() -> None:
    passages = ["one two three. four five six.", "seven eight nine ten. " + "more words here " * 10, "thirteen"]
    assert fit_passages(passages, ["q"], 1000, 10, words) == passages
    room = 10 + 32 + 6 + (int(6 * 1.2) + 4) + 20  # answer, template, question, first passage, a part
    kept = fit_passages(passages, ["question words"], room, 10, words)
    assert len(kept) == 2 and kept[0] == passages[0]
    assert passages[1].startswith(kept[1]) and 20 < len(kept[1]) < len(passages[1]) / 2
    assert passages[1][len(kept[1])] == " "  # whole words


def test_a_window_too_small_still_shows_part_of_the_best_passage() -> None:
    long = " ".join(f"w{i}." for i in range(500))
    kept = fit_passages([long, "second"], ["q"], 100, 50, words)
    assert len(kept) == 1 and long.startswith(kept[0]) and len(kept[0]) < len(long)


def _hits(n: int, words_each: int) -> list[ScoredChunk]:
    out = []
    for i in range(n):
        doc = Document(f"doc{i}", "c", f"d{i}.md", "upload", "h", 1, datetime.now(timezone.utc), 1, "text/markdown")
        text = f"Fact {i}: the Kestrel bicycle number {i} costs {100 + i} euros. " + "filler " * words_each
        out.append(ScoredChunk(Chunk(i, doc.id, text.strip(), 0, None, None), doc, 0.9 - i / 100, 0.9 - i / 100))
    return out


def _service(style: str, window: int, hits: list[ScoredChunk]) -> tuple[RagService, EchoGenerator]:
    settings = Settings(llm=LLMSettings(backend="openai", base_url="http://127.0.0.1:9/v1", prompt_style=style),
                        rerank={"model": "none"}, retrieval={"min_score": 0.1, "evidence": "chunks"})
    generator = EchoGenerator()
    generator.context_window = window
    embedder = HashEmbedder()
    return RagService(ListRetriever(hits), generator, AskOptions.from_settings(settings), embedder), generator


def test_the_cited_style_shows_several_whole_chunks_and_asks_for_citations() -> None:
    service, generator = _service("auto", 8192, _hits(8, 20))  # auto + an engine: cited
    answer = service.ask("c", "How much does the Kestrel bicycle cost?")
    prompt = generator.prompts[-1]
    assert prompt.system == CITED_SYSTEM_PROMPT
    assert [f"[{n}] Fact {n - 1}:" in prompt.user for n in range(1, 8)] == [True] * 6 + [False]  # cited_chunks 6
    assert answer.citations and answer.citations[0].n == 1


def test_a_small_window_shows_fewer_chunks() -> None:
    service, generator = _service("cited", 1024, _hits(6, 300))
    service.ask("c", "How much does the Kestrel bicycle cost?")
    shown = generator.prompts[-1].user
    # Two whole chunks of ~377 counted tokens, the rest of the window for part of a third.
    assert "[1] Fact 0:" in shown and "[2] Fact 1:" in shown and "[4] Fact 3:" not in shown
    third = shown.split("[3] Fact 2:")[1]
    assert 10 < third.count("filler") < 100


def test_the_compact_style_is_the_small_models_prompt() -> None:
    service, generator = _service("compact", 8192, _hits(3, 5))
    service.ask("c", "How much does the Kestrel bicycle cost?")
    assert generator.prompts[-1].system == SYSTEM_PROMPT and "[2]" not in generator.prompts[-1].user
