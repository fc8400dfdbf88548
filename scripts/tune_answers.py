"""Compare context settings by `rag eval answers` figures on a BEIR dataset (conflicts-train).

Usage: .venv/bin/python scripts/tune_answers.py DATASET_DIR EVAL_DATA_DIR LIMIT [--holdout] [--drop-gold] [CONFIG...]

--holdout keeps only the conflicts-train rows that `rag tune` held out of training (its
default split), so settings for the tuned adapter are chosen on questions it never saw.
"""

import argparse
import dataclasses
import json
from pathlib import Path

from lab.evaluation import Dataset, eval_answers, format_table
from lab.tuning import TuneConfig, load_rows, split_rows
from rag.bootstrap import build_runtime
from rag.config import Settings

CONFIGS = {
    "chunks k=1": dict(context_chunks=1, evidence="chunks"),
    "chunks k=2": dict(context_chunks=2, evidence="chunks"),
    "chunks k=3": dict(context_chunks=3, evidence="chunks"),
    "chunks k=5": dict(context_chunks=5, evidence="chunks"),
    "sentences 1 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=1),
    "sentences 2 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=2),
    "sentences 1+-1 of k=3": dict(context_chunks=3, evidence="sentences", evidence_sentences=1, evidence_neighbours=1),
    # the default evidence (relevant sentences of each chunk) from more chunks
    "relevant k=2": dict(context_chunks=2),
    "relevant k=3": dict(context_chunks=3),
    # the relevance threshold under which the service refuses without asking the LLM
    **{f"min_score {t:.2f}": dict(min_score=t) for t in (0.0, 0.40, 0.44, 0.46, 0.48)},
}


def holdout_qids(train_dir: Path) -> set[str]:
    defaults = TuneConfig(data=train_dir, out=Path("."))
    rows = load_rows(train_dir)
    _, held = split_rows(len(rows), defaults.holdout, defaults.seed)
    return {"tq" + rows[i]["_id"][1:] for i in held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("limit", type=int)
    parser.add_argument("configs", nargs="*")
    parser.add_argument("--holdout", action="store_true")
    parser.add_argument("--drop-gold", action="store_true")
    parser.add_argument("--train", type=Path, default=Path("../shared/data/conflicts-train"))
    args = parser.parse_intermixed_args()
    runtime = build_runtime(Settings(data_dir=args.data_dir, load_samples=False))
    ds = Dataset.load(args.dataset)
    if args.holdout:
        keep = holdout_qids(args.train)
        ds = dataclasses.replace(ds, qrels={q: r for q, r in ds.qrels.items() if q in keep})
    base = runtime.service.options
    rows = {}
    for name, changes in CONFIGS.items():
        if args.configs and name not in args.configs:
            continue
        runtime.service.options = dataclasses.replace(base, **changes)
        rows[name] = eval_answers(runtime, ds, ds.collection, args.limit, args.drop_gold).summary()
        print(name, json.dumps(rows[name]), flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main()
