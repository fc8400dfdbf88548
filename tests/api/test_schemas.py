"""API bodies are read from domain objects one way (`model_validate`, from attributes)."""

from __future__ import annotations

from datetime import datetime, timezone

from rag.api.schemas import AnswerOut, CollectionOut, DocumentOut, JobOut, SearchHitOut
from rag.store.jobs import Job
from rag.store.records import CollectionInfo
from rag.types import Answer, Chunk, Citation, Document, ScoredChunk

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
DOC = Document(id="d1", collection="c", name="handbook.md", source="upload", content_hash="h", version=2,
               ingested_at=WHEN, size=10, mime_type="text/markdown", metadata={"path": "a"}, chunk_count=3)
CHUNK = Chunk(id=7, document_id="d1", text="The code is 5-K-19.", position=0, page=4, section="Doors")


def test_answer_flattens_citations_and_sources_and_rounds_scores() -> None:
    hit = ScoredChunk(CHUNK, DOC, score=0.123456, relevance=0.987654)
    answer = Answer("5-K-19 [1].", True, [Citation(1, hit, "The code is 5-K-19.", True)], [hit],
                    {"total": 1.5}, generation=4)
    out = AnswerOut.model_validate(answer).model_dump(mode="json")
    assert out["answer"] == "5-K-19 [1]."
    assert out["citations"] == [{"n": 1, "document_id": "d1", "document_name": "handbook.md", "page": 4,
                                 "section": "Doors", "chunk_id": 7, "quote": "The code is 5-K-19.",
                                 "supported": True}]
    assert out["sources"][0]["score"] == 0.9877  # the relevance, not the ranking score
    assert out["sources"][0]["version"] == 2 and out["generation"] == 4
    # What a route returns is validated again by FastAPI, by field name.
    assert AnswerOut.model_validate(out).model_dump(mode="json") == out


def test_search_hit_without_relevance_keeps_none() -> None:
    out = SearchHitOut.model_validate(ScoredChunk(CHUNK, DOC, score=0.5555555)).model_dump()
    assert (out["score"], out["relevance"], out["text"], out["page"]) == (0.5556, None, CHUNK.text, 4)


def test_document_collection_and_job_renamed_fields() -> None:
    assert DocumentOut.model_validate(DOC).chunks == 3
    info = CollectionOut.model_validate(CollectionInfo(1, "c", WHEN, 9, document_count=2, chunk_count=5))
    assert (info.documents, info.chunks, info.generation) == (2, 5, 9)
    job = Job("j", "upload", None, "c", "running", {"added": 1}, [], 1, 4, None, None, False, WHEN, WHEN, None, WHEN)
    assert JobOut.model_validate(job).progress == {"done": 1, "total": 4}
