"""The write path: detect, parse, chunk, embed, store, mirror into FAISS — idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunking import Chunker
from ingest.parsing import parse
from ingest.sources import detect_kind, display_path
from rag import faults
from rag.embedding import Embedder
from rag.errors import ParseFailed, RagError, UnsupportedType
from rag.store.sqlite import SQLiteStore
from rag.store.vectors import VectorIndexes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: added / updated / unchanged / failed (with the reason)."""

    name: str
    status: str
    document_id: str | None = None
    version: int | None = None
    chunks: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class IncomingFile:
    """A file to ingest: raw bytes and the name it was given."""

    name: str
    data: bytes
    source: str = "upload"
    metadata: dict[str, Any] = field(default_factory=dict)


def document_id(collection: str, name: str) -> str:
    """Identity is (collection, name): the same pair always gets the same id."""
    return "doc_" + hashlib.sha256(f"{collection}\x00{name}".encode()).hexdigest()[:20]


def config_hash(**parts: Any) -> str:
    """Hash of everything that shapes chunks and vectors; a change means re-embedding."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Ingestor:
    """Ingests files into collections; one writer per collection, readers never wait."""

    def __init__(self, store: SQLiteStore, indexes: VectorIndexes, embedder: Embedder,
                 chunker: Chunker, config_hash: str, files_dir: Path):
        self.store = store
        self.indexes = indexes
        self.embedder = embedder
        self.chunker = chunker
        self.config_hash = config_hash
        self.files_dir = Path(files_dir)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def lock(self, collection: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[collection]

    def ingest(self, collection: str, file: IncomingFile) -> FileOutcome:
        """Ingest one file; errors of the file itself come back as a failed outcome."""
        name = display_path(file.name)
        try:
            kind = detect_kind(file.data, name)
        except UnsupportedType as exc:
            return FileOutcome(name, "failed", reason=str(exc))
        doc_id = document_id(collection, name)
        content_hash = hashlib.sha256(file.data).hexdigest()
        if self._unchanged(collection, name, content_hash):
            return self._unchanged_outcome(collection, name)
        try:
            drafts = self.chunker.chunk(parse(file.data, name, kind.name))
        except ParseFailed as exc:
            return FileOutcome(name, "failed", document_id=doc_id, reason=str(exc))
        vectors = self.embedder.embed_documents([d.text for d in drafts])
        self._keep_original(content_hash, file.data)
        with self.lock(collection):
            # Re-check under the lock: a concurrent upload of the same bytes may have won.
            if self._unchanged(collection, name, content_hash):
                return self._unchanged_outcome(collection, name)
            existed = self.store.find_document(collection, name) is not None
            write = self.store.replace_document(
                collection=collection, document_id=doc_id, name=name, source=file.source,
                content_hash=content_hash, config_hash=self.config_hash, size=len(file.data),
                mime_type=kind.mime_type, metadata=dict(file.metadata), chunks=drafts,
                embeddings=vectors,
            )
            faults.hit("after_chunks_committed")  # SQLite has it, FAISS does not yet
            self.indexes.apply(write, vectors)
        assert write.document is not None
        return FileOutcome(name, "updated" if existed else "added", doc_id,
                           write.document.version, len(drafts))

    def delete(self, collection: str, doc_id: str) -> None:
        """Remove a document; no chunk of it can be retrieved once this returns."""
        with self.lock(collection):
            write = self.store.delete_document(collection, doc_id)
            faults.hit("after_delete_committed")
            self.indexes.apply(write)

    def _unchanged(self, collection: str, name: str, content_hash: str) -> bool:
        doc = self.store.find_document(collection, name)
        return (doc is not None and doc.content_hash == content_hash
                and self.store.document_config_hash(doc.id) == self.config_hash)

    def _unchanged_outcome(self, collection: str, name: str) -> FileOutcome:
        doc = self.store.find_document(collection, name)
        assert doc is not None
        return FileOutcome(name, "unchanged", doc.id, doc.version, doc.chunk_count)

    def _keep_original(self, content_hash: str, data: bytes) -> None:
        # Originals are stored content-addressed under generated names (never the upload's
        # name), so a later settings change can re-ingest them.
        path = self.files_dir / content_hash[:2] / content_hash
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


__all__ = ["FileOutcome", "IncomingFile", "Ingestor", "RagError", "config_hash", "document_id"]
