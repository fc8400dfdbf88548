"""A real engine for the `openai` backends: llama.cpp's OpenAI-compatible server
(`python -m llama_cpp.server`) on loopback, serving the same float16 GGUF with the adapter
merged that the in-process backend runs. Tests stop, kill and restart it on the same port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.server import free_port

# What makes llama.cpp's server decode exactly as the in-process backend (greedy, no
# repetition penalty: the server's own default is 1.1).
GREEDY = {"top_k": 1, "repeat_penalty": 1.0}
ALIAS = "smollm2-grounded"


class LlamaServer:
    """One `llama_cpp.server` process on 127.0.0.1; `base_url` stays the same across restarts."""

    def __init__(self, gguf: Path, log_dir: Path, context_window: int = 8192):
        self.gguf = gguf
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.context_window = context_window
        self.log_path = log_dir / f"llama-server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "LlamaServer":
        threads = str(os.cpu_count() or 1)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", ALIAS,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context_window),
             "--n_threads", threads, "--n_threads_batch", threads],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"llama.cpp server exited with {self.proc.returncode}:\n{self.log()}")
            if self.models() is not None:
                return self
            time.sleep(0.3)
        self.kill()
        raise AssertionError(f"llama.cpp server did not start:\n{self.log()}")

    def models(self) -> list[str] | None:
        """The served model ids, or None while it does not answer."""
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                return [m["id"] for m in json.loads(r.read())["data"]]
        except OSError:
            return None

    def kill(self) -> None:
        """SIGKILL: the engine dies as it would in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


class ThreadedGroundwork:
    """A second Groundwork serving HTTP on loopback from a thread (uvicorn, the app of
    `create_app`), for the embedding backend to call; `stop_after(n)` shuts it down once n
    embedding requests were answered, as an engine dying mid-ingest would."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.embedding_calls = 0
        self._limit: int | None = None
        self._server = None
        self._thread = None

        @app.middleware("http")
        async def count(request, call_next):
            response = await call_next(request)
            if request.url.path == "/v1/embeddings":
                self.embedding_calls += 1
                if self._limit is not None and self.embedding_calls >= self._limit and self._server is not None:
                    self._server.should_exit = True
            return response

    def start(self) -> "ThreadedGroundwork":
        import threading

        import uvicorn

        self._limit = None
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the second Groundwork did not start")
            time.sleep(0.05)
        return self

    def stop_after(self, calls: int) -> None:
        self._limit = self.embedding_calls + calls

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
