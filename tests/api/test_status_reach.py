"""Every status the OpenAPI schema documents for an operation is one it can answer.

Reached by: Schemathesis' negative mode (schema-invalid requests), a valid request per
operation on ids that exist and one on ids that do not, well-formed requests the service
refuses (a bad collection name, a blank question, a bad cron line...); then, for every operation at once, the paths any route has:
no key (401), a read-only key on admin routes and write routes (403 / 404), a key past its
rate (429), a body too large (413), too slow (408) or malformed (422), and a model that is
unavailable (503) or an index out of sync (503 from health).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis import GenerationMode

from rag.api.app import create_app
from rag.bootstrap import Runtime
from rag.errors import ModelUnavailable

ADMIN = "reach-admin-key"
BODY_METHODS = ("POST", "PATCH", "PUT")


@pytest.fixture(scope="module")
def seeded(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An app with auth on, ids that exist, and a valid request per operation."""
    folder = tmp_path_factory.mktemp("reach-source")
    (folder / "note.md").write_text("# Reach\n\nThe reach room seats twelve.\n")
    settings = runtime.settings.model_copy(update={"admin_key": SecretStr(ADMIN)})
    app = create_app(runtime=runtime, settings=settings)
    with TestClient(app, headers={"authorization": f"Bearer {ADMIN}"}) as c:
        up = c.post("/collections/reach/documents?wait=true", files=[("files", ("reach.md", b"# Reach\n\nThe reach room seats twelve.\n"))])
        source = c.post("/sources", json={"path": str(folder), "collection": "reach"})
        key = c.post("/keys", json={"name": "reader", "scopes": ["read:reach"]})
        limited = c.post("/keys", json={"name": "limited", "scopes": ["admin"], "rate_per_minute": 1})
        victim = c.post("/keys", json={"name": "to-revoke", "scopes": ["read:reach"]})
    assert up.status_code == 200 and source.status_code == 201 and key.status_code == 201, (up.text, source.text)
    queued = runtime.jobs.create("upload", "reach", source_id="upload")  # stays queued: cancellable
    return {"app": app, "reader": key.json()["key"], "limited": limited.json()["key"],
            "ids": {"name": "reach", "document_id": up.json()["files"][0]["document_id"], "job_id": queued.id,
                    "source_id": source.json()["id"], "key_id": victim.json()["id"],
                    "ended_job_id": up.json()["job_id"]},
            "created": {"POST /sources": source.status_code, "POST /keys": key.status_code,
                        # the seeding upload waited (?wait=true): its 200
                        "POST /collections/{name}/documents": up.status_code}}


# Well-formed requests the service refuses: a file that is not a document, a folder that is
# not on the server, a model name that is no collection name, a collection that does not exist.
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("POST /collections/{name}/documents", {"files": [("files", ("tool.exe", b"MZ\x90\x00" + bytes(range(256))))]}),
    ("POST /sources", {"json": {"path": "/no/such/folder", "collection": "reach"}}),
    ("POST /v1/chat/completions", {"json": {"model": "bad name!", "messages": [{"role": "user", "content": "x"}]}}),
    ("POST /v1/chat/completions", {"json": {"model": "nope", "messages": [{"role": "user", "content": "x"}]}}),
    ("POST /v1/embeddings", {"json": {"model": "groundwork-embeddings", "input": []}}),
    ("POST /collections/{name}/query", {"json": {"question": "   "}}),
    ("POST /collections/{name}/search", {"json": {"query": "   "}}),
    ("PATCH /sources/{source_id}", {"json": {"schedule": "not a cron line"}}),
    ("POST /keys", {"json": {"name": "bad", "scopes": ["everything"]}}),
    ("POST /jobs/{job_id}/cancel", {}),  # cancelled already by the valid request
    ("GET /collections", {"params": {"order": "sideways"}}),
    ("GET /collections/{name}/documents", {"params": {"metadata": "{not json"}}),
    ("GET /collections/{name}/documents/{document_id}/chunks", {"params": {"limit": 0}}),
    ("GET /jobs", {"params": {"order": "sideways"}}),
    ("GET /sources", {"params": {"order": "sideways"}}),
    ("GET /keys", {"params": {"status": "lost"}}),
    ("GET /collections", {"params": {"sort": "colour"}}),
    ("POST /collections", {"json": {"name": "reach"}}),  # taken
    ("POST /collections", {"json": {"name": "bad name!"}}),
    ("PATCH /collections/{name}/documents/{document_id}", {"json": {"metadata": {"tags": ["a"]}}}),
]

VALID_BODIES: dict[str, Any] = {
    "POST /collections/{name}/query": {"question": "How many seats has the reach room?"},
    "POST /collections/{name}/search": {"query": "reach room seats"},
    "PATCH /sources/{source_id}": {"include": ["*.md"]},
    "POST /collections": {"name": "reach-created"},
    "PATCH /collections/{name}": {"description": "The reach room notes"},
    "PATCH /collections/{name}/documents/{document_id}": {"metadata": {"floor": 2}},
    "POST /v1/embeddings": {"model": "groundwork-embeddings", "input": ["reach"]},
    "POST /v1/chat/completions": {"model": "reach", "messages": [{"role": "user", "content": "How many seats?"}]},
}


@pytest.fixture(scope="module")
def operations(seeded: dict[str, Any]) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", seeded["app"])
    ops = [r.ok() for r in schema.get_all_operations()]
    # Deletions last, so the seeded ids live through the other requests.
    return sorted(ops, key=lambda op: op.method.upper() == "DELETE")


def _label(op) -> str:
    return f"{op.method.upper()} {op.path}"


def _url(op, ids: dict[str, str]) -> str:
    if op.path == "/jobs/{job_id}/events" and "ended_job_id" in ids:
        # The stream of a job ends when the job does: the one still queued would never end.
        ids = {**ids, "job_id": ids["ended_job_id"]}
    return op.path.format(**{k: ids.get(k, "does-not-exist-7f3a") for k in ("name", "document_id", "job_id", "source_id", "key_id")})


def _call(client: TestClient, op, ids: dict[str, str], key: str | None, body: Any = None, **kwargs) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    method, label = op.method.upper(), _label(op)
    if label == "POST /collections/{name}/documents":
        if body is None and "content" not in kwargs:
            kwargs.setdefault("files", [("files", ("r.md", b"# R\n\nThe reach room has a clock.\n"))])
    elif body is None and method in BODY_METHODS and "content" not in kwargs:
        body = VALID_BODIES.get(label, {})
    return client.request(method, _url(op, ids), headers=headers, json=body, **kwargs).status_code


def _negative(op, statuses: set[int]) -> None:
    @settings(max_examples=8, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(GenerationMode.NEGATIVE))
    def run(case) -> None:
        case.headers = {**(case.headers or {}), "authorization": f"Bearer {ADMIN}"}
        statuses.add(case.call().status_code)

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - some operations have no schema-invalid input at all
        if "Unsatisfiable" not in type(exc).__name__ and "NoSuchExample" not in type(exc).__name__:
            raise


@pytest.fixture()
def broken_models(runtime: Runtime) -> Iterator[None]:
    """The embedder gone (503 on every route that embeds) and an index out of sync (health 503)."""
    def unavailable(*_args, **_kwargs):
        raise ModelUnavailable("the embedding model is unavailable (test)")

    real_states = runtime.indexes.states
    runtime.embedder.embed_query = unavailable  # type: ignore[method-assign]
    runtime.embedder.embed_documents = unavailable  # type: ignore[method-assign]
    runtime.indexes.states = lambda: [dataclasses.replace(s, generation=s.generation - 1) for s in real_states()]  # type: ignore[method-assign]
    try:
        yield
    finally:
        del runtime.embedder.embed_query, runtime.embedder.embed_documents, runtime.indexes.states


def test_every_documented_status_is_reached(seeded: dict[str, Any], operations: list, runtime: Runtime,
                                            request: pytest.FixtureRequest) -> None:
    app, ids = seeded["app"], seeded["ids"]
    documented = {_label(op): {int(c) for c in op.definition.raw["responses"] if c.isdigit()} for op in operations}
    reached: dict[str, set[int]] = {label: set() for label in documented}
    for label, status in seeded["created"].items():
        reached[label].add(status)
    s = runtime.settings
    with TestClient(app) as c:
        for op in operations:
            label = _label(op)
            _negative(op, reached[label])
            reached[label].add(_call(c, op, ids, ADMIN))  # valid, on ids that exist
            # On ids that do not exist (a fresh name each time: an upload creates its collection).
            reached[label].add(_call(c, op, {"name": "missing-" + re.sub(r"\W", "", label).lower()[:50]}, ADMIN))
            reached[label].add(_call(c, op, ids, None))   # no key
            reached[label].add(_call(c, op, ids, seeded["reader"]))  # read-only key
            for _ in range(2):  # past its rate (1 a minute) by the second request at the latest
                reached[label].add(_call(c, op, ids, seeded["limited"]))
            if op.method.upper() in BODY_METHODS:  # a body that is not JSON
                malformed = c.request(op.method.upper(), _url(op, ids), content=b"{not json",
                                      headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
                reached[label].add(malformed.status_code)
        by_label = {_label(op): op for op in operations}
        for op in operations:  # a collection name that breaks the documented pattern
            if "{name}" in op.path:
                reached[_label(op)].add(_call(c, op, {**ids, "name": "bad name!"}, ADMIN))
        for label, kwargs in REFUSED:
            op = by_label[label]
            reached[label].add(c.request(op.method.upper(), _url(op, ids), headers={"authorization": f"Bearer {ADMIN}"},
                                         **kwargs).status_code)
        # The seeded collection has a job in progress (409); a collection of its own is deleted.
        admin = {"authorization": f"Bearer {ADMIN}"}
        assert c.post("/collections", json={"name": "reach-gone"}, headers=admin).status_code == 201
        reached["DELETE /collections/{name}"].add(c.delete("/collections/reach-gone", headers=admin).status_code)
    limits = {"tiny": s.limits.model_copy(update={"max_json_kb": 0, "max_upload_mb": 0.0}),
              "slow": s.limits.model_copy(update={"body_timeout_s": 0.0})}
    for limit in limits.values():
        with TestClient(create_app(runtime=runtime, settings=s.model_copy(update={"admin_key": SecretStr(ADMIN),
                                                                                  "limits": limit}))) as c:
            for op in operations:
                if op.method.upper() in BODY_METHODS:
                    reached[_label(op)].add(_call(c, op, ids, ADMIN))
    request.getfixturevalue("broken_models")
    with TestClient(app) as c:
        for op in operations:
            reached[_label(op)].add(_call(c, op, ids, ADMIN))
    missing = {label: sorted(documented[label] - reached[label]) for label in documented
               if documented[label] - reached[label]}
    assert missing == {}, f"documented but never answered: {missing}; reached: {reached}"
