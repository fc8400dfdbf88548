"""Files on the local disk, named as documents and read in bounded batches.

`rag ingest ~/archive` may name tens of thousands of files: reading them all before the
first is ingested holds the whole archive in memory. Batches are cut by bytes and by file
count, and each is read only when the previous one has been ingested.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.pipeline import IncomingFile

BATCH_BYTES = 64 * 1024 * 1024
BATCH_FILES = 64


@dataclass(frozen=True)
class LocalFile:
    """A file to ingest: where it is and the document name it gets."""

    path: Path
    name: str


def find_files(paths: Sequence[Path]) -> list[LocalFile]:
    """Files named by their file name; files inside a folder by their path below it (so two
    notes.md in different sub-folders stay two documents). Folders are walked in name order."""
    out = []
    for p in paths:
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file():
                out.append(LocalFile(f, f.name if p.is_file() else f.relative_to(p).as_posix()))
    return out


def group_batches(files: Sequence[LocalFile], max_bytes: int = BATCH_BYTES, max_files: int = BATCH_FILES,
                  ) -> Iterator[list[LocalFile]]:
    """The files in order, in groups of at most `max_files` files and `max_bytes` bytes (by the
    sizes on disk); a single file larger than `max_bytes` is a group of its own."""
    batch: list[LocalFile] = []
    size = 0
    for f in files:
        try:
            length = f.path.stat().st_size
        except OSError:
            length = 0  # reported when it is read
        if batch and (len(batch) >= max_files or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += length
    if batch:
        yield batch


def read_batches(files: Sequence[LocalFile], max_bytes: int = BATCH_BYTES, max_files: int = BATCH_FILES,
                 ) -> Iterator[tuple[list[IncomingFile], list[tuple[LocalFile, str]]]]:
    """(files read, files that could not be read with the reason) per group of
    `group_batches`, each read only when it is asked for."""
    for batch in group_batches(files, max_bytes, max_files):
        yield _read(batch)


def _read(batch: list[LocalFile]) -> tuple[list[IncomingFile], list[tuple[LocalFile, str]]]:
    read, unreadable = [], []
    for f in batch:
        try:
            read.append(IncomingFile(f.name, f.path.read_bytes(), source=str(f.path.resolve())))
        except OSError as exc:
            unreadable.append((f, f"cannot read {f.path}: {exc.strerror or exc}"))
    return read, unreadable
