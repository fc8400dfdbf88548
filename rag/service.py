"""RagService: search and ask over a collection. Knows nothing of HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass

from rag.context import Evidence, best_sentences, relevant_sentences
from rag.embedding import Embedder
from rag.errors import InvalidInput, OutOfRange, Overloaded
from rag.generation import Generator
from rag.grounding import NOT_FOUND, build_prompt, ground
from rag.retrieval import Retriever
from rag.sanitize import sanitize_answer, sanitize_stream
from rag.types import Answer, Citation, Filters, ScoredChunk


@dataclass(frozen=True)
class AskOptions:
    """Knobs of question answering (defaults come from Settings)."""

    top_k: int = 4
    max_top_k: int = 50
    min_score: float = 0.35
    context_chunks: int = 3
    max_new_tokens: int = 96
    max_question_chars: int = 2000
    mode: str = "hybrid"
    max_pending: int = 8  # questions running or waiting for the LLM before 429
    # "chunks": whole chunks; "sentences": only the most question-like sentences;
    # "relevant": whole chunks minus the sentences unrelated to the question.
    evidence: str = "relevant"
    evidence_sentences: int = 2
    evidence_neighbours: int = 0
    evidence_margin: float = 0.5
    evidence_floor: float = 0.1


class RagService:
    """Retrieve, then generate from the retrieved passages, then verify the citations."""

    def __init__(self, retriever: Retriever, generator: Generator, options: AskOptions = AskOptions(),
                 embedder: Embedder | None = None):
        self.retriever = retriever
        self.generator = generator
        self.options = options
        self.embedder = embedder  # for sentence-level evidence selection
        self._slots = threading.BoundedSemaphore(options.max_pending)

    def search(self, collection: str, query: str, top_k: int | None = None,
               filters: Filters = Filters(), mode: str | None = None) -> list[ScoredChunk]:
        """Ranked chunks for a query, without the LLM."""
        self._check_question(query)
        return self.retriever.retrieve(collection, query, self._top_k(top_k), filters,
                                       mode or self.options.mode)

    def ask(self, collection: str, question: str, top_k: int | None = None,
            filters: Filters = Filters(), max_tokens: int | None = None, mode: str | None = None) -> Answer:
        """Answer from the collection's documents, with verified citations."""
        for event in self.ask_stream(collection, question, top_k, filters, max_tokens, mode):
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")

    def ask_stream(self, collection: str, question: str, top_k: int | None = None,
                   filters: Filters = Filters(), max_tokens: int | None = None, mode: str | None = None,
                   stop: threading.Event | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then the final Answer.

        Setting `stop` (a client went away) ends the generation early.
        """
        self._check_question(question)
        if max_tokens is not None and not 1 <= max_tokens <= self.options.max_new_tokens:
            raise OutOfRange(f"max_tokens must be between 1 and {self.options.max_new_tokens} "
                             "(RAG_LLM__MAX_NEW_TOKENS)")
        k = self._top_k(top_k)
        # A bounded queue in front of all the work (retrieval and the LLM): past it, say
        # "busy" at once (429) instead of letting requests pile up, time out and hold memory.
        if not self._slots.acquire(blocking=False):
            raise Overloaded(f"{self.options.max_pending} questions are already being answered or waiting; "
                             "retry shortly")
        try:
            yield from self._answer(collection, question, k, filters, max_tokens or self.options.max_new_tokens,
                                    mode or self.options.mode, stop)
        finally:
            self._slots.release()

    def _answer(self, collection: str, question: str, k: int, filters: Filters, budget: int, mode: str,
                stop: threading.Event | None) -> Iterator[str | Answer]:
        started = time.perf_counter()
        hits = self.retriever.retrieve(collection, question, k, filters, mode)
        retrieved = time.perf_counter()
        # Relevance is the cosine similarity, comparable whatever mode ranked the chunks.
        evidence = [h for h in hits if _relevance(h) >= self.options.min_score][: self.options.context_chunks]
        if not evidence:
            # Nothing relevant enough: say so instead of letting the model invent an answer.
            yield NOT_FOUND
            yield Answer(NOT_FOUND, False, [], [], _timings(started, retrieved, retrieved))
            return
        if self.options.evidence != "chunks" and self.embedder is not None:
            shown = self._shown_evidence(question, evidence)
            evidence = [e.hit for e in shown]
            passages = [e.text for e in shown]
        else:
            passages = [h.chunk.text for h in evidence]
        prompt = build_prompt(question, passages)
        # What documents made the model write must not load anything in the reader's client:
        # images, loading tags and unknown URLs are removed, even from the streamed pieces.
        raw: list[str] = []

        def generated_pieces() -> Iterator[str]:
            for piece in self.generator.generate(prompt, budget, stop):
                raw.append(piece)
                yield piece

        yield from sanitize_stream(generated_pieces(), passages)
        generated = time.perf_counter()
        result = ground(sanitize_answer("".join(raw), passages), evidence, question=question)
        citations = [Citation(n, evidence[n - 1], quote, ok) for n, quote, ok in result.cited]
        yield Answer(
            text=result.text,
            grounded=any(c.supported for c in citations),
            citations=citations,
            sources=_sources(evidence),
            timings_ms=_timings(started, retrieved, generated),
        )

    def _shown_evidence(self, question: str, hits: list[ScoredChunk]) -> list[Evidence]:
        o = self.options
        if o.evidence == "sentences":
            return best_sentences(question, hits, self.embedder, o.evidence_sentences, o.evidence_neighbours)
        return relevant_sentences(question, hits, self.embedder, o.evidence_margin, o.evidence_floor)

    def _top_k(self, top_k: int | None) -> int:
        k = top_k if top_k is not None else self.options.top_k
        if not 1 <= k <= self.options.max_top_k:
            raise OutOfRange(f"top_k must be between 1 and {self.options.max_top_k} (RAG_RETRIEVAL__MAX_TOP_K)")
        return k

    def _check_question(self, text: str) -> None:
        if not text or not text.strip():
            raise InvalidInput("the question is empty")
        if len(text) > self.options.max_question_chars:
            raise OutOfRange(
                f"the question is {len(text)} characters; the limit is {self.options.max_question_chars} "
                "(RAG_LIMITS__MAX_QUESTION_CHARS)"
            )


def _relevance(hit: ScoredChunk) -> float:
    return hit.relevance if hit.relevance is not None else hit.score


def _sources(hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """One entry per document, its best-scoring chunk first."""
    best: dict[str, ScoredChunk] = {}
    for hit in hits:
        if hit.document.id not in best or hit.score > best[hit.document.id].score:
            best[hit.document.id] = hit
    return sorted(best.values(), key=lambda h: -h.score)


def _timings(start: float, retrieved: float, generated: float) -> dict[str, float]:
    return {
        "retrieve": round((retrieved - start) * 1000, 1),
        "generate": round((generated - retrieved) * 1000, 1),
        "total": round((generated - start) * 1000, 1),
    }
