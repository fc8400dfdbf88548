"""What every benchmark module shares: where the data lives, percentiles, the machine.

ROOT is the repository; WORK (data/bench) holds the scratch data directories, the peers'
venvs, the Python documentation download and the ONNX export; CONFLICTS is the conflicts
evaluation set that several sections draw passages and questions from.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data" / "bench"
CONFLICTS = ROOT.parent / "shared" / "data" / "conflicts"
PYDOC = WORK / "pydoc"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def machine() -> dict:
    import faiss
    import onnxruntime
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next(int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "faiss": faiss.__version__,
            "onnxruntime": onnxruntime.__version__, "torch_threads": torch.get_num_threads()}


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (what else was running around a section)."""
    return [round(x, 2) for x in os.getloadavg()]


def repeated(measure: Callable[[int], dict], key: str, runs: int = 3) -> dict:
    """Run a noisy measurement `runs` times (`measure` gets the run's index); the run whose
    `key` is the median, with every run's figure under "repeats" (min, median, max)."""
    results = sorted((measure(i) for i in range(runs)), key=lambda r: r[key])
    values = [r[key] for r in results]
    chosen = dict(results[len(results) // 2])
    chosen["repeats"] = {"figure": key, "runs": values, "min": min(values),
                         "median": statistics.median(values), "max": max(values)}
    return chosen


@contextmanager
def postgres_database(prefix: str = "groundwork_bench") -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (RAG_BENCH_POSTGRES, default the local
    server with trust authentication), dropped afterwards; yields its URL."""
    import psycopg

    server = os.environ.get("RAG_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
