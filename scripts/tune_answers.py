"""Compare context settings by `rag eval answers` figures on a BEIR dataset (conflicts-train).

Usage: .venv/bin/python scripts/tune_answers.py DATASET_DIR EVAL_DATA_DIR LIMIT
"""

import dataclasses
import json
import sys
from pathlib import Path

from rag.bootstrap import build_runtime
from rag.config import Settings
from rag.evaluation import Dataset, eval_answers, format_table

CONFIGS = {
    "chunks k=1": dict(context_chunks=1, evidence="chunks"),
    "chunks k=2": dict(context_chunks=2, evidence="chunks"),
    "chunks k=3": dict(context_chunks=3, evidence="chunks"),
    "sentences 1 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=1),
    "sentences 2 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=2),
    "sentences 1+-1 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=1, evidence_neighbours=1),
}


def main(dataset_dir: Path, data_dir: Path, limit: int, only: list[str]) -> None:
    runtime = build_runtime(Settings(data_dir=data_dir, load_samples=False))
    ds = Dataset.load(dataset_dir)
    collection = ds.collection
    base = runtime.service.options
    rows = {}
    for name, changes in CONFIGS.items():
        if only and name not in only:
            continue
        runtime.service.options = dataclasses.replace(base, **changes)
        rows[name] = eval_answers(runtime, ds, collection, limit).summary()
        print(name, json.dumps(rows[name]), flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
