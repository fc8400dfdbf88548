"""SIGTERM while an upload, a folder sync and a streamed answer are in flight: the requests
finish within the drain time, the process exits, and on the next start nothing acknowledged is
lost and the sync that was cut off is retried to the end."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path

from rag.bootstrap import Runtime
from tests import docs
from tests.api.test_crash import FAST, marker_doc
from tests.server import Server, link_model_cache, sse_events

C = "drained"


def _stream(srv: Server, question: str) -> list[tuple[str, dict]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    conn.request("POST", f"/collections/{C}/query", json.dumps({"question": question, "stream": True}),
                 {"content-type": "application/json"})
    raw = conn.getresponse().read().decode()
    conn.close()
    return sse_events(raw)


def test_sigterm_drains_requests_and_the_cut_sync_resumes(tmp_path: Path, runtime: Runtime) -> None:
    data = tmp_path / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    folder = tmp_path / "folder"
    folder.mkdir()
    markers = {}
    for i in range(1200):  # a sync longer than the drain time
        name, marker, body = marker_doc(i, "t")
        (folder / name).write_bytes(body)
        markers[name] = marker
    env = {**FAST, "RAG_DRAIN_S": "10", "RAG_INGEST__SYNC_BATCH_FILES": "2"}
    srv = Server(data, **env).start()
    assert srv.upload(C, {"seed.md": docs.markdown("Seed", {"Desk": "The front desk opens at 07:50."})})[0] == 200
    big = docs.markdown("Big", {f"Part {i}": f"Part {i} of the big upload lists item {i} at {i * 3} euros." * 8
                                for i in range(80)})
    results: dict[str, object] = {}

    def upload() -> None:
        try:
            results["upload"] = srv.upload(C, {"big.md": big}, timeout=120)
        except OSError as exc:
            results["upload"] = exc

    def stream() -> None:
        try:
            results["stream"] = _stream(srv, "When does the front desk open?")
        except OSError as exc:
            results["stream"] = exc

    status, source = srv.call("POST", "/sources", {"path": str(folder), "collection": C})
    assert status == 201
    threads = [threading.Thread(target=upload), threading.Thread(target=stream)]
    for t in threads:
        t.start()
    time.sleep(1.0)                                     # all three in flight
    assert srv.proc is not None
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(120)
    code = srv.proc.wait(60)
    took = time.monotonic() - started
    assert took < 10 + 15, took                         # the drain time, and a margin to stop
    # Uvicorn shuts down cleanly, then ends by the signal it was sent (status -15).
    assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in srv.log(), srv.log()[-3000:]
    upload_status, upload_body = results["upload"]      # finished, not cut off
    assert upload_status == 200 and upload_body["files"][0]["status"] == "added", upload_body
    events = results["stream"]
    assert isinstance(events, list) and [e for e, _ in events][-1] == "done", events
    assert "07:50" in next(d for e, d in events if e == "answer")["answer"]

    srv = Server(data, **env).start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            _, jobs = srv.call("GET", f"/jobs?source_id={source['id']}")
            if any(j["state"] == "succeeded" for j in jobs["jobs"]):
                break
            time.sleep(0.5)
        states = [j["state"] for j in jobs["jobs"]]
        assert "succeeded" in states and "running" not in states, jobs
        first = next(j for j in jobs["jobs"] if j["retry_of"] is None)
        assert first["state"] == "failed" and "heartbeat" in first["reason"]  # cut off by the drain...
        assert any(j["retry_of"] == first["id"] and j["state"] == "succeeded" for j in jobs["jobs"]), jobs  # ...and resumed
        listed, cursor = {}, ""
        while cursor is not None:
            page = srv.call("GET", f"/collections/{C}/documents?limit=1000" + (f"&cursor={cursor}" if cursor else ""))[1]
            listed.update({d["name"]: d for d in page["documents"]})
            cursor = page["next_cursor"]
        assert {"seed.md", "big.md"} | set(markers) <= set(listed)
        for name, marker in list(markers.items())[::7]:
            _, body = srv.call("POST", f"/collections/{C}/search", {
                "query": marker, "top_k": 5, "filters": {"document_ids": [listed[name]["id"]]}})
            assert any(marker in hit["text"] for hit in body["results"]), marker
    finally:
        srv.stop()
