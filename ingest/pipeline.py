"""The write path: detect, parse, chunk, embed, store, mirror into FAISS — idempotently."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ingest.chunking import Chunker, ChunkerConfig
from ingest.filetypes import check_container, detect_kind, display_path
from ingest.parsing import Element, bound_elements, bound_input
from rag import faults
from rag.embedding import Embedder
from rag.errors import NotFound, ParseFailed, StorageFull, UnsupportedType
from rag.files import atomic_path
from rag.store.base import Store
from rag.store.catalog import Catalog, Deleted
from rag.store.records import DocumentWrite
from rag.store.vectors import VectorIndexes
from rag.types import Document

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
    note: str | None = None


@dataclass(frozen=True)
class _Prepared:
    """A parsed and chunked file waiting for its embeddings."""

    name: str
    document_id: str
    content_hash: str
    mime_type: str
    file: "IncomingFile"
    drafts: list
    note: str | None = None


@dataclass(frozen=True)
class IncomingFile:
    """A file to ingest: raw bytes and the name it was given."""

    name: str
    data: bytes
    source: str = "upload"
    # Checked metadata (rag.metadata) to store with it; None keeps what the document has.
    metadata: dict[str, Any] | None = None


def document_id(collection: str, name: str) -> str:
    """Identity is (collection, name): the same pair always gets the same id."""
    return "doc_" + hashlib.sha256(f"{collection}\x00{name}".encode()).hexdigest()[:20]


def config_hash(**parts: Any) -> str:
    """Hash of everything that shapes chunks and vectors; a change means re-embedding."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class IngestEvents(Protocol):
    """What ingest_many reports as it goes (an upload job records it per file)."""

    def parsing(self, index: int) -> None:
        """File `index` is being parsed and chunked."""

    def embedding(self, indices: list[int]) -> None:
        """These files are parsed and wait for (or are in) the next embedding batch."""

    def resolved(self, outcomes: list[tuple[int, "FileOutcome"]]) -> None:
        """These files are done (committed, unchanged or failed). May raise to stop the
        ingestion after this point: what was committed stays whole, nothing else is written."""


class Parser(Protocol):
    """Turns a file's bytes into text elements (ingest.isolation.IsolatedParser in the service)."""

    def parse(self, data: bytes, filename: str, kind: str) -> list[Element]:
        """Elements of a file of detected `kind` in reading order; raises ParseFailed if unreadable."""


class Ingestor:
    """Ingests files into collections; one writer per collection, readers never wait."""

    def __init__(self, store: Store, indexes: VectorIndexes, embedder: Embedder,
                 chunker: Chunker, config_hash: str, files_dir: Path, parser: Parser,
                 max_text_chars: int = 2_000_000, prepare_threads: int = 1,
                 hash_parts: dict[str, Any] | None = None, embed_concurrency: int = 1):
        self.store = store
        self.indexes = indexes
        self.embedder = embedder
        self.chunker = chunker
        self.config_hash = config_hash
        self.files_dir = Path(files_dir)
        self.parser = parser
        self.max_text_chars = max_text_chars
        # Files parsed at once per ingest call (one per parser worker process).
        self.prepare_threads = max(1, prepare_threads)
        self.catalog = Catalog(store)
        # What config_hash was made of besides the chunker (parser, embedder): a collection
        # with a chunk size of its own gets its own hash from them (None: not offered).
        self.hash_parts = hash_parts
        self._chunkings: dict[int, tuple[Chunker, str]] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        # Writing an original and removing one no document holds any more take turns, so a
        # collection's deletion cannot remove bytes an upload has just counted on.
        self._originals = threading.Lock()
        # Embedding calls at once in this process, however many jobs run: concurrent encodes
        # on the same cores slow each other down (RAG_WORKERS__EMBED_CONCURRENCY).
        self._embed_slots = threading.Semaphore(max(1, embed_concurrency))

    def chunking(self, collection: str) -> tuple[Chunker, str]:
        """The chunker and config hash of a collection: the server's, or those of the chunk
        size the collection was created with (rag.store.catalog)."""
        size = self.catalog.chunk_size(collection)
        default = self.chunker.config
        if size is None or self.hash_parts is None or size >= default.max_tokens:
            return self.chunker, self.config_hash
        if size not in self._chunkings:
            config = ChunkerConfig(max_tokens=size, overlap_tokens=min(default.overlap_tokens, size // 4))
            self._chunkings[size] = (Chunker(self.chunker.count, config),
                                     config_hash(**{**self.hash_parts, "chunker": config}))
        return self._chunkings[size]

    def lock(self, collection: str) -> threading.Lock:
        """The writer lock of a collection (the same lock for every call with that name)."""
        with self._locks_guard:
            return self._locks[collection]

    def ingest(self, collection: str, file: IncomingFile) -> FileOutcome:
        """Ingest one file; errors of the file itself come back as a failed outcome."""
        return self.ingest_many(collection, [file])[0]

    def ingest_many(self, collection: str, files: Sequence[IncomingFile],
                    progress: Callable[[int], None] | None = None,
                    batch_chunks: int = 512, events: IngestEvents | None = None) -> list[FileOutcome]:
        """Ingest files in order; returns one outcome per file.

        Files are parsed and chunked in helper threads (`prepare_threads` at a time, results
        kept in file order) while this thread embeds and writes what is ready: the parser
        workers are other processes, so parsing the next files overlaps embedding the last.
        Embedding runs in large batches (the embedder batches well), and each batch is one
        SQLite transaction and one FAISS update. At most two batches wait, which bounds memory.
        """
        outcomes: list[FileOutcome | None] = [None] * len(files)
        ready: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def hand_over(item: tuple[str, Any] | None) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def prepare(i: int, file: IncomingFile) -> "FileOutcome | _Prepared":
            if events:
                events.parsing(i)
            return self._prepare(collection, file)

        def prepared_in_order() -> Iterator[tuple[int, "FileOutcome | _Prepared"]]:
            # A small window of files in flight: parallel parsing without reading ahead of
            # the embedder by more than a few files.
            window: deque[Future] = deque()
            with ThreadPoolExecutor(self.prepare_threads, thread_name_prefix="ingest-parse") as pool:
                try:
                    for i, file in enumerate(files):
                        window.append(pool.submit(prepare, i, file))
                        if len(window) > 2 * self.prepare_threads:
                            yield i - len(window) + 1, window.popleft().result()
                    first = len(files) - len(window)
                    for offset in range(len(window)):
                        yield first + offset, window.popleft().result()
                finally:
                    for future in window:
                        future.cancel()

        def prepare_all() -> None:
            pending: list[tuple[int, _Prepared]] = []
            pending_chunks = 0
            try:
                for i, prepared in prepared_in_order():
                    if stop.is_set():
                        return
                    if isinstance(prepared, FileOutcome):
                        if not hand_over(("done", [(i, prepared)])):
                            return
                        continue
                    pending.append((i, prepared))
                    pending_chunks += len(prepared.drafts)
                    if events:
                        events.embedding([i])
                    if pending_chunks >= batch_chunks:
                        if not hand_over(("commit", pending)):
                            return
                        pending, pending_chunks = [], 0
                if pending:
                    hand_over(("commit", pending))
            except BaseException as exc:  # handed to the caller's thread, raised there
                hand_over(("error", exc))
            finally:
                hand_over(None)

        producer = threading.Thread(target=prepare_all, name=f"ingest-prepare-{collection}", daemon=True)
        producer.start()
        done = 0
        try:
            while (item := ready.get()) is not None:
                kind, payload = item
                if kind == "error":
                    raise payload
                resolved = self._commit(collection, payload) if kind == "commit" else payload
                for j, outcome in resolved:
                    outcomes[j] = outcome
                done += len(resolved)
                if progress:
                    progress(done)
                if events:
                    events.resolved(resolved)
        finally:
            stop.set()  # the helper stops at its next file if this thread failed
            producer.join()
        return [o for o in outcomes if o is not None]

    def _prepare(self, collection: str, file: IncomingFile) -> "FileOutcome | _Prepared":
        name = display_path(file.name)
        try:
            kind = detect_kind(file.data, name)
        except UnsupportedType as exc:
            return FileOutcome(name, "failed", reason=str(exc))
        doc_id = document_id(collection, name)
        content_hash = hashlib.sha256(file.data).hexdigest()
        chunker, chash = self.chunking(collection)
        existing, unchanged = self._lookup(collection, name, content_hash, chash)
        if unchanged:
            assert existing is not None
            if file.metadata is not None and file.metadata != existing.metadata:
                # Same bytes, new metadata: the row changes, nothing is parsed or embedded.
                with self.lock(collection):
                    doc = self.catalog.update_metadata(collection, existing.id, file.metadata, replace=True)
                return FileOutcome(name, "unchanged", doc.id, doc.version, doc.chunk_count,
                                   note="metadata updated; the content is unchanged, so nothing was re-embedded")
            return _unchanged_outcome(existing)
        try:
            check_container(file.data, name, kind.name)
            # Bounded before parsing (text input) and after (what any parser extracted).
            data, cut_before = bound_input(file.data, kind.name, self.max_text_chars)
            elements, cut_after = bound_elements(self.parser.parse(data, name, kind.name), self.max_text_chars)
            drafts = chunker.chunk(elements)
        except ParseFailed as exc:
            return FileOutcome(name, "failed", document_id=doc_id, reason=str(exc))
        note = (f"only the first {self.max_text_chars:,} characters were ingested "
                "(RAG_INGEST__MAX_TEXT_CHARS)") if cut_before or cut_after else None
        return _Prepared(name, doc_id, content_hash, kind.mime_type, file, drafts, note)

    def _commit(self, collection: str, batch: list[tuple[int, "_Prepared"]]) -> list[tuple[int, FileOutcome]]:
        texts = [d.text for _, p in batch for d in p.drafts]
        with self._embed_slots:
            vectors = self.embedder.embed_documents(texts)
        for _, p in batch:
            self._keep_original(p.content_hash, p.file.data)
        chash = self.chunking(collection)[1]
        statuses: list[str] = []  # per batch entry: added / updated / unchanged
        writes: list[DocumentWrite] = []
        offset = 0
        with self.lock(collection):
            seen_in_batch: set[str] = set()
            for _, p in batch:
                span = vectors[offset: offset + len(p.drafts)]
                offset += len(p.drafts)
                # Re-check under the lock: a concurrent upload of the same bytes may have won.
                existing, unchanged = self._lookup(collection, p.name, p.content_hash, chash)
                if p.document_id in seen_in_batch or unchanged:
                    statuses.append("unchanged")
                    continue
                seen_in_batch.add(p.document_id)
                statuses.append("updated" if existing is not None else "added")
                writes.append(DocumentWrite(
                    document_id=p.document_id, name=p.name, source=p.file.source, content_hash=p.content_hash,
                    config_hash=chash, size=len(p.file.data), mime_type=p.mime_type,
                    metadata=p.file.metadata, chunks=p.drafts, embeddings=span,
                ))
            if writes:
                with self.indexes.local_write():
                    write = self.store.replace_documents(collection, writes)
                    faults.hit("after_chunks_committed")  # the store has it, FAISS does not yet
                    self.indexes.apply(write, np.vstack([w.embeddings for w in writes]))
            # Again after the commit: a collection deleted meanwhile may have removed the
            # original this batch found already there (_keep_original skips existing files).
            for _, p in batch:
                self._keep_original(p.content_hash, p.file.data)
        # The write returns the stored documents (with their new versions): no re-reading.
        written = {doc.id: doc for doc in write.documents} if writes else {}
        resolved = []
        for status, (i, p) in zip(statuses, batch):
            if status == "unchanged":
                resolved.append((i, _unchanged_outcome(self.store.find_document(collection, p.name))))
            else:
                doc = written[p.document_id]
                resolved.append((i, FileOutcome(p.name, status, p.document_id, doc.version, len(p.drafts),
                                                note=p.note)))
        return resolved

    def delete(self, collection: str, doc_id: str) -> int:
        """Remove a document; no chunk of it can be retrieved once this returns. Returns the
        generation the delete produced."""
        with self.lock(collection), self.indexes.local_write():
            write = self.store.delete_document(collection, doc_id)
            faults.hit("after_delete_committed")
            self.indexes.apply(write)
        return write.generation

    def delete_collection(self, collection: str) -> Deleted:
        """Remove a collection with everything in it (rag.store.catalog) and, once that is
        committed, its vector cache and the originals no other collection shares. Queries
        that already hold its index finish from it; later ones get 404."""
        with self.lock(collection), self.indexes.local_write():
            deleted = self.catalog.delete_collection(collection)
            faults.hit("after_collection_deleted")  # committed; the cache and the originals not yet gone
            self.indexes.forget(deleted.collection_id)
        with self._originals:
            for content_hash in deleted.orphaned_originals:
                if not self.catalog.original_in_use(content_hash):
                    self.original_path(content_hash).unlink(missing_ok=True)
        return deleted

    def original_path(self, content_hash: str) -> Path:
        """Where the original bytes with this SHA-256 are kept."""
        return self.files_dir / content_hash[:2] / content_hash

    def generation(self, collection: str) -> int | None:
        """The collection's generation in the database now (None if it does not exist): at
        least that of every write acknowledged so far, on any replica."""
        try:
            return self.store.generation(self.store.collection_id(collection))
        except NotFound:
            return None

    def _lookup(self, collection: str, name: str, content_hash: str, config: str) -> tuple[Document | None, bool]:
        """The stored document of that name, and whether it already holds these bytes under
        the current parser/chunker/embedder settings."""
        doc = self.store.find_document(collection, name)
        unchanged = (doc is not None and doc.content_hash == content_hash
                     and self.store.document_config_hash(doc.id) == config)
        return doc, unchanged

    def keep_original(self, data: bytes) -> str:
        """Store the bytes as an original (before an upload job that reads them is queued)
        and return their SHA-256; StorageFull (507) when the disk is full."""
        content_hash = hashlib.sha256(data).hexdigest()
        self._keep_original(content_hash, data)
        return content_hash

    def _keep_original(self, content_hash: str, data: bytes) -> None:
        # Originals are stored content-addressed under generated names (never the upload's
        # name), so a later settings change can re-ingest them.
        path = self.original_path(content_hash)
        with self._originals:
            if path.exists():
                return
            try:
                with atomic_path(path) as tmp:
                    tmp.write_bytes(data)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                    raise StorageFull(f"no space left for originals in {self.files_dir} ({exc.strerror}): free "
                                      "space there, then retry; nothing of this upload was kept") from exc
                raise


def _unchanged_outcome(doc: Document | None) -> FileOutcome:
    assert doc is not None
    return FileOutcome(doc.name, "unchanged", doc.id, doc.version, doc.chunk_count)
