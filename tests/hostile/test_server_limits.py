"""Abuse against a real `rag serve` process on loopback: concurrent duplicates, huge
requests, a burst of queries, a trickling client. The server's memory is watched."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest.isolation import rss_mb
from rag.bootstrap import Runtime
from tests import docs
from tests.server import Server, link_model_cache

# The server process holds MiniLM, SmolLM2 and torch (~1.2 GB here); a burst of 100
# queries may add buffers but must not grow it by more than this (parsing runs in a
# separate worker process, which has its own limit).
RSS_GROWTH_BOUND_MB = 512
BODY_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime):
    data = tmp_path_factory.mktemp("abuse") / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, RAG_LOAD_SAMPLES="false", RAG_LIMITS__BODY_TIMEOUT_S=str(BODY_TIMEOUT_S)).start()
    status, _ = srv.upload("abuse", {"ferry.md": docs.markdown("Ferry", {
        "Timetable": "The Carrow ferry leaves the north pier at 06:40 and returns at 18:20."})})
    assert status == 200
    yield srv
    srv.stop()


def test_ten_clients_uploading_the_same_file_make_one_document(server: Server) -> None:
    data = docs.markdown("Lighthouse", {"Keeper": "The Brannock lighthouse keeper is Orla Finnegan.",
                                        "Lamp": "Its lamp turns once every twelve seconds."})
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: server.upload("dupes", {"lighthouse.md": data}), range(10)))
    assert all(status == 200 for status, _ in results), results
    statuses = sorted(body["files"][0]["status"] for _, body in results)
    assert statuses.count("added") == 1 and statuses.count("unchanged") == 9, statuses
    status, body = server.call("GET", "/collections/dupes/documents")
    [doc] = body["documents"]
    status, hits = server.call("POST", "/collections/dupes/search", {"query": "lighthouse keeper", "top_k": 10})
    assert len({h["chunk_id"] for h in hits["results"]}) == doc["chunks"]  # one set of chunks, no copies


def test_huge_question_top_k_and_max_tokens_are_refused(server: Server) -> None:
    status, body = server.call("POST", "/collections/abuse/query", {"question": "x" * 1_000_000})
    assert status == 413 and "cap" in body["error"]["message"]
    status, body = server.call("POST", "/collections/abuse/query", {"question": "When does the ferry leave?",
                                                                   "top_k": 10_000})
    assert status == 422 and "top_k" in body["error"]["message"]
    status, body = server.call("POST", "/collections/abuse/query", {"question": "When does the ferry leave?",
                                                                   "max_tokens": 10**6})
    assert status == 422 and "max_tokens" in body["error"]["message"]


def test_a_burst_of_100_queries_gets_answers_or_429_and_memory_stays_bounded(server: Server) -> None:
    pid = server.proc.pid
    question = {"question": "When does the Carrow ferry leave the north pier?"}
    # Steady state first: the first answer allocates the LLM's working memory once.
    assert server.call("POST", "/collections/abuse/query", question)[0] == 200
    baseline = rss_mb(pid)
    peak = baseline
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(100) as pool:
            results = list(pool.map(lambda _: server.call("POST", "/collections/abuse/query", question, timeout=600),
                                    range(100)))
    finally:
        done.set()
        watcher.join()
    codes = [status for status, _ in results]
    assert set(codes) <= {200, 429, 503}, codes
    assert codes.count(429) > 0 and codes.count(200) > 0, codes
    assert all("retry" in body["error"]["message"].lower() for status, body in results if status == 429)
    assert peak - baseline < RSS_GROWTH_BOUND_MB, (baseline, peak)
    status, body = server.call("POST", "/collections/abuse/query", question)  # still answering
    assert status == 200 and "06:40" in body["answer"], body


def test_a_trickling_client_gets_408(server: Server) -> None:
    body = json.dumps({"question": "When does the ferry leave?"}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /collections/abuse/query HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        started = time.monotonic()
        reply = b""
        for byte in body:  # one byte a second: the body would take minutes
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            s.settimeout(1.0)
            try:
                reply += s.recv(4096)
            except socket.timeout:
                continue
            if reply:
                break
        elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert elapsed < BODY_TIMEOUT_S + 5
    status, _ = server.call("GET", "/health")
    assert status == 200
