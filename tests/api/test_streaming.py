"""Server-Sent Events for answers: tokens as generated, then the answer, then done."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from ingest.pipeline import IncomingFile
from rag.bootstrap import Runtime
from tests import docs
from tests.server import sse_events

C = "stream"


def test_stream_yields_tokens_then_answer_then_done(client: TestClient) -> None:
    client.post(f"/collections/{C}/documents?wait=true", files=[("files", ("kiln.md", docs.markdown("Kiln", {
        "Firing": "The Hollin pottery kiln is fired by Agnes Treloar every Tuesday."})))])
    with client.stream("POST", f"/collections/{C}/query",
                       json={"question": "Who fires the Hollin pottery kiln?", "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    kinds = [k for k, _ in events]
    assert kinds[-2:] == ["answer", "done"] and kinds.count("token") >= 2
    streamed = "".join(d["text"] for k, d in events if k == "token")
    answer = events[-2][1]
    assert "Treloar" in streamed and "Treloar" in answer["answer"]
    assert answer["citations"] and answer["sources"][0]["document"] == "kiln.md"
    assert set(answer["timings_ms"]) == {"retrieve", "generate", "total"}


def test_stream_errors_are_plain_http_statuses(client: TestClient) -> None:
    r = client.post("/collections/missing/query", json={"question": "q?", "stream": True})
    assert r.status_code == 404


def test_stopping_ends_generation_early(runtime: Runtime) -> None:
    runtime.ingestor.ingest(C, IncomingFile(
        "song.md", docs.markdown("Song", {"Verse": "The Hollin choir sings a long song about the sea."})))
    stop = threading.Event()
    pieces = []
    for item in runtime.service.ask_stream(C, "What does the Hollin choir sing about?", max_tokens=96, stop=stop):
        if isinstance(item, str):
            pieces.append(item)
            stop.set()  # as when the client disconnects after the first piece
    assert 1 <= len(pieces) <= 3  # a few pieces were already in flight, then generation stopped


def test_full_llm_queue_answers_429_with_retry_after(client: TestClient, runtime: Runtime) -> None:
    client.post(f"/collections/{C}/documents?wait=true", files=[("files", ("kiln2.md", docs.markdown("Kiln", {
        "Glaze": "The Hollin pottery uses a copper glaze called Seafoam."})))])
    slots = runtime.service._slots
    held = 0
    while slots.acquire(blocking=False):  # occupy every place in the queue
        held += 1
    try:
        r = client.post(f"/collections/{C}/query", json={"question": "Which glaze does the Hollin pottery use?"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "retry" in r.json()["error"]["message"]
    finally:
        for _ in range(held):
            slots.release()
    r = client.post(f"/collections/{C}/query", json={"question": "Which glaze does the Hollin pottery use?"})
    assert r.status_code == 200
