"""Bad input gets a clear error with the right status and changes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.bootstrap import Runtime
from tests import docs

C = "errors"


def _docs(client: TestClient, collection: str = C) -> list:
    r = client.get(f"/collections/{collection}/documents")
    return r.json()["documents"] if r.status_code == 200 else []


def test_unsupported_type_is_415_with_supported_list_and_nothing_stored(client: TestClient) -> None:
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 4
    r = client.post(f"/collections/{C}/documents?wait=true", files=[
        ("files", ("fine.md", docs.markdown("Fine", {"A": "Harmless text about teapots."}))),
        ("files", ("report.pdf", exe)),  # an executable renamed .pdf: decided by content
    ])
    assert r.status_code == 415, r.text
    body = r.json()
    assert "report.pdf" in body["error"]["message"]
    assert any("application/pdf" in t for t in body["error"]["detail"]["supported_types"])
    assert _docs(client) == []  # the good file of the same request was not stored either


def test_zip_image_and_empty_files_are_refused(client: TestClient) -> None:
    for name, data in [("empty.txt", b""), ("pic.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)]:
        r = client.post(f"/collections/{C}/documents?wait=true", files=[("files", (name, data))])
        assert r.status_code == 415, (name, r.text)
    # The message names what was recognised (not unstructured's internal names) and what to do.
    message = r.json()["error"]["message"]
    assert "looks like image/png" in message and "convert it" in message, message


def test_parse_failure_is_reported_per_file_while_others_succeed(client: TestClient) -> None:
    broken_pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"garbage " * 50
    r = client.post(f"/collections/{C}/documents?wait=true", files=[
        ("files", ("good.md", docs.markdown("Good", {"Otters": "Sea otters hold hands while sleeping."}))),
        ("files", ("broken.pdf", broken_pdf)),
    ])
    assert r.status_code == 200, r.text
    results = {f["name"]: f for f in r.json()["files"]}
    assert results["good.md"]["status"] == "added"
    assert results["broken.pdf"]["status"] == "failed" and results["broken.pdf"]["reason"]
    assert [d["name"] for d in _docs(client)] == ["good.md"]


def test_only_failures_is_422(client: TestClient) -> None:
    r = client.post(f"/collections/{C}/documents?wait=true",
                    files=[("files", ("broken.pdf", b"%PDF-1.4\n%%EOF truncated"))])
    assert r.status_code == 422 and "broken.pdf" in r.json()["error"]["message"]


def test_unknown_collection_and_document_are_404(client: TestClient) -> None:
    assert client.get("/collections/nope/documents").status_code == 404
    r = client.post("/collections/nope/query", json={"question": "anything?"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    assert client.post("/collections/nope/search", json={"query": "x"}).status_code == 404
    assert client.delete("/collections/nope/documents/doc_x").status_code == 404


def test_bad_names_and_questions_are_400_and_limits_422(client: TestClient) -> None:
    assert client.get("/collections/..%2Fetc/documents").status_code in (400, 404)
    assert client.get("/collections/bad name!/documents").status_code == 400
    client.post(f"/collections/{C}/documents?wait=true", files=[("files", ("q.md", b"# Q\n\nQuokkas live on Rottnest.\n"))])
    r = client.post(f"/collections/{C}/query", json={"question": "x" * 5000})
    assert r.status_code == 422 and "limit" in r.json()["error"]["message"]
    assert client.post(f"/collections/{C}/query", json={"question": "   "}).status_code == 400
    r = client.post(f"/collections/{C}/search", json={"query": "q", "top_k": 10_000})
    assert r.status_code == 422 and "top_k must be between 1 and" in r.json()["error"]["message"]
    r = client.post(f"/collections/{C}/query", json={"question": "Where do quokkas live?", "max_tokens": 10**6})
    assert r.status_code == 422 and "max_tokens" in r.json()["error"]["message"]
    assert client.post(f"/collections/{C}/query", json={}).status_code == 422  # schema validation


def test_oversized_upload_is_413_before_the_body_is_read(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(deep=True)
    settings.limits.max_upload_mb = 0.01  # 10 KiB
    settings.limits.max_file_mb = 0.005
    with TestClient(create_app(runtime=runtime, settings=settings)) as small:
        big = b"word " * 10_000  # 50 KB
        r = small.post("/collections/caps/documents?wait=true", files=[("files", ("big.txt", big))])
        assert r.status_code == 413 and "cap" in r.json()["error"]["message"]
        # A file over the per-file cap inside a request under the request cap.
        r = small.post("/collections/caps/documents?wait=true", files=[("files", ("mid.txt", b"word " * 1500))])
        assert r.status_code == 413 and "mid.txt" in r.json()["error"]["message"]
        assert small.get("/collections/caps/documents").status_code == 404  # nothing created


def test_streamed_body_without_length_is_cut_off(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(deep=True)
    settings.limits.max_upload_mb = 0.01
    with TestClient(create_app(runtime=runtime, settings=settings)) as small:
        def chunks():
            for _ in range(100):
                yield b"x" * 1024
        r = small.post("/collections/caps/documents?wait=true", content=chunks(),
                       headers={"content-type": "multipart/form-data; boundary=zzz"})
        assert r.status_code == 413


def test_files_per_upload_cap_is_400(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(deep=True)
    settings.limits.max_files_per_upload = 2
    with TestClient(create_app(runtime=runtime, settings=settings)) as small:
        files = [("files", (f"f{i}.txt", f"Note {i} about herons.".encode())) for i in range(3)]
        r = small.post("/collections/capsfiles/documents?wait=true", files=files)
        assert r.status_code == 400 and "limit is 2" in r.json()["error"]["message"]
        assert small.get("/collections/capsfiles/documents").status_code == 404


def test_max_tokens_is_capped_by_settings_on_the_openai_route(client: TestClient, runtime: Runtime) -> None:
    client.post("/collections/capstok/documents?wait=true", files=[("files", ("t.md", docs.markdown("T", {
        "Tides": "The Carrow estuary has two high tides a day, and the ferry waits for the morning one."})))])
    seen: list[int] = []
    real = runtime.generator.generate

    def spy(prompt, max_tokens, stop=None):
        seen.append(max_tokens)
        return real(prompt, max_tokens, stop)

    runtime.generator.generate = spy
    try:
        r = client.post("/v1/chat/completions", json={"model": "capstok", "max_tokens": 100000, "messages": [
            {"role": "user", "content": "How many high tides does the Carrow estuary have?"}]})
    finally:
        del runtime.generator.generate
    assert r.status_code == 200 and seen == [runtime.settings.llm.max_new_tokens]


def test_thousands_of_parts_or_a_huge_field_are_refused_fast(client: TestClient) -> None:
    many = [("files", (f"p{i}.txt", b"x")) for i in range(1500)]
    r = client.post(f"/collections/{C}/documents?wait=true", files=many)
    assert r.status_code in (400, 413), r.text[:300]
    r = client.post(f"/collections/{C}/documents?wait=true", data={"note": "y" * (2 * 1024 * 1024)},
                    files=[("files", ("ok.txt", b"Otters hold hands while sleeping."))])
    assert r.status_code in (400, 413), r.text[:300]
    assert all(d["name"] != "ok.txt" for d in _docs(client))
