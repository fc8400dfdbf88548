"""The lexical side leaves function words out of the query, and still finds what it should."""

from __future__ import annotations

from ingest.pipeline import IncomingFile
from rag.bootstrap import Runtime
from rag.retrieval.hybrid import FusionConfig, HybridRetriever
from rag.types import Filters

C = "lexical-query"
DOCS = {
    "archive.md": b"# Archive\n\nThe archive in Vindholm keeps the harbour ledgers since 1871.",
    "ferry.md": b"# Ferry\n\nThe Carrow ferry leaves the north pier at 06:40 on weekdays.",
    "filler.md": ("# Notes\n\n" + "When it does what it does, it is the way it is from then on. " * 20).encode(),
}


def _retrievers(runtime: Runtime) -> tuple[HybridRetriever, HybridRetriever]:
    runtime.ingestor.ingest_many(C, [IncomingFile(n, d) for n, d in DOCS.items()])
    make = lambda stop: HybridRetriever(runtime.store, runtime.indexes, runtime.embedder,  # noqa: E731
                                        FusionConfig(lexical_stopwords=stop))
    return make(True), make(False)


def test_function_words_do_not_decide_the_lexical_ranking(runtime: Runtime) -> None:
    with_stop, without = _retrievers(runtime)
    question = "When does the ferry leave from the pier?"
    hits = with_stop.retrieve(C, question, 3, Filters(), "lexical")
    assert hits and hits[0].document.name == "ferry.md"
    # The filler shares only function words with the question: it no longer matches at all.
    assert "filler.md" not in {h.document.name for h in hits}
    assert "filler.md" in {h.document.name for h in without.retrieve(C, question, 3, Filters(), "lexical")}


def test_a_question_of_function_words_only_still_searches(runtime: Runtime) -> None:
    with_stop, _ = _retrievers(runtime)
    hits = with_stop.retrieve(C, "what is it?", 3, Filters(), "lexical")
    assert hits and hits[0].document.name == "filler.md"
