"""`rag serve` as a real process on a fresh data directory: samples load, the README tour works."""

from __future__ import annotations

import urllib.request

import pytest

from rag.bootstrap import Runtime
from tests.server import ROOT, Server, link_model_cache


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime):
    data = tmp_path_factory.mktemp("served") / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data).start()
    yield srv
    srv.stop()


def test_samples_are_ingested_on_an_empty_data_dir(server: Server) -> None:
    status, body = server.call("GET", "/collections")
    assert status == 200
    samples = next(c for c in body["collections"] if c["name"] == "samples")
    assert samples["documents"] == len([p for p in (ROOT / "data" / "samples").iterdir() if p.is_file()])
    _, health = server.call("GET", "/health/details")
    assert health["status"] == "ok" and health["data_dir"] == str(server.data_dir.resolve())
    assert (server.data_dir / "groundwork.sqlite3").exists() and list((server.data_dir / "index").glob("*.faiss"))


def test_readme_first_question(server: Server) -> None:
    status, body = server.call("POST", "/collections/samples/query",
                               {"question": "How many vacation days does each member receive?"})
    assert status == 200, body
    assert "27" in body["answer"] and body["citations"][0]["document_name"] == "handbook.md"


def test_openapi_docs_are_served(server: Server) -> None:
    with urllib.request.urlopen(server.base + "/docs", timeout=30) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()
