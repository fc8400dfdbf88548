"""API keys and collection scoping: B's documents never reach a key for A."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from rag.api.app import create_app
from rag.bootstrap import Runtime
from rag.cli import app as cli
from rag.cli import is_loopback
from tests import docs

ADMIN = "admin-secret-for-tests"


@pytest.fixture(scope="module")
def api(runtime: Runtime) -> Iterator[TestClient]:
    settings = runtime.settings.model_copy(update={"admin_key": SecretStr(ADMIN)})
    with TestClient(create_app(runtime=runtime, settings=settings)) as c:
        yield c


def auth(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keys(api: TestClient) -> dict[str, str]:
    for coll, fact in (("alpha", "The Alpha vault code is 1122."), ("beta", "The Beta vault code is 8899.")):
        r = api.post(f"/collections/{coll}/documents?wait=true", headers=auth(ADMIN),
                     files=[("files", (f"{coll}.md", docs.markdown(coll, {"Vault": fact})))])
        assert r.status_code == 200, r.text
    out = {}
    for name, scopes in (("reader", ["read:alpha"]), ("writer", ["write:alpha"]), ("both", ["read:alpha", "read:beta"])):
        r = api.post("/keys", headers=auth(ADMIN), json={"name": name, "scopes": scopes})
        assert r.status_code == 201 and r.json()["key"].startswith("gw_")
        out[name] = r.json()["key"]
        out[name + "_id"] = r.json()["id"]
    return out


def test_missing_or_wrong_key_is_401(api: TestClient) -> None:
    assert api.get("/collections").status_code == 401
    r = api.get("/collections", headers=auth("gw_not-a-key"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.get("/health").status_code in (200, 503)  # liveness stays open
    assert api.get("/health/details").status_code == 401


def test_health_names_nothing_without_a_key_and_only_own_collections_with_one(api: TestClient, keys: dict) -> None:
    bare = api.get("/health")
    assert set(bare.json()) == {"status", "version"}
    assert "alpha" not in bare.text and "data" not in bare.text
    reader = api.get("/health/details", headers=auth(keys["reader"]))
    assert reader.status_code in (200, 503), reader.text
    assert [c["name"] for c in reader.json()["collections"]] == ["alpha"]
    assert reader.json()["data_dir"] is None  # the path is for admins only
    admin = api.get("/health/details", headers=auth(ADMIN)).json()
    assert {"alpha", "beta"} <= {c["name"] for c in admin["collections"]} and admin["data_dir"]


def test_a_key_with_a_rate_gets_429_past_it_and_others_are_not_slowed(api: TestClient, keys: dict) -> None:
    r = api.post("/keys", headers=auth(ADMIN), json={"name": "chatty", "scopes": ["read:alpha"], "rate_per_minute": 3})
    assert r.status_code == 201, r.text
    chatty = auth(r.json()["key"])
    assert [api.get("/collections", headers=chatty).status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/collections/alpha/documents", headers=chatty)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert api.get("/collections", headers=auth(keys["reader"])).status_code == 200  # unlimited key
    assert api.get("/collections", headers=auth(ADMIN)).status_code == 200
    listed = {k["name"]: k for k in api.get("/keys", headers=auth(ADMIN)).json()["keys"]}
    assert listed["chatty"]["rate_per_minute"] == 3 and listed["reader"]["rate_per_minute"] is None
    assert api.post("/keys", headers=auth(ADMIN), json={"name": "x", "scopes": ["admin"], "rate_per_minute": 0}).status_code == 422


def test_the_admin_key_never_appears_in_settings_dumps_logs_or_health(api: TestClient, keys: dict,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = api.app.state.settings
    assert ADMIN not in repr(settings) and ADMIN not in str(settings.model_dump())
    assert ADMIN not in settings.model_dump_json()
    with caplog.at_level("DEBUG"):
        api.post("/collections/alpha/search", headers=auth(ADMIN), json={"query": "vault"})
        api.get("/collections", headers=auth("wrong-" + ADMIN))
        text = api.get("/health/details", headers=auth(ADMIN)).text
    assert ADMIN not in text and ADMIN not in caplog.text


def test_a_key_sees_only_its_collections(api: TestClient, keys: dict) -> None:
    reader = auth(keys["reader"])
    names = [c["name"] for c in api.get("/collections", headers=reader).json()["collections"]]
    assert "alpha" in names and "beta" not in names
    assert api.get("/collections/beta/documents", headers=reader).status_code == 404
    assert api.post("/collections/beta/search", headers=reader, json={"query": "vault code"}).status_code == 404
    assert api.post("/collections/beta/query", headers=reader, json={"question": "Beta vault code?"}).status_code == 404
    beta_doc = api.get("/collections/beta/documents", headers=auth(ADMIN)).json()["documents"][0]["id"]
    # Naming B's document id through A's collection or in a filter gets nothing of B.
    assert api.get(f"/collections/alpha/documents/{beta_doc}", headers=reader).status_code == 404
    r = api.post("/collections/alpha/search", headers=reader,
                 json={"query": "Beta vault code 8899", "top_k": 10, "filters": {"document_ids": [beta_doc]}})
    assert r.status_code == 200 and r.json()["results"] == []
    body = api.post("/collections/alpha/query", headers=reader, json={"question": "What is the Beta vault code?"}).json()
    assert "8899" not in body["answer"] and all(c["document_name"] != "beta.md" for c in body["citations"])
    assert [m["id"] for m in api.get("/v1/models", headers=reader).json()["data"]] == ["groundwork/alpha"]
    r = api.post("/v1/chat/completions", headers=reader,
                 json={"model": "groundwork/beta", "messages": [{"role": "user", "content": "Beta vault code?"}]})
    assert r.status_code == 404


def test_scopes_for_writing_and_admin(api: TestClient, keys: dict) -> None:
    upload = [("files", ("new.md", docs.markdown("N", {"S": "Alpha has a new vault."})))]
    assert api.post("/collections/alpha/documents?wait=true", headers=auth(keys["reader"]), files=upload).status_code == 404
    assert api.post("/collections/alpha/documents?wait=true", headers=auth(keys["writer"]), files=upload).status_code == 200
    assert api.get("/collections/alpha/documents", headers=auth(keys["writer"])).status_code == 200  # write implies read
    for path in ("/jobs", "/sources", "/keys"):
        assert api.get(path, headers=auth(keys["both"])).status_code == 403
    assert api.post("/keys", headers=auth(ADMIN), json={"name": "x", "scopes": ["root"]}).status_code == 400
    listed = api.get("/keys", headers=auth(ADMIN)).json()["keys"]
    assert all("key" not in k and "key_hash" not in k for k in listed)


def test_revoked_key_stops_working(api: TestClient, keys: dict) -> None:
    assert api.get("/collections", headers=auth(keys["both"])).status_code == 200
    assert api.delete(f"/keys/{keys['both_id']}", headers=auth(ADMIN)).status_code == 204
    assert api.get("/collections", headers=auth(keys["both"])).status_code == 401
    assert api.delete(f"/keys/{keys['both_id']}", headers=auth(ADMIN)).status_code == 404


def test_serve_refuses_a_public_address_without_admin_key(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RAG_ADMIN_KEY", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "RAG_ADMIN_KEY" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_a_scoped_key_follows_its_own_uploads_jobs_only(api: TestClient, keys: dict) -> None:
    up = api.post("/collections/alpha/documents", headers=auth(keys["writer"]),
                  files=[("files", ("alpha-2.md", docs.markdown("Alpha two", {"Desk": "Desk 4 is by the window."})))])
    assert up.status_code == 202, up.text
    job_id = up.json()["job_id"]
    assert api.get(f"/jobs/{job_id}", headers=auth(keys["writer"])).status_code == 200
    assert api.get(f"/jobs/{job_id}", headers=auth(keys["reader"])).status_code == 200
    # A key for beta only learns nothing about alpha's job; listing every job needs admin.
    beta = api.post("/keys", headers=auth(ADMIN), json={"name": "beta-only", "scopes": ["write:beta"]}).json()["key"]
    assert api.get(f"/jobs/{job_id}", headers=auth(beta)).status_code == 404
    assert api.get(f"/jobs/{job_id}/events", headers=auth(beta)).status_code == 404
    assert api.post(f"/jobs/{job_id}/cancel", headers=auth(keys["reader"])).status_code == 404
    assert api.get("/jobs", headers=auth(keys["writer"])).status_code == 403
