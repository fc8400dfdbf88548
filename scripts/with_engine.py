"""Run a command with Groundwork's LLM behind llama.cpp's OpenAI-compatible server.

    python scripts/with_engine.py -- rag eval answers --dataset ../shared/data/conflicts --limit 200

Starts `python -m llama_cpp.server` on a free loopback port with the weights the in-process
backend runs (`rag engine weights`: float16, adapter merged), sets RAG_LLM__BACKEND=openai,
RAG_LLM__BASE_URL and the greedy decoding options for the command, and stops the server after
it. The prompt style stays compact (the packaged 135M model), so the figures compare the
transport, not the prompt. The server's log goes to data/eval/results/llama-server.log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(command: list[str]) -> int:
    weights = subprocess.run([sys.executable, "-m", "rag.cli", "engine", "weights"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    threads = str(os.cpu_count() or 1)
    log_path = ROOT / "data" / "eval" / "results" / "llama-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", weights, "--model_alias", "smollm2-grounded",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", threads,
         "--n_threads_batch", threads], stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base_url + "/models", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(f"llama.cpp server did not start; see {log_path}", file=sys.stderr)
                    return 1
                time.sleep(0.3)
        env = {**os.environ, "RAG_LLM__BACKEND": "openai", "RAG_LLM__BASE_URL": base_url,
               "RAG_LLM__PROMPT_STYLE": "compact", "RAG_LLM__CONTEXT_WINDOW": "8192",
               "RAG_LLM__ENGINE_OPTIONS": json.dumps({"top_k": 1, "repeat_penalty": 1.0})}
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    sys.exit(main(args))
