"""The CLI over HTTP (--url / RAG_URL) against a real `rag serve` process with auth on, as a
new user would use it: upload with a progress bar, ask with the answer streamed, list and
delete documents, sources, jobs and keys; errors as one line and a non-zero exit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.bootstrap import Runtime
from rag.cli import app
from rag.client import ApiError, Client, Upload
from tests import docs
from tests.server import Server, free_port, link_model_cache

ADMIN = "cli-admin-key-for-tests"
FACT = "The Brackwater depot opens its loading dock at 05:40 on weekdays."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime):
    data = tmp_path_factory.mktemp("cli-http") / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, RAG_ADMIN_KEY=ADMIN, RAG_LOAD_SAMPLES="false").start()
    yield srv
    srv.stop()


def rag(server: Server, *args: str, key: str | None = ADMIN):
    env = {"RAG_URL": server.base} | ({"RAG_API_KEY": key} if key else {})
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-docs")
    (root / "depot.md").write_bytes(docs.markdown("Depot", {"Hours": FACT}))
    (root / "fleet.md").write_bytes(docs.markdown("Fleet", {"Vans": "The fleet has eleven electric vans."}))
    (root / "tool.exe").write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 8)  # refused, alone
    return root


def test_upload_ask_and_documents_over_http(server: Server, folder: Path) -> None:
    up = rag(server, "ingest", str(folder), "-c", "depot")
    assert up.exit_code == 0, up.output
    assert "2 added" in up.output and "1 failed" in up.output
    assert "tool.exe" in up.output and "unsupported_type" in up.output  # the bad file fails alone

    asked = rag(server, "ask", "When does the loading dock open?", "-c", "depot")
    assert asked.exit_code == 0, asked.output
    assert "05:40" in asked.output and "depot.md" in asked.output

    listed = rag(server, "documents", "list", "-c", "depot")
    assert listed.exit_code == 0 and "depot.md" in listed.output and "fleet.md" in listed.output
    fleet_id = next(line.split("\t")[0] for line in listed.output.splitlines() if "fleet.md" in line)
    assert rag(server, "documents", "delete", fleet_id, "-c", "depot").exit_code == 0
    assert "fleet.md" not in rag(server, "documents", "list", "-c", "depot").output
    assert "depot\t1 documents" in rag(server, "collections").output


def test_the_client_streams_tokens_before_the_answer(server: Server, folder: Path) -> None:
    with Client(server.base, ADMIN) as gw:
        gw.upload("stream", [Upload(folder / "depot.md", "depot.md")])
        events = list(gw.ask_stream("stream", "At what time does the Brackwater loading dock open?"))
    assert events[-1].kind == "answer" and "05:40" in events[-1].answer["answer"]
    assert [e.kind for e in events[:-1]] and all(e.kind == "token" for e in events[:-1])


def test_sources_jobs_and_keys_over_http(server: Server, folder: Path) -> None:
    added = rag(server, "sources", "add", str(folder), "-c", "synced", "--include", "*.md")
    assert added.exit_code == 0, added.output
    source_id = added.output.split("\t")[0]
    assert source_id in rag(server, "sources", "list").output
    synced = rag(server, "sources", "sync", source_id)
    assert synced.exit_code == 0, synced.output
    assert "succeeded" in synced.output
    assert source_id in rag(server, "sources", "list").output
    assert "sync\tsynced" in rag(server, "jobs").output
    job_id = re.findall(r"job_[0-9a-f]{16}", synced.output)[-1]
    assert "succeeded" in rag(server, "jobs", "show", job_id).output
    finished = rag(server, "jobs", "cancel", job_id)
    assert finished.exit_code == 1 and finished.output.startswith("error: invalid_request: "), finished.output
    assert rag(server, "sources", "remove", source_id).exit_code == 0
    assert source_id not in rag(server, "sources", "list").output

    created = rag(server, "keys", "create", "reader", "--scope", "read:depot", "--rate-per-minute", "100")
    assert created.exit_code == 0, created.output
    key_id, key = created.output.strip().split("\t")
    assert "read:depot\t100/min\tactive" in rag(server, "keys", "list").output
    assert rag(server, "collections", key=key).output.startswith("depot")  # sees only its collection
    assert rag(server, "keys", "revoke", key_id).exit_code == 0
    revoked = rag(server, "collections", key=key)
    assert revoked.exit_code == 1
    assert revoked.output.strip() == "error: unauthorized: unknown or revoked API key"


def test_errors_are_one_line_and_a_non_zero_exit(server: Server) -> None:
    missing = rag(server, "documents", "list", "-c", "nope")
    assert missing.exit_code == 1 and missing.output.strip().startswith("error: collection_not_found: ")
    assert len(missing.output.strip().splitlines()) == 1
    no_key = rag(server, "collections", key=None)
    assert no_key.exit_code == 1 and no_key.output.startswith("error: unauthorized: ")
    down = CliRunner().invoke(app, ["collections", "--url", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 1 and down.output.startswith("error: unreachable: cannot reach")
    with Client(server.base, ADMIN) as gw, pytest.raises(ApiError) as caught:
        gw.search("depot", "   ")
    assert caught.value.status == 400 and caught.value.code == "invalid_request"


def test_collections_and_document_metadata_from_the_cli(server: Server, tmp_path: Path) -> None:
    made = rag(server, "collections", "create", "ledger", "-d", "Purchase ledger")
    assert made.exit_code == 0, made.output
    assert rag(server, "collections", "create", "ledger").exit_code == 1  # 409: one line, exit 1
    with Client(server.base, ADMIN) as gw:
        files = []
        for i in range(5):
            path = tmp_path / f"invoice-{i}.md"
            path.write_bytes(docs.markdown(f"Invoice {i}", {"Total": f"Invoice {i} totals {100 + i} euros."}))
            files.append(Upload(path, path.name))
        gw.upload("ledger", files, metadata={"year": 2025}, file_metadata={"invoice-3.md": {"paid": True}})
    paid = rag(server, "documents", "list", "-c", "ledger", "--meta", "paid=true")
    assert paid.exit_code == 0 and [line.split("\t")[1] for line in paid.output.splitlines()] == ["invoice-3.md"]
    doc_id = paid.output.split("\t")[0]
    tagged = rag(server, "documents", "tag", doc_id, "-c", "ledger", "--set", "paid=false", "--unset", "year")
    assert tagged.exit_code == 0 and tagged.output.strip() == '{"paid": false}'
    assert rag(server, "documents", "list", "-c", "ledger", "--meta", "paid=true").output == ""
    newest = rag(server, "documents", "list", "-c", "ledger", "--prefix", "invoice-", "--sort", "name", "--desc")
    assert [line.split("\t")[1] for line in newest.output.splitlines()] == [f"invoice-{i}.md" for i in range(4, -1, -1)]
    out = tmp_path / "copy.md"
    assert rag(server, "documents", "file", doc_id, "-c", "ledger", "-o", str(out)).exit_code == 0
    assert out.read_bytes() == (tmp_path / "invoice-3.md").read_bytes()
    chunks = rag(server, "documents", "chunks", doc_id, "-c", "ledger")
    assert "103 euros" in chunks.output
    shown = rag(server, "collections", "show", "ledger")
    assert '"documents": 5' in shown.output and '"description": "Purchase ledger"' in shown.output
    assert rag(server, "collections", "delete", "ledger", "--yes").exit_code == 0
    gone = rag(server, "documents", "list", "-c", "ledger")
    assert gone.exit_code == 1 and "collection_not_found" in gone.output
