"""Deterministic stand-ins for the models, for tests about orchestration only.

They make the fast tier (`make test-fast`, `pytest -m "not slow"`) possible: no model is
loaded, so what is tested is the wiring (jobs, stores, migrations, routes), never wording.
Anything about retrieval quality or answers uses the real models.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from rag.llm.base import Prompt
from rag.types import ScoredChunk

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Feature hashing of lower-cased words into `dimension` buckets, L2-normalised.

    Texts that share words get similar vectors, so search over it still ranks sensibly.
    """

    backend = "hash"
    model_path = "(hash)"

    def __init__(self, dimension: int = 64, max_tokens: int = 256):
        self.dimension = dimension
        self.max_tokens = max_tokens

    def warm_up(self) -> None:
        """Nothing to load."""

    def count_tokens(self, text: str) -> int:
        """One token per word."""
        return len(_TOKEN.findall(text))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _TOKEN.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one question."""
        return self.embed_documents([text])[0]


class EchoGenerator:
    """Answers with the first line of the first quoted passage, cited as [1]."""

    backend = "echo"
    model_dir = "(echo)"
    adapter = None
    ready = True
    context_window = 8192

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def warm_up(self) -> None:
        """Nothing to load."""

    def generate(self, prompt: Prompt, max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the echoed line word by word (at most `max_tokens` words)."""
        self.prompts.append(prompt)
        match = re.search(r"^\[1\] (.+)$", prompt.user, re.MULTILINE)
        words = (match.group(1).strip() + " [1]" if match else "nothing").split(" ")[:max_tokens]
        for i, word in enumerate(words):
            if stop is not None and stop.is_set():
                return
            yield word if i == 0 else " " + word


class _Originals:
    """Original bytes kept by content hash in a temporary folder, as the real ingestor keeps
    them: upload jobs store them before queueing and read them back when they run."""

    def __init__(self) -> None:
        import tempfile

        self.files_dir = Path(tempfile.mkdtemp(prefix="groundwork-originals-"))

    def keep_original(self, data: bytes) -> str:
        """Store the bytes under their SHA-256 and return it."""
        import hashlib

        content_hash = hashlib.sha256(data).hexdigest()
        path = self.original_path(content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return content_hash

    def original_path(self, content_hash: str) -> Path:
        """Where the original with this hash is kept."""
        return self.files_dir / content_hash[:2] / content_hash

    def generation(self, collection: str) -> int | None:
        """Nothing was stored: no generation."""
        return None


class FailingIngestor(_Originals):
    """An ingestor whose every batch raises `error` after reporting some progress: for tests
    of the job bookkeeping around ingestion (the job must still end)."""

    def __init__(self, error: Exception):
        super().__init__()
        self.error = error

    def ingest_many(self, collection: str, files, progress=None, batch_chunks: int = 512, events=None):
        """Report one file done, then fail."""
        from ingest.pipeline import FileOutcome

        if progress is not None:
            progress(1)
        if events is not None:
            events.resolved([(0, FileOutcome(files[0].name, "added", chunks=1))])
        raise self.error


class SlowIngestor(_Originals):
    """An ingestor that takes `seconds` per batch without reporting progress, like one large
    PDF being parsed: for tests of the heartbeat that keeps such a job alive."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def ingest_many(self, collection: str, files, progress=None, batch_chunks: int = 512, events=None):
        """Sleep, then report every file unchanged."""
        import time

        from ingest.pipeline import FileOutcome

        time.sleep(self.seconds)
        outcomes = [FileOutcome(f.name, "unchanged") for f in files]
        if events is not None:
            events.resolved(list(enumerate(outcomes)))
        return outcomes


class ScriptedEngine:
    """A loopback HTTP server that plays an engine's misbehaviour: each request to any path
    gets the next scripted (status, content type, body) reply, the last one repeating. For
    the retry and garbage-answer paths of rag.engines that a real engine will not produce on
    demand; everything about real answers is tested against llama.cpp's server."""

    def __init__(self, replies: Sequence[tuple[int, str, bytes]]):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies = list(replies)
        self.requests: list[str] = []  # "METHOD /path" of each request, in order
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                engine.requests.append(f"{self.command} {self.path}")
                status, content_type, body = engine.replies[min(len(engine.requests), len(engine.replies)) - 1]
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def completion_stream(text: str) -> tuple[int, str, bytes]:
        """A well-formed streamed chat completion of `text`, one piece per word."""
        import json

        events = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                  for piece in re.findall(r"\S+\s*", text)]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return 200, "text/event-stream", body.encode()


class ListRetriever:
    """Retrieves the given hits, best first, whatever the query: for tests of what the
    service does with evidence (prompt style, context sizing), not of ranking."""

    def __init__(self, hits: Sequence[ScoredChunk]):
        self.hits = list(hits)

    def retrieve(self, collection: str, query: str, k: int, filters: object = None,
                 mode: str = "hybrid") -> list[ScoredChunk]:
        """The first `k` hits."""
        return self.hits[:k]

    def generation(self, collection: str, min_generation: int | None = None) -> int:
        """Always generation 1."""
        return 1
