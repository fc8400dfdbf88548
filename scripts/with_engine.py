"""Run a command with Groundwork's LLM behind llama.cpp's OpenAI-compatible server.

    python scripts/with_engine.py -- rag eval answers --dataset ../shared/data/conflicts --limit 200

Starts `python -m llama_cpp.server` on a free loopback port with the weights the in-process
backend runs (`rag engine weights`: float16, adapter merged), sets RAG_LLM__BACKEND=openai,
RAG_LLM__BASE_URL and the greedy decoding options for the command, and stops the server after
it. The prompt style stays compact (the packaged 135M model), so the figures compare the
transport, not the prompt. The server's log goes to data/eval/results/llama-server-PORT.log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine import GREEDY, LlamaServer  # noqa: E402  (the server the engine tests start)


def main(command: list[str]) -> int:
    weights = subprocess.run([sys.executable, "-m", "rag.cli", "engine", "weights"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    log_dir = ROOT / "data" / "eval" / "results"
    log_dir.mkdir(parents=True, exist_ok=True)
    server = LlamaServer(Path(weights), log_dir).start()
    try:
        env = {**os.environ, "RAG_LLM__BACKEND": "openai", "RAG_LLM__BASE_URL": server.base_url,
               "RAG_LLM__PROMPT_STYLE": "compact", "RAG_LLM__CONTEXT_WINDOW": str(server.context_window),
               "RAG_LLM__ENGINE_OPTIONS": json.dumps(GREEDY)}
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    sys.exit(main(args))
