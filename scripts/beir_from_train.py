"""Write ../shared/data/conflicts-train as a BEIR-layout dataset, for tuning (never the test set).

Usage: .venv/bin/python scripts/beir_from_train.py ../shared/data/conflicts-train data/eval/conflicts-train
"""

import json
import sys
from pathlib import Path


def main(src: Path, dst: Path) -> None:
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in open(src / "train.jsonl") if line.strip()]
    with open(dst / "corpus.jsonl", "w") as corpus, open(dst / "queries.jsonl", "w") as queries, \
            open(dst / "qrels" / "test.tsv", "w") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for row in rows:
            pid, qid = "tp" + row["_id"][1:], "tq" + row["_id"][1:]
            corpus.write(json.dumps({"_id": pid, "title": "", "text": row["passage"]}) + "\n")
            queries.write(json.dumps({"_id": qid, "text": row["question"], "answer": row["answer"],
                                      "parametric_answer": row["parametric_answer"]}) + "\n")
            qrels.write(f"{qid}\t{pid}\t1\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
