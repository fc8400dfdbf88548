"""What every benchmark module shares: where the data lives, percentiles, the machine.

ROOT is the repository; WORK (data/bench) holds the scratch data directories, the peers'
venvs, the Python documentation download and the ONNX export; CONFLICTS is the conflicts
evaluation set that several sections draw passages and questions from.
"""

from __future__ import annotations

import os
import platform
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
