"""The store's records: what a collection row, a write and its result look like, and the
row mappers shared by the writing and the reading side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from rag.types import ChunkDraft, Document


@dataclass(frozen=True)
class CollectionInfo:
    """A collection row."""

    id: int
    name: str
    created_at: datetime
    generation: int
    document_count: int = 0
    chunk_count: int = 0
    description: str = ""
    bytes: int = 0  # the documents' original sizes, summed
    last_ingested_at: datetime | None = None
    chunk_max_tokens: int | None = None  # the collection's own chunk size (None: the server's)


@dataclass(frozen=True)
class WriteResult:
    """What a write changed, for the caller to mirror into the FAISS cache."""

    collection_id: int
    generation: int
    removed_chunk_ids: list[int]
    added_chunk_ids: list[int]
    document: Document | None
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentWrite:
    """One document to store with its chunks and their embeddings."""

    document_id: str
    name: str
    source: str
    content_hash: str
    config_hash: str
    size: int
    mime_type: str
    metadata: dict[str, Any] | None  # None: keep the stored document's metadata (new: none)
    chunks: Sequence[ChunkDraft]
    embeddings: np.ndarray


def collection_row(row: Any) -> CollectionInfo:
    """A collections row joined with its document and chunk counts."""
    return CollectionInfo(
        id=row["id"], name=row["name"], created_at=datetime.fromisoformat(row["created_at"]),
        generation=row["generation"], document_count=row["docs"], chunk_count=row["chunks"],
        description=row["description"], bytes=int(row["bytes"] or 0), chunk_max_tokens=row["chunk_max_tokens"],
        last_ingested_at=datetime.fromisoformat(row["last_ingested"]) if row["last_ingested"] else None,
    )


def document_row(row: Any) -> Document:
    """A documents row joined with its collection name and chunk count."""
    return Document(
        id=row["id"], collection=row["collection_name"], name=row["name"], source=row["source"],
        content_hash=row["content_hash"], version=row["version"],
        ingested_at=datetime.fromisoformat(row["ingested_at"]), size=row["size"],
        mime_type=row["mime_type"], metadata=json.loads(row["metadata"]),
        chunk_count=row["chunk_count"], updated_at=_when(row, "updated_at"),
    )


def _when(row: Any, column: str) -> datetime | None:
    try:
        value = row[column]
    except (KeyError, IndexError):
        return None
    return datetime.fromisoformat(value) if value else None
