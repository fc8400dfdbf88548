"""Backup, restore and check of an embedded (SQLite) data directory, while the service runs.

A backup is a folder: `groundwork.sqlite3` (SQLite's online backup API, one consistent
snapshot even while others write), the originals that snapshot's documents hold (by content
hash, each verified against its name), and `manifest.json` with the checksums and every
collection's generation. The FAISS files are not copied: they are derived, and a restored
data directory rebuilds them on its first start. PostgreSQL is backed up with its own tools
(pg_dump) plus the originals directory (README, "Past one machine").
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from rag.clock import utc_iso
from rag.errors import InvalidInput
from rag.files import atomic_path

MANIFEST = "manifest.json"
DATABASE = "groundwork.sqlite3"
FORMAT = 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _original(files_dir: Path, content_hash: str) -> Path:
    return files_dir / content_hash[:2] / content_hash


def _empty(folder: Path, allowed: frozenset[str] = frozenset()) -> bool:
    return not folder.exists() or all(p.name in allowed for p in folder.iterdir())


@dataclass
class BackupReport:
    """What a backup holds: collections with their generations, originals, and any original
    the snapshot names that was not on disk (reported, never silently skipped)."""

    dest: Path
    generations: dict[str, int]
    documents: int
    originals: int
    missing: list[str] = field(default_factory=list)


def backup(database: Path, files_dir: Path, dest: Path) -> BackupReport:
    """Write a consistent backup of `database` and its originals into `dest` (new or empty)."""
    if not database.is_file():
        raise InvalidInput(f"no database at {database}: is this the data directory of a Groundwork?")
    if not _empty(dest):
        raise InvalidInput(f"{dest} is not empty: back up into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / DATABASE
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # every page in one step: one consistent snapshot
    finally:
        source.close()
    try:
        generations = {r[0]: int(r[1]) for r in copy.execute("SELECT name, generation FROM collections")}
        hashes = sorted({r[0] for r in copy.execute("SELECT content_hash FROM documents")})
        documents = int(copy.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        schema = copy.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        copy.close()
    originals: dict[str, int] = {}
    missing: list[str] = []
    for content_hash in hashes:
        src = _original(files_dir, content_hash)
        if not src.is_file() or _sha256(src) != content_hash:
            missing.append(content_hash)
            continue
        out = _original(dest / "files", content_hash)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        originals[content_hash] = out.stat().st_size
    manifest = {"format": FORMAT, "created_at": utc_iso(), "schema_version": int(schema[0]) if schema else None,
                "database": {"file": DATABASE, "sha256": _sha256(target)},
                "generations": generations, "documents": documents, "originals": originals, "missing": missing}
    with atomic_path(dest / MANIFEST) as tmp:  # written last: a backup without it is unfinished
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return BackupReport(dest, generations, documents, len(originals), missing)


def restore(src: Path, database: Path, files_dir: Path) -> dict:
    """Restore the backup in `src` into an empty data directory (checksums verified first);
    returns its manifest. The FAISS indexes are rebuilt on the next start."""
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise InvalidInput(f"{src} holds no {MANIFEST}: not a finished Groundwork backup")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{src} is a backup of format {manifest.get('format')}; this release reads {FORMAT}")
    data_dir = database.parent
    if database.exists() or not _empty(files_dir) or not _empty(data_dir, frozenset({"models", "files", "index"})):
        raise InvalidInput(f"{data_dir} is not empty: restore into a new data directory (RAG_DATA_DIR)")
    if _sha256(src / DATABASE) != manifest["database"]["sha256"]:
        raise InvalidInput(f"{src / DATABASE} does not match its checksum in the manifest: the backup is damaged")
    for content_hash in manifest["originals"]:
        if _sha256(_original(src / "files", content_hash)) != content_hash:
            raise InvalidInput(f"the original {content_hash} in {src} does not match its hash: the backup is damaged")
    data_dir.mkdir(parents=True, exist_ok=True)
    for content_hash in manifest["originals"]:
        out = _original(files_dir, content_hash)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_original(src / "files", content_hash), out)
    with atomic_path(database) as tmp:  # last: until it is there, the directory holds no store
        shutil.copyfile(src / DATABASE, tmp)
    return manifest


@dataclass
class CheckReport:
    """Problems (the exit status is non-zero when there are any) and notes (tidy-ups)."""

    lines: list[str] = field(default_factory=list)
    problems: int = 0

    def problem(self, text: str) -> None:
        """Something is wrong: the check fails."""
        self.lines.append(f"PROBLEM  {text}")
        self.problems += 1

    def ok(self, text: str) -> None:
        """Something checked and found right."""
        self.lines.append(f"ok       {text}")

    def note(self, text: str) -> None:
        """Worth knowing, not wrong (a file nothing refers to)."""
        self.lines.append(f"note     {text}")


def check(database: Path, files_dir: Path, index_dir: Path) -> CheckReport:
    """Database integrity, each collection's FAISS ids against its chunk ids, originals
    against their hashes, and files nothing refers to."""
    from rag.store.faiss_index import FaissIndex

    report = CheckReport()
    if not database.is_file():
        report.problem(f"no database at {database}")
        return report
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        try:
            verdict = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            report.problem(f"{database}: {exc}; restore the last backup (rag restore)")
            return report
        if verdict != ["ok"]:
            report.problem(f"{database}: integrity check failed: {'; '.join(verdict[:5])}; restore the last backup")
            return report
        report.ok(f"{database}: integrity check passed")
        blob = conn.execute("SELECT embedding FROM chunks LIMIT 1").fetchone()
        dimension = len(blob[0]) // 4 if blob else None
        collections = conn.execute("SELECT id, name, generation FROM collections ORDER BY name").fetchall()
        for cid, name, generation in collections:
            ids = {int(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE collection_id = ?", (cid,))}
            path = index_dir / f"collection-{cid}.faiss"
            if not path.exists():
                report.note(f"collection {name!r}: no index file yet (built on the next start)")
                continue
            try:
                index, stamp = FaissIndex.load(path, dimension)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
                report.problem(f"collection {name!r}: index {path} is unreadable ({exc}); delete it and "
                               "restart: it is rebuilt from the database")
                continue
            if stamp == generation and index.ids() != ids:
                report.problem(f"collection {name!r}: index {path} holds other chunk ids than the database at "
                               f"generation {generation}; delete it and restart: it is rebuilt")
            elif stamp > generation:
                report.problem(f"collection {name!r}: index {path} is ahead of the database "
                               f"({stamp} > {generation}); delete it and restart")
            else:
                behind = "" if stamp == generation else f" (at generation {stamp}; brought forward on start)"
                report.ok(f"collection {name!r}: {len(ids)} chunks, index agrees{behind}")
        known = {f"collection-{cid}.faiss" for cid, _, _ in collections}
        for path in sorted(index_dir.glob("collection-*.faiss")) if index_dir.is_dir() else []:
            if path.name not in known:
                report.note(f"{path}: index of a collection that no longer exists (safe to delete)")
        hashes = {r[0] for r in conn.execute("SELECT DISTINCT content_hash FROM documents")}
    finally:
        conn.close()
    bad = 0
    for content_hash in sorted(hashes):
        path = _original(files_dir, content_hash)
        if not path.is_file():
            report.problem(f"original {content_hash} is missing from {files_dir} (the document cannot be "
                           "downloaded or re-embedded; upload it again)")
            bad += 1
        elif _sha256(path) != content_hash:
            report.problem(f"original {path} does not match its hash (damaged); upload the document again")
            bad += 1
    if not bad:
        report.ok(f"{len(hashes)} originals match their hashes")
    if files_dir.is_dir():
        for path in sorted(p for p in files_dir.glob("*/*") if p.is_file()):
            if path.name not in hashes and not path.name.startswith("."):
                report.note(f"{path}: an original no document holds (safe to delete)")
    return report
