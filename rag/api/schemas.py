"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from rag.types import Answer, Document, ScoredChunk


class FiltersIn(BaseModel):
    """Restrict retrieval before ranking."""

    document_ids: list[str] | None = Field(None, description="only these documents")
    exclude_document_ids: list[str] | None = Field(None, description="never these documents")
    metadata: dict[str, str] | None = Field(None, description="documents whose metadata has these values")
    source: str | None = Field(None, description="documents from this source ('upload', a source id, a path)")
    ingested_after: datetime | None = None
    ingested_before: datetime | None = None


_MIN_GENERATION = ("read-your-writes across replicas: answer only from the collection at this generation "
                   "or later (a write's response gives the generation it produced); 503 not_caught_up if "
                   "this replica does not reach it within RAG_REPLICA__WAIT_S; 422 out_of_range if no write has produced it yet")


class QueryIn(BaseModel):
    """A question to answer from a collection, with optional retrieval settings and filters."""

    # Documented as "holds a non-space character" but checked by the service, so an empty
    # question is a 400 that says so rather than a validation error.
    question: str = Field(..., description="what to ask (not blank; at most RAG_LIMITS__MAX_QUESTION_CHARS)",
                          examples=["What is the access code of the Lisbon office?"],
                          json_schema_extra={"pattern": r"\S"})
    top_k: int | None = Field(None, ge=1, description="chunks to retrieve (default from settings)")
    max_tokens: int | None = Field(None, ge=1, description="cap on generated tokens")
    mode: Literal["dense", "lexical", "hybrid"] | None = Field(None, description="retrieval mode (default hybrid)")
    min_generation: int | None = Field(None, ge=0, description=_MIN_GENERATION)
    stream: bool = Field(False, description="Server-Sent Events: token events, then answer, then done")
    filters: FiltersIn = FiltersIn()


class SearchIn(BaseModel):
    """A search of a collection: the chunks ranked for `query` come back; no answer is generated.
    `top_k` and `mode` default to the server's settings (hybrid mode unless configured otherwise)."""

    query: str = Field(..., description="what to search for (not blank)", json_schema_extra={"pattern": r"\S"})
    top_k: int | None = Field(None, ge=1)
    mode: Literal["dense", "lexical", "hybrid"] | None = None
    min_generation: int | None = Field(None, ge=0, description=_MIN_GENERATION)
    filters: FiltersIn = FiltersIn()


class CitationOut(BaseModel):
    """A passage the answer cites as [n]: its document, page and section, the quoted text, and
    whether it supports the sentence that cites it (`supported`)."""

    n: int
    document_id: str
    document_name: str
    page: int | None
    section: str | None
    chunk_id: int
    quote: str
    supported: bool


class AnswerSourceOut(BaseModel):
    """A document the answer drew on, one entry per document, in ranking order; `score` is the
    relevance (cosine similarity to the question) of its top-ranked chunk."""

    document_id: str
    document: str
    version: int
    ingested_at: datetime
    score: float


class AnswerOut(BaseModel):
    """An answer with its [n] citations, the documents it drew on, and timings in ms (retrieve,
    generate, total). `grounded` is true when at least one citation is supported by its passage;
    when nothing relevant was found, the answer says so and `grounded` is false."""

    answer: str
    grounded: bool
    citations: list[CitationOut]
    sources: list[AnswerSourceOut]
    timings_ms: dict[str, float]
    generation: int | None = Field(None, description="the collection's generation the answer was read at")

    @classmethod
    def of(cls, answer: Answer) -> "AnswerOut":
        """The API form of an Answer (scores rounded to 4 places)."""
        return cls(
            answer=answer.text,
            grounded=answer.grounded,
            citations=[
                CitationOut(n=c.n, document_id=c.chunk.document.id, document_name=c.chunk.document.name,
                            page=c.chunk.chunk.page, section=c.chunk.chunk.section,
                            chunk_id=c.chunk.chunk.id, quote=c.quote, supported=c.supported)
                for c in answer.citations
            ],
            sources=[
                AnswerSourceOut(document_id=s.document.id, document=s.document.name, version=s.document.version,
                          ingested_at=s.document.ingested_at,
                          score=round(s.relevance if s.relevance is not None else s.score, 4))
                for s in answer.sources
            ],
            generation=answer.generation, timings_ms=answer.timings_ms,
        )


class SearchHitOut(BaseModel):
    """A retrieved chunk with its document and location. `score` ranks the results in the chosen
    mode (fused in hybrid mode); `relevance` is the cosine similarity to the query, comparable
    across modes."""

    chunk_id: int
    document_id: str
    document_name: str
    page: int | None
    section: str | None
    text: str
    score: float
    relevance: float | None

    @classmethod
    def of(cls, hit: ScoredChunk) -> "SearchHitOut":
        """The API form of a retrieved chunk (scores rounded to 4 places)."""
        return cls(chunk_id=hit.chunk.id, document_id=hit.document.id, document_name=hit.document.name,
                   page=hit.chunk.page, section=hit.chunk.section, text=hit.chunk.text,
                   score=round(hit.score, 4),
                   relevance=round(hit.relevance, 4) if hit.relevance is not None else None)


class SearchOut(BaseModel):
    """The chunks retrieved for a search, best first."""

    results: list[SearchHitOut]
    generation: int = Field(..., description="the collection's generation the results were read at")


class DocumentOut(BaseModel):
    """A stored document. `version` is 1 when it is first ingested and goes up each time it is
    re-ingested; `source` is "upload" or the id of the source it was synced from; `chunks` is
    how many chunks it was cut into."""

    id: str
    collection: str
    name: str
    source: str
    content_hash: str
    version: int
    ingested_at: datetime
    size: int
    mime_type: str
    chunks: int
    metadata: dict[str, Any]

    @classmethod
    def of(cls, doc: Document) -> "DocumentOut":
        """The API form of a Document."""
        return cls(id=doc.id, collection=doc.collection, name=doc.name, source=doc.source,
                   content_hash=doc.content_hash, version=doc.version, ingested_at=doc.ingested_at,
                   size=doc.size, mime_type=doc.mime_type, chunks=doc.chunk_count, metadata=doc.metadata)


class DocumentsOut(BaseModel):
    """The documents of a collection."""

    documents: list[DocumentOut]


class FileResultOut(BaseModel):
    """What became of one uploaded file; `reason` says why, when it failed."""

    name: str
    status: str = Field(..., description="added | updated | unchanged | failed")
    document_id: str | None = None
    version: int | None = None
    chunks: int = 0
    reason: str | None = None
    note: str | None = Field(None, description="e.g. that only the first N characters were ingested")


class UploadOut(BaseModel):
    """The outcome of an upload: the job that recorded it and each file's result."""

    collection: str
    job_id: str
    files: list[FileResultOut]
    generation: int | None = Field(None, description="the collection's generation after the upload: pass it "
                                   "as min_generation to read these files on any replica")


class CollectionOut(BaseModel):
    """A collection with its document and chunk counts; `generation` goes up with every change to
    its chunks."""

    name: str
    documents: int
    chunks: int
    generation: int
    created_at: datetime


class CollectionsOut(BaseModel):
    """The collections the caller may read."""

    collections: list[CollectionOut]


class SourceIn(BaseModel):
    """A folder (synced recursively) or file on the server to keep in sync with a collection,
    manually or on a schedule. With `delete_missing`, the documents of files that have
    disappeared are deleted at the next sync."""

    kind: str = Field("folder", pattern="^(folder|file)$")
    path: str = Field(..., description="folder or file on the server's disk")
    collection: str
    include: list[str] = Field(default_factory=list, description="globs on the relative path; empty = all")
    exclude: list[str] = Field(default_factory=list)
    schedule: str | None = Field(None, description="cron expression (UTC), e.g. '*/15 * * * *'; null = manual")
    delete_missing: bool = True


class SourcePatch(BaseModel):
    """Changes to a source: only the fields sent are changed; `"schedule": null` removes the schedule."""

    # Left out: unchanged. Only `schedule` may be null; the others are not nullable (the
    # schema says so, and an explicit null is a 422, not a source with no globs).
    include: list[str] | SkipJsonSchema[None] = None
    exclude: list[str] | SkipJsonSchema[None] = None
    schedule: str | None = None
    delete_missing: bool | SkipJsonSchema[None] = None

    @field_validator("include", "exclude", "delete_missing", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class SourceOut(BaseModel):
    """A registered source; `last_sync_at` is when a sync of it last succeeded (null before the first)."""

    id: str
    kind: str
    path: str
    collection: str
    include: list[str]
    exclude: list[str]
    schedule: str | None
    delete_missing: bool
    created_at: datetime
    last_sync_at: datetime | None


class SourcesOut(BaseModel):
    """The registered sources, oldest first."""

    sources: list[SourceOut]


class JobOut(BaseModel):
    """A sync or upload job. `state` is queued, running, succeeded, failed or cancelled; `counts`
    holds files added, updated, unchanged, deleted and failed; `errors` lists each failed file
    with the reason; `progress` is files done of `total` (null until known). `retry_of` is the
    job this one retries after its process died."""

    id: str
    kind: str
    source_id: str | None
    collection: str
    state: str
    counts: dict[str, int]
    errors: list[dict[str, str]]
    progress: dict[str, int | None]
    reason: str | None
    retry_of: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @classmethod
    def of(cls, job) -> "JobOut":
        """The API form of a Job."""
        return cls(id=job.id, kind=job.kind, source_id=job.source_id, collection=job.collection,
                   state=job.state, counts=job.counts, errors=job.errors,
                   progress={"done": job.done, "total": job.total}, reason=job.reason,
                   retry_of=job.retry_of, cancel_requested=job.cancel_requested,
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   heartbeat_at=job.heartbeat_at)


class JobsOut(BaseModel):
    """Jobs, newest first."""

    jobs: list[JobOut]


class JobRef(BaseModel):
    """A queued or running job; GET /jobs/{id} reports its progress."""

    id: str
    state: str
