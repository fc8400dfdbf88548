"""Grid over fusion settings on a BEIR dataset (use conflicts-train, never the test set).

Usage: .venv/bin/python scripts/tune_fusion.py DATASET_DIR EVAL_DATA_DIR
(run `rag eval retrieval --dataset DATASET_DIR --data-dir EVAL_DATA_DIR` first to ingest)
"""

import sys
from pathlib import Path

from lab.evaluation import Dataset, eval_retrieval, format_table
from rag.bootstrap import build_runtime
from rag.config import Settings
from rag.retrieval.hybrid import FusionConfig


def main(dataset_dir: Path, data_dir: Path) -> None:
    runtime = build_runtime(Settings(data_dir=data_dir, load_samples=False), load_llm=False)
    ds = Dataset.load(dataset_dir)
    collection = ds.collection
    rows = {}
    configs = [FusionConfig("rrf", rrf_k=k) for k in (10, 60)] + [
        FusionConfig("convex", alpha=a, candidates=c) for a in (0.5, 0.6, 0.7, 0.8, 0.9) for c in (20, 50)]
    for cfg in configs:
        runtime.service.retriever.fusion = cfg
        name = f"{cfg.method} " + (f"k={cfg.rrf_k}" if cfg.method == "rrf" else f"a={cfg.alpha} n={cfg.candidates}")
        rows[name] = eval_retrieval(runtime, ds, collection, ["hybrid"])["hybrid"]
        print(name, rows[name], flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
