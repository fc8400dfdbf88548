"""Backups of a running server: a backup taken during a stream of uploads restores to a data
directory that holds every upload acknowledged before the backup began, passes `rag check`,
and serves them; `rag check` finds damaged originals, foreign index files and orphans."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.bootstrap import Runtime
from rag.cli import app
from rag.errors import InvalidInput
from rag.store.backup import backup
from tests.api.test_crash import FAST, marker_doc
from tests.server import Server, link_model_cache

C = "kept"


def rag(*args: str):
    return CliRunner().invoke(app, list(args))


def flat(output: str) -> str:
    """The words of a CLI's output without the frame and line breaks of click's error box
    (whose wrapping depends on the terminal width)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_a_backup_under_uploads_restores_every_acknowledged_document(tmp_path: Path, runtime: Runtime) -> None:
    data = tmp_path / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, **FAST).start()
    acknowledged: dict[str, str] = {}  # document id -> marker, in the order they were answered
    order: list[str] = []
    stop = threading.Event()
    try:
        def upload_stream() -> None:
            i = 0
            while not stop.is_set():
                name, marker, body = marker_doc(i, "b")
                status, answer = srv.upload(C, {name: body}, timeout=60)
                if status == 200:
                    acknowledged[answer["files"][0]["document_id"]] = marker
                    order.append(answer["files"][0]["document_id"])
                i += 1
        writer = threading.Thread(target=upload_stream)
        writer.start()
        while len(acknowledged) < 3:
            stop.wait(0.05)
        before = list(order)                                  # acknowledged before the backup began
        backed = rag("backup", str(tmp_path / "backup"), "--data-dir", str(data))
        while len(order) < len(before) + 2:                  # uploads go on after it
            stop.wait(0.05)
        stop.set()
        writer.join(60)
    finally:
        srv.stop()
    assert backed.exit_code == 0, backed.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["documents"] >= len(before) and manifest["generations"][C] >= len(before)

    restored = tmp_path / "restored"
    link_model_cache(runtime.settings.model_cache_dir, restored)
    assert rag("restore", str(tmp_path / "backup"), "--data-dir", str(restored)).exit_code == 0
    again = rag("restore", str(tmp_path / "backup"), "--data-dir", str(restored))
    assert again.exit_code != 0 and "not empty" in flat(again.output)
    checked = rag("check", "--data-dir", str(restored))
    assert checked.exit_code == 0 and "all checks passed" in checked.output, checked.output

    srv = Server(restored, **FAST).start()
    try:
        for doc_id in before:
            marker = acknowledged[doc_id]
            _, body = srv.call("POST", f"/collections/{C}/search",
                               {"query": marker, "top_k": 5, "filters": {"document_ids": [doc_id]}})
            assert any(marker in hit["text"] for hit in body["results"]), (marker, body)
            status, original = srv.call("GET", f"/collections/{C}/documents/{doc_id}")
            assert status == 200 and original["version"] == 1
    finally:
        srv.stop()
    checked = rag("check", "--data-dir", str(restored))               # after the rebuild, with index files
    assert checked.exit_code == 0 and "index agrees" in checked.output, checked.output


def test_check_finds_what_is_wrong(tmp_path: Path, runtime: Runtime) -> None:
    from ingest.pipeline import IncomingFile
    from rag.bootstrap import build_runtime

    settings = runtime.settings.model_copy(update={"data_dir": tmp_path / "data", "files_dir": tmp_path / "data" / "files"})
    rt = build_runtime(settings, embedder=runtime.embedder, generator=runtime.generator, parser=runtime.parser,
                       reranker=runtime.reranker)
    outcome = rt.ingestor.ingest_many("checked", [IncomingFile("a.md", b"# A\n\nThe A wing opens at 07:10.\n")])[0]
    rt.store.close()
    data = ["--data-dir", str(tmp_path / "data")]
    assert rag("check", *data).exit_code == 0
    doc = outcome.document_id
    assert doc is not None
    original = next(p for p in (tmp_path / "data" / "files").glob("*/*"))
    original.write_bytes(b"tampered")
    (tmp_path / "data" / "files" / "zz").mkdir()
    (tmp_path / "data" / "files" / "zz" / ("f" * 64)).write_bytes(b"nobody's")
    (tmp_path / "data" / "index" / "collection-999.faiss").write_bytes(b"not ours")
    result = rag("check", *data)
    assert result.exit_code == 1
    assert "does not match its hash" in result.output and "no document holds" in result.output
    assert "collection-999.faiss: index of a collection that no longer exists" in result.output
    index = next((tmp_path / "data" / "index").glob("collection-[0-9].faiss"))
    index.write_bytes(b"GWFAISS2 but then garbage")
    assert "is unreadable" in rag("check", *data).output
    pg = CliRunner().invoke(app, ["backup", str(tmp_path / "b"), *data],
                            env={"RAG_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})
    assert pg.exit_code != 0 and "pg_dump" in flat(pg.output)
    with pytest.raises(InvalidInput, match="not empty: back up into a new folder"):
        backup(settings.db_path, settings.files_dir, tmp_path / "data")
