"""Run `rag serve` as a real subprocess on loopback, for process-level tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sse_events(raw: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events body."""
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_model_cache(source_models: Path, data_dir: Path) -> None:
    """Reuse converted LLM weights instead of converting the GGUF again (~20 s)."""
    (data_dir / "models").mkdir(parents=True, exist_ok=True)
    for cached in source_models.iterdir():
        target = data_dir / "models" / cached.name
        if not target.exists():
            target.symlink_to(cached)


class _Process:
    """A child process of the tests, stopped by SIGTERM or killed by SIGKILL."""

    proc: subprocess.Popen | None = None
    stop_wait_s = 30.0  # how long a SIGTERM may take before SIGKILL

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in a crash or the OOM killer."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within `stop_wait_s`."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_wait_s)
            except subprocess.TimeoutExpired:
                self.kill()


class Server(_Process):
    """A `rag serve` process; `call` speaks JSON, `upload` sends multipart."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 300, poll_s: float = 0.3) -> "Server":
        env = {**os.environ, "RAG_DATA_DIR": str(self.data_dir), **self.env}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.call("GET", "/health", timeout=5)
                if status in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(poll_s)
        self.kill()
        raise AssertionError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def upload(self, collection: str, files: dict[str, bytes], timeout: float = 120,
               wait: bool = True) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        parts = []
        for name, data in files.items():
            parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                         f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
                         + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(f"{self.base}/collections/{collection}/documents" + ("?wait=true" if wait else ""), data=body, method="POST",
                                     headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def wait_dead(self, timeout: float = 60) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class Worker(_Process):
    """A `rag worker` process (a job in hand may take a while to finish on SIGTERM)."""

    stop_wait_s = 60.0

    def __init__(self, data_dir: Path, env: dict[str, str]):
        self.data_dir, self.env = data_dir, env
        self.log_path = data_dir.parent / f"worker-{data_dir.name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "worker"], cwd=ROOT,
                                     env={**os.environ, "RAG_DATA_DIR": str(self.data_dir), **self.env},
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()[-4000:]
            if " ready." in self.log():
                return
            time.sleep(0.3)
        raise AssertionError(f"worker did not start:\n{self.log()[-4000:]}")
