"""`rag serve` as a real process on a fresh data directory: samples load, the README tour works."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag.bootstrap import Runtime

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, method: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime):
    data = tmp_path_factory.mktemp("served") / "data"
    # Reuse the session's converted LLM instead of converting it again (~20 s).
    (data / "models").mkdir(parents=True)
    for cached in runtime.settings.model_cache_dir.iterdir():
        (data / "models" / cached.name).symlink_to(cached)
    port = _free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if _call(base + "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("server did not become healthy:\n" + proc.stdout.read().decode(errors="replace")[-3000:])
    yield base, data
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


def test_samples_are_ingested_on_an_empty_data_dir(server) -> None:
    base, data = server
    status, body = _call(base + "/collections")
    assert status == 200
    samples = next(c for c in body["collections"] if c["name"] == "samples")
    assert samples["documents"] == len([p for p in (ROOT / "data" / "samples").iterdir() if p.is_file()])
    _, health = _call(base + "/health")
    assert health["status"] == "ok" and health["data_dir"] == str(data.resolve())
    assert (data / "groundwork.sqlite3").exists() and list((data / "index").glob("*.faiss"))


def test_readme_first_question(server) -> None:
    base, _ = server
    status, body = _call(base + "/collections/samples/query",
                         {"question": "How many days of paid vacation does a member get?"})
    assert status == 200, body
    assert "27" in body["answer"] and body["citations"][0]["document_name"] == "handbook.md"


def test_openapi_docs_are_served(server) -> None:
    base, _ = server
    with urllib.request.urlopen(base + "/docs", timeout=30) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()
