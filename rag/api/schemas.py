"""Request and response bodies of the HTTP API (the OpenAI-compatible ones are in
schemas_openai.py, the health bodies in schemas_health.py). Just over 300 lines: every body of
the service's own routes in one module, so the contract reads in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasPath, BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema


class DomainOut(BaseModel):
    """A response body read from a domain object: `Model.model_validate(obj)` is the one way
    objects become API bodies. Nested fields are read through `AliasPath`s; the name-keyed
    form the API returns validates too (FastAPI re-validates what a route returns)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def _at(first: str, *rest: str) -> Any:
    """A field read from the domain object at this path (attributes, or keys of a dict)."""
    return Field(validation_alias=AliasPath(first, *rest))


def _rounded(value: float | None) -> float | None:
    """Scores are reported to 4 places."""
    return round(value, 4) if value is not None else None


class FiltersIn(BaseModel):
    """Restrict retrieval before ranking."""

    document_ids: list[str] | None = Field(None, description="only these documents")
    exclude_document_ids: list[str] | None = Field(None, description="never these documents")
    metadata: dict[str, str | int | float | bool] | None = Field(
        None, description="documents whose metadata has these values (each key equal)")
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


class CitationOut(DomainOut):
    """A passage the answer cites as [n]: its document, page and section, the quoted text, and
    whether it supports the sentence that cites it (`supported`)."""

    n: int
    document_id: str = _at("chunk", "document", "id")
    document_name: str = _at("chunk", "document", "name")
    page: int | None = _at("chunk", "chunk", "page")
    section: str | None = _at("chunk", "chunk", "section")
    chunk_id: int = _at("chunk", "chunk", "id")
    quote: str
    supported: bool


class AnswerSourceOut(DomainOut):
    """A document the answer drew on, one entry per document, in ranking order; `score` is the
    relevance (cosine similarity to the question) of its top-ranked chunk."""

    document_id: str = _at("document", "id")
    document: str = _at("document", "name")
    version: int = _at("document", "version")
    ingested_at: datetime = _at("document", "ingested_at")
    score: float = _at("relevance_or_score")

    _round = field_validator("score")(_rounded)


class AnswerOut(DomainOut):
    """An answer with its [n] citations, the documents it drew on, and timings in ms (retrieve,
    generate, total). `grounded` is true when at least one citation is supported by its passage;
    when nothing relevant was found, the answer says so and `grounded` is false."""

    answer: str = _at("text")
    grounded: bool
    citations: list[CitationOut]
    sources: list[AnswerSourceOut]
    timings_ms: dict[str, float]
    generation: int | None = Field(None, description="the collection's generation the answer was read at")


class SearchHitOut(DomainOut):
    """A retrieved chunk with its document and location. `score` ranks the results in the chosen
    mode (fused in hybrid mode); `relevance` is the cosine similarity to the query, comparable
    across modes."""

    chunk_id: int = _at("chunk", "id")
    document_id: str = _at("document", "id")
    document_name: str = _at("document", "name")
    page: int | None = _at("chunk", "page")
    section: str | None = _at("chunk", "section")
    text: str = _at("chunk", "text")
    score: float
    relevance: float | None

    _round = field_validator("score", "relevance")(_rounded)


class SearchOut(BaseModel):
    """The chunks retrieved for a search, best first."""

    results: list[SearchHitOut]
    generation: int = Field(..., description="the collection's generation the results were read at")


class DocumentOut(DomainOut):
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
    chunks: int = _at("chunk_count")
    metadata: dict[str, Any]
    updated_at: datetime | None = Field(None, description="when the record last changed: a new version "
                                        "or a metadata change (which leaves `version` as it is)")


def _next() -> Any:
    return Field(None, description="pass as `cursor` for the next page; null on the last page")


class DocumentsOut(BaseModel):
    """One page of a collection's documents."""

    documents: list[DocumentOut]
    next_cursor: str | None = _next()


class DocumentPatch(BaseModel):
    """A metadata change: by default a JSON merge patch (keys set to a value are set, keys set to
    null are removed, others stay); with `replace`, `metadata` becomes the whole metadata.
    Nothing is parsed or embedded again and `version` stays."""

    metadata: dict[str, Any] = Field(..., examples=[{"team": "finance", "draft": None}])
    replace: bool = False


class ChunkOut(DomainOut):
    """A chunk as it is stored and searched: its place in the document and its text."""

    id: int
    position: int
    page: int | None
    section: str | None
    text: str


class ChunksOut(BaseModel):
    """One page of a document's chunks in reading order."""

    document_id: str
    chunks: list[ChunkOut]
    next_cursor: str | None = _next()


class FileResultOut(DomainOut):
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


class CollectionOut(DomainOut):
    """A collection with its document and chunk counts; `generation` goes up with every change to
    its chunks."""

    name: str
    documents: int = _at("document_count")
    chunks: int = _at("chunk_count")
    generation: int
    created_at: datetime
    description: str = ""
    bytes: int = Field(0, description="the documents' original sizes, summed")
    last_ingested_at: datetime | None = Field(None, description="when a document was last ingested")
    chunk_max_tokens: int | None = Field(None, description="its own chunk size; null: the server's")


class CollectionsOut(BaseModel):
    """One page of the collections the caller may read."""

    collections: list[CollectionOut]
    next_cursor: str | None = _next()


class CollectionIn(BaseModel):
    """A collection to create (uploading into a name that does not exist creates one too)."""

    name: str = Field(..., description="1-64 letters, digits, '_', '-', '.', starting with a letter or digit")
    description: str = Field("", max_length=2000)
    chunk_max_tokens: int | None = Field(None, ge=32, description="a chunk size of its own, in embedding "
                                         "tokens, smaller than the server's (RAG_CHUNKING__MAX_TOKENS); "
                                         "omit for the server's. Fixed once the collection exists.")


class CollectionPatch(BaseModel):
    """Changes to a collection."""

    description: str = Field(..., max_length=2000)


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
    metadata: dict[str, Any] = Field(default_factory=dict, description="set on every document this source "
                                     "syncs, beside `path` (the file's path relative to the source)")


class SourcePatch(BaseModel):
    """Changes to a source: only the fields sent are changed; `"schedule": null` removes the schedule."""

    # Left out: unchanged. Only `schedule` may be null; the others are not nullable (the
    # schema says so, and an explicit null is a 422, not a source with no globs).
    include: list[str] | SkipJsonSchema[None] = None
    exclude: list[str] | SkipJsonSchema[None] = None
    schedule: str | None = None
    delete_missing: bool | SkipJsonSchema[None] = None
    metadata: dict[str, Any] | SkipJsonSchema[None] = None

    @field_validator("include", "exclude", "delete_missing", "metadata", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class SourceOut(DomainOut):
    """A registered source; `last_sync_at` is when a sync of it last succeeded (null before the first)."""

    id: str
    kind: str
    path: str
    collection: str
    include: list[str]
    exclude: list[str]
    schedule: str | None
    delete_missing: bool
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    last_sync_at: datetime | None


class SourcesOut(BaseModel):
    """One page of the registered sources."""

    sources: list[SourceOut]
    next_cursor: str | None = _next()


class JobFileOut(DomainOut):
    """One file of an upload job and its stage: queued, parsing, embedding, then indexed,
    unchanged, failed (with the reason) or cancelled."""

    name: str
    stage: str
    status: str | None = Field(None, description="added | updated | unchanged | failed, once done")
    document_id: str | None = None
    version: int | None = None
    chunks: int = 0
    size: int
    reason: str | None = None
    note: str | None = None


class JobOut(DomainOut):
    """A sync, upload or re-embedding job. `state` is queued, running, succeeded, failed or
    cancelled; `counts` holds files added, updated, unchanged, deleted and failed; `errors`
    lists each failed file with the reason; `progress` is files done of `total` (null until
    known), `rate` files per second so far and `eta_s` the seconds left at that rate. `retry_of`
    is the sync this one retries after its process died; `attempts` counts the runs of an
    upload (one resumed after its worker died has 2). `files` (GET /jobs/{id} of an upload)
    gives each file's stage."""

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
    attempts: int = 1
    rate: float | None = Field(None, description="files per second since the job started")
    eta_s: float | None = Field(None, description="seconds left at the current rate (running jobs)")
    files: list[JobFileOut] | None = None


class UploadAcceptedOut(BaseModel):
    """An upload stored and queued (202): the originals are on disk and the job is committed,
    so it survives a restart. Follow it at `status_url` or as Server-Sent Events at `events_url`."""

    collection: str
    job_id: str
    state: str
    files: list[JobFileOut]
    status_url: str
    events_url: str


class JobsOut(BaseModel):
    """One page of jobs."""

    jobs: list[JobOut]
    next_cursor: str | None = _next()


class JobRef(BaseModel):
    """A queued or running job; GET /jobs/{id} reports its progress."""

    id: str
    state: str


class KeyIn(BaseModel):
    """A key to create: a label, and scopes that are each `admin`, `read:COLLECTION` or
    `write:COLLECTION` (write includes read)."""

    name: str = Field(..., min_length=1, max_length=100)
    scopes: list[str] = Field(..., examples=[["read:handbook", "write:handbook"]])
    rate_per_minute: int | None = Field(None, ge=1, le=1_000_000,
                                        description="requests per minute before 429; omit for no limit")


class KeyCreated(BaseModel):
    """A created key: its id (to revoke it later) and the secret key, shown only in this response."""

    id: str
    key: str = Field(..., description="shown only now; store it safely")


class KeyOut(DomainOut):
    """An API key without its secret; `revoked_at` is set once it is revoked."""

    id: str
    name: str
    scopes: list[str]
    created_at: str
    revoked_at: str | None
    rate_per_minute: int | None


class KeysOut(BaseModel):
    """One page of keys (revoked ones included unless filtered out)."""

    keys: list[KeyOut]
    next_cursor: str | None = _next()
