"""RagService: search and ask over a collection. Knows nothing of HTTP."""

from __future__ import annotations

import collections.abc
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.answer.context import fit_passages
from rag.answer.evidence import Evidence, best_sentences, relevant_sentences
from rag.answer.grounding import NOT_FOUND, ground
from rag.answer.names import asked_names, missing_in_hits
from rag.answer.prompt import STYLES, build_prompt
from rag.answer.reader import Reader, Reading
from rag.answer.sanitize import sanitize_answer, sanitize_stream
from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import InvalidInput, OutOfRange, Overloaded
from rag.llm import Generator
from rag.retrieval.hybrid import Retriever
from rag.types import Answer, Citation, Filters, ScoredChunk


@dataclass(frozen=True)
class AskOptions:
    """Knobs of question answering. No defaults here: they come from Settings (the one
    source), through `from_settings`."""

    top_k: int
    max_top_k: int
    min_score: float
    context_chunks: int
    max_new_tokens: int
    max_question_chars: int
    mode: str
    max_pending: int  # questions running or waiting for the LLM before 429
    # "chunks": whole chunks; "sentences": only the most question-like sentences;
    # "relevant": whole chunks minus the sentences unrelated to the question.
    evidence: str
    evidence_sentences: int
    evidence_neighbours: int
    evidence_margin: float
    evidence_floor: float
    value_check: bool
    name_check: bool
    name_pool: int
    # "compact": the reader's answer-bearing lines of the best chunk(s) and a one-sentence
    # instruction (the small in-process model); "cited": up to `cited_chunks` whole chunks,
    # citations asked for in the prompt (a capable model behind an engine).
    prompt_style: str
    cited_chunks: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "AskOptions":
        """The options of RAG_RETRIEVAL__*, RAG_RERANK__*, RAG_LLM__MAX_NEW_TOKENS and RAG_LIMITS__*.

        With the reranker on, its calibrated probability threshold decides refusals; without
        it, the cosine threshold of RAG_RETRIEVAL__MIN_SCORE does.
        """
        r = settings.retrieval
        min_score = settings.rerank.min_score if settings.rerank.model != "none" else r.min_score
        style = settings.llm.prompt_style
        if style == "auto":
            style = "cited" if settings.llm.backend == "openai" else "compact"
        return cls(
            top_k=r.top_k, max_top_k=r.max_top_k, min_score=min_score, context_chunks=r.context_chunks,
            max_new_tokens=settings.llm.max_new_tokens, max_question_chars=settings.limits.max_question_chars,
            mode=r.mode, max_pending=settings.limits.max_pending_questions, evidence=r.evidence,
            evidence_sentences=r.evidence_sentences, evidence_neighbours=r.evidence_neighbours,
            evidence_margin=r.evidence_margin, evidence_floor=r.evidence_floor, value_check=r.value_check,
            name_check=r.name_check, name_pool=r.name_pool, prompt_style=style,
            cited_chunks=settings.llm.cited_chunks,
        )


class RagService:
    """Retrieve, then generate from the retrieved passages, then verify the citations."""

    def __init__(self, retriever: Retriever, generator: Generator, options: AskOptions,
                 embedder: Embedder | None = None, reader: Reader | None = None):
        self.retriever = retriever
        self.generator = generator
        self.options = options
        self.embedder = embedder  # for sentence-level evidence selection
        self.reader = reader  # answer-bearing sentences and the value check (needs the reranker)
        self._slots = threading.BoundedSemaphore(options.max_pending)

    def search(self, collection: str, query: str, top_k: int | None = None,
               filters: Filters = Filters(), mode: str | None = None) -> list[ScoredChunk]:
        """Ranked chunks for a query, without the LLM."""
        return self.search_at(collection, query, top_k, filters, mode)[1]

    def search_at(self, collection: str, query: str, top_k: int | None = None, filters: Filters = Filters(),
                  mode: str | None = None, min_generation: int | None = None) -> tuple[int, list[ScoredChunk]]:
        """(generation read, ranked chunks): with `min_generation`, read at least that
        generation of the collection (NotCaughtUp if this replica does not reach it in time)."""
        self._check_question(query)
        generation = self.retriever.generation(collection, min_generation)
        return generation, self.retriever.retrieve(collection, query, self._top_k(top_k), filters,
                                                   mode or self.options.mode)

    def ask(self, collection: str, question: str, top_k: int | None = None,
            filters: Filters = Filters(), max_tokens: int | None = None, mode: str | None = None,
            min_generation: int | None = None) -> Answer:
        """Answer from the collection's documents, with verified citations (read at
        `min_generation` or later if given: NotCaughtUp otherwise)."""
        for event in self.ask_stream(collection, question, top_k, filters, max_tokens, mode,
                                     min_generation=min_generation):
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")

    def ask_stream(self, collection: str, question: str, top_k: int | None = None,
                   filters: Filters = Filters(), max_tokens: int | None = None, mode: str | None = None,
                   stop: threading.Event | None = None, min_generation: int | None = None,
                   ) -> collections.abc.Generator[str | Answer, None, None]:
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
                                    mode or self.options.mode, stop, min_generation)
        finally:
            self._slots.release()

    def _answer(self, collection: str, question: str, k: int, filters: Filters, budget: int, mode: str,
                stop: threading.Event | None, min_generation: int | None = None) -> Iterator[str | Answer]:
        started = time.perf_counter()
        generation = self.retriever.generation(collection, min_generation)
        names = asked_names(question) if self.options.name_check else []
        pool = max(k, self.options.name_pool) if names else k
        hits = self.retriever.retrieve(collection, question, pool, filters, mode)
        retrieved = time.perf_counter()
        # Relevance is the cosine similarity (or the reranker's probability), comparable
        # whatever mode ranked the chunks.
        relevant = [h for h in hits if h.relevance_or_score >= self.options.min_score]
        if names:
            # Relevant chunks that mention every name asked go first, in rank order.
            relevant.sort(key=lambda h: bool(self._missing_names(question, [h])))
        cited = self.options.prompt_style == "cited"
        evidence = relevant[: self.options.cited_chunks if cited else self.options.context_chunks]
        missing = self._missing_names(question, evidence) if evidence else []
        if not evidence or missing:
            # Nothing relevant enough, or relevant text about something else than the name
            # asked (the S200 for the S300): say so instead of letting the model invent.
            text = NOT_FOUND if not missing else (
                f"{NOT_FOUND[:-1]}: the passages that come closest do not mention {', '.join(missing)}.")
            yield text
            yield Answer(text, False, [], [], _timings(started, retrieved, retrieved), generation)
            return
        readings: list[Reading] = []
        if cited:
            passages = [h.chunk.text for h in evidence]
        elif self.options.evidence == "answer" and self.reader is not None:
            readings = self.reader.read(question, evidence)
            passages = [r.shown for r in readings]
        elif self.options.evidence != "chunks" and self.embedder is not None:
            shown = self._shown_evidence(question, evidence, self.embedder)
            evidence = [e.hit for e in shown]
            passages = [e.text for e in shown]
        else:
            passages = [h.chunk.text for h in evidence]
        style = "cited" if cited else "compact"
        if self.embedder is not None:
            # As many passages as the model's window holds beside the answer's tokens.
            passages = fit_passages(passages, [STYLES[style], question], self.generator.context_window, budget,
                                    self.embedder.count_tokens)
            evidence, readings = evidence[: len(passages)], readings[: len(passages)]
        prompt = build_prompt(question, passages, style)
        # What documents made the model write must not load anything in the reader's client:
        # images, loading tags and unknown URLs are removed, even from the streamed pieces.
        raw: list[str] = []

        def generated_pieces() -> Iterator[str]:
            for piece in self.generator.generate(prompt, budget, stop):
                raw.append(piece)
                yield piece

        yield from sanitize_stream(generated_pieces(), passages)
        generated = time.perf_counter()
        text = sanitize_answer("".join(raw), passages)
        if readings and self.options.value_check and (stop is None or not stop.is_set()):
            # The evidence is relevant (the reranker said so): an answer without its value, or
            # with a number the documents do not state, becomes the answer-bearing sentence.
            # The final Answer then differs from the streamed pieces; it is the one to show.
            n = max(range(len(readings)), key=lambda i: readings[i].score)
            if not Reader.carries_value(text, question, readings[n]):
                text = Reader.extract(readings[n], n + 1)
        result = ground(text, evidence, question=question)
        citations = [Citation(n, evidence[n - 1], quote, ok) for n, quote, ok in result.cited]
        yield Answer(
            text=result.text,
            grounded=any(c.supported for c in citations),
            citations=citations,
            sources=_sources(evidence),
            timings_ms=_timings(started, retrieved, generated),
            generation=generation,
        )

    def _missing_names(self, question: str, evidence: list[ScoredChunk]) -> list[str]:
        if not self.options.name_check:
            return []
        return missing_in_hits(question, evidence)

    def _shown_evidence(self, question: str, hits: list[ScoredChunk], embedder: Embedder) -> list[Evidence]:
        o = self.options
        if o.evidence == "sentences":
            return best_sentences(question, hits, embedder, o.evidence_sentences, o.evidence_neighbours)
        return relevant_sentences(question, hits, embedder, o.evidence_margin, o.evidence_floor)

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
