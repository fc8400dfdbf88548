"""Incremental sync of a source into its collection, recorded on a durable job."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.filetypes import display_path
from ingest.pipeline import FileOutcome, IncomingFile, Ingestor
from rag import faults
from rag.errors import NotFound
from rag.store.jobs import COUNT_KEYS, Job, JobStore, describe_counts
from rag.store.sources import SeenFile, Source, SourceStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listed:
    """A file found in a source."""

    rel_path: str
    path: Path
    size: int
    mtime_ns: int


def list_source(source: Source) -> list[Listed]:
    """Files of a folder (recursive, include/exclude globs on the relative path) or one file."""
    root = Path(source.path)
    if source.kind == "file":
        if not root.is_file():
            return []
        st = root.stat()
        return [Listed(root.name, root, st.st_size, st.st_mtime_ns)]
    if not root.is_dir():
        raise NotFound(f"folder {root} does not exist (or is not a folder)", "folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if source.include and not any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in source.include):
                continue
            if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in source.exclude):
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            if path.is_file():
                found.append(Listed(rel, path, st.st_size, st.st_mtime_ns))
    return found


@dataclass(frozen=True)
class _Pending:
    """A changed file read and waiting for its batch."""

    item: Listed
    file: IncomingFile
    content_hash: str


class Syncer:
    """Runs one sync job: skip unchanged, re-ingest changed, add new, delete missing."""

    def __init__(self, ingestor: Ingestor, sources: SourceStore, jobs: JobStore,
                 batch_files: int = 32, batch_bytes: int = 64 * 1024 * 1024):
        """Changed files are ingested `batch_files` (or `batch_bytes`) at a time through
        `ingestor.ingest_many`: one SQLite transaction and one FAISS update per embedding
        batch instead of per file, and parsing overlaps embedding."""
        if batch_files < 1 or batch_bytes < 1:
            raise ValueError("batch_files and batch_bytes must be >= 1")
        self.ingestor = ingestor
        self.sources = sources
        self.jobs = jobs
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes

    def run(self, job: Job) -> Job:
        """Execute a claimed (running) sync job to its final state."""
        counts = dict.fromkeys(COUNT_KEYS, 0)
        errors: list[dict[str, str]] = []
        try:
            source = self.sources.get(job.source_id or "")
            listed = list_source(source)
        except Exception as exc:  # a vanished folder fails the job with a reason, nothing else
            log.warning("sync %s of source %s failed: %s", job.id, job.source_id, exc)
            return self.jobs.finish(job.id, "failed", str(exc))
        seen = self.sources.seen(source.id)
        present = {item.rel_path for item in listed}
        gone = [s for rel, s in seen.items() if rel not in present] if source.delete_missing else []
        total = len(listed) + len(gone)
        done = 0
        config = self.ingestor.chunking(source.collection)[1]
        pending: list[_Pending] = []
        pending_bytes = 0

        def flush() -> None:
            nonlocal done, pending_bytes
            if not pending:
                return
            base = done

            def progress(n: int) -> None:
                self.jobs.progress(job.id, done=base + n, total=total, counts=counts, errors=errors)

            outcomes = self.ingestor.ingest_many(source.collection, [p.file for p in pending], progress=progress)
            for p, outcome in zip(pending, outcomes):
                counts[self._record(source, p, outcome, config, errors)] += 1
                done += 1
            pending.clear()
            pending_bytes = 0
            faults.hit("sync_between_files")

        for item in listed:
            if self.jobs.progress(job.id, done=done, total=total, counts=counts, errors=errors):
                # Files read but not ingested yet are dropped: nothing of them was written.
                return self.jobs.finish(job.id, "cancelled", f"cancelled after {done} of {total} files")
            before = seen.get(item.rel_path)
            if self._unchanged(source, item, before, config):
                counts["unchanged"] += 1
                done += 1
                continue
            try:
                data = item.path.read_bytes()
            except OSError as exc:
                errors.append({"file": item.rel_path, "reason": f"cannot read: {exc}"})
                counts["failed"] += 1
                done += 1
                continue
            pending.append(_Pending(item, IncomingFile(display_path(item.rel_path), data, source=source.id,
                                                       metadata={**source.metadata, "path": item.rel_path}),
                                    hashlib.sha256(data).hexdigest()))
            pending_bytes += len(data)
            if len(pending) >= self.batch_files or pending_bytes >= self.batch_bytes:
                flush()
        flush()
        for old in gone:
            try:
                self.ingestor.delete(source.collection, old.document_id)
            except NotFound:
                pass  # already deleted by hand: the goal state holds
            self.sources.forget(source.id, old.rel_path)
            counts["deleted"] += 1
            done += 1
        self.jobs.progress(job.id, done=done, total=total, counts=counts, errors=errors)
        self.sources.mark_synced(source.id)
        log.info("sync %s of source %s into %r: %s", job.id, source.id, source.collection, describe_counts(counts, "nothing to do"))
        for error in errors:
            log.warning("sync %s: %s failed: %s", job.id, error.get("file"), error.get("reason"))
        return self.jobs.finish(job.id, "succeeded")

    def _unchanged(self, source: Source, item: Listed, before: SeenFile | None, config: str) -> bool:
        # Fast path: same size and mtime, same settings, and the document still exists.
        return bool(before and before.size == item.size and before.mtime_ns == item.mtime_ns
                    and before.config_hash == config and self._exists(source, before.document_id))

    def _record(self, source: Source, p: "_Pending", outcome: FileOutcome, config: str,
                errors: list[dict[str, str]]) -> str:
        """Remember what was seen of an ingested file; the file's status."""
        if outcome.status == "failed":
            errors.append({"file": p.item.rel_path, "reason": outcome.reason or "failed"})
            return "failed"
        assert outcome.document_id is not None
        self.sources.record(source.id, SeenFile(p.item.rel_path, p.item.size, p.item.mtime_ns, p.content_hash,
                                                config, outcome.document_id))
        return outcome.status

    def _exists(self, source: Source, document_id: str) -> bool:
        try:
            self.ingestor.store.get_document(source.collection, document_id)
            return True
        except NotFound:
            return False
