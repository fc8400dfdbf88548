"""Every error has one shape, {"error": {"code", "message", "detail"}}, whatever raised it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.bootstrap import Runtime


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "detail"}, body
    assert body["error"]["code"] == code, body
    assert len(body["error"]["message"]) > 10  # a sentence, not a bare code
    return body["error"]


def test_domain_errors_carry_stable_codes(client: TestClient) -> None:
    _error(client.get("/collections/nope/documents"), 404, "collection_not_found")
    _error(client.get("/jobs/job_nope"), 404, "job_not_found")
    _error(client.get("/sources/src_nope"), 404, "source_not_found")
    _error(client.delete("/keys/key_nope"), 404, "key_not_found")
    _error(client.get("/collections/bad name!/documents"), 400, "invalid_request")
    client.post("/collections/shape/documents?wait=true", files=[("files", ("s.md", b"# S\n\nShrikes impale beetles.\n"))])
    _error(client.get("/collections/shape/documents/doc_nope"), 404, "document_not_found")
    err = _error(client.post("/collections/shape/search", json={"query": "q", "top_k": 10_000}), 422, "out_of_range")
    assert "top_k" in err["message"]
    err = _error(client.post("/collections/shape/documents?wait=true", files=[("files", ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64))]),
                 415, "unsupported_type")
    assert err["detail"]["supported_types"]


def test_validation_errors_say_where_and_keep_the_list_in_detail(client: TestClient) -> None:
    err = _error(client.post("/collections/shape/query", json={}), 422, "invalid_request")
    assert "question" in err["message"]
    assert err["detail"][0]["loc"] == ["body", "question"]
    assert "input" not in err["detail"][0]  # the request is not echoed back
    err = _error(client.post("/collections/shape/query", content=b"{not json", headers={"content-type": "application/json"}),
                 422, "invalid_request")


def test_unknown_routes_and_methods(client: TestClient) -> None:
    _error(client.get("/no/such/route"), 404, "route_not_found")
    _error(client.put("/health"), 405, "method_not_allowed")


def test_body_limits_answer_in_the_same_shape(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(deep=True)
    settings.limits.max_json_kb = 1
    with TestClient(create_app(runtime=runtime, settings=settings)) as small:
        r = small.post("/collections/shape/query", json={"question": "x" * 5000})
        _error(r, 413, "too_large")


def test_unexpected_errors_are_500_in_the_same_shape_without_internals(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as c:
        err = _error(c.get("/boom"), 500, "internal_error")
        assert "secret" not in err["message"]


def test_openapi_documents_the_error_shape_on_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "ErrorOut" in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
            assert errors, (method, path)
            for status, response in errors.items():
                if path.startswith("/health") and status == "503":
                    continue  # the degraded health report, not an error
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorOut"), (method, path, status)


def test_a_failure_after_the_stream_began_is_an_error_event_in_the_same_shape(client: TestClient,
                                                                               runtime: Runtime) -> None:
    from rag.errors import ModelUnavailable

    client.post("/collections/shape-stream/documents?wait=true", files=[("files", ("k.md", b"# K\n\nKites fly at noon.\n"))])

    def failing(prompt, max_tokens, stop=None):
        yield "Kites "
        raise ModelUnavailable("the engine went away mid-answer")

    runtime.generator.generate = failing  # type: ignore[method-assign]
    try:
        body = {"question": "When do kites fly?", "stream": True}
        sse = client.post("/collections/shape-stream/query", json=body).text
        chat = client.post("/v1/chat/completions", json={"model": "shape-stream", "stream": True,
                                                         "messages": [{"role": "user", "content": "When do kites fly?"}]}).text
    finally:
        del runtime.generator.generate
    assert "event: error" in sse and '"code": "model_unavailable"' in sse and "mid-answer" in sse, sse
    assert '"error": {"code": "model_unavailable"' in chat, chat
