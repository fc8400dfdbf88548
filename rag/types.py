"""Core value types passed between the pipeline, the store, retrieval and generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Document:
    """A stored document: identity is (collection, name), version is its content hash."""

    id: str
    collection: str
    name: str
    source: str
    content_hash: str
    version: int
    ingested_at: datetime
    size: int
    mime_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_count: int = 0
    updated_at: datetime | None = None  # moves with a re-ingest or a metadata change; None: not read


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk as the chunker cuts it, before it has an id or a vector."""

    text: str
    position: int
    page: int | None
    section: str | None
    token_count: int


@dataclass(frozen=True)
class Chunk:
    """A stored chunk of a document."""

    id: int
    document_id: str
    text: str
    position: int
    page: int | None
    section: str | None


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its document and the retriever's score."""

    chunk: Chunk
    document: Document
    score: float  # the ranking score of the mode that produced it (fused in hybrid mode)
    relevance: float | None = None  # cosine similarity to the query: comparable across modes

    @property
    def relevance_or_score(self) -> float:
        """The relevance when it is known, else the ranking score (what an answer's source reports)."""
        return self.relevance if self.relevance is not None else self.score


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before ranking."""

    document_ids: tuple[str, ...] | None = None
    exclude_document_ids: tuple[str, ...] | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    source: str | None = None  # "upload", a source id, or a path the document came from
    ingested_after: datetime | None = None
    ingested_before: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether anything is restricted (`document_ids=()` is: it allows no document)."""
        return (self.document_ids is not None or bool(self.exclude_document_ids) or bool(self.metadata)
                or self.source is not None or self.ingested_after is not None or self.ingested_before is not None)


@dataclass(frozen=True)
class Citation:
    """A numbered passage that the answer cites."""

    n: int
    chunk: ScoredChunk
    quote: str
    supported: bool = True  # the cited passage shares enough of the citing sentence's words


@dataclass(frozen=True)
class Answer:
    """An answer with its citations, the sources it drew on and where the time went."""

    text: str
    grounded: bool
    citations: list[Citation]
    sources: list[ScoredChunk]
    timings_ms: dict[str, float]
    generation: int | None = None  # the collection's generation the answer was read at
