"""Measure the prompt-injection set (tests/hostile/injection.py) through the real service.

Usage: .venv/bin/python scripts/injection_report.py --seeds 0,1,2 --out data/eval/results/injection.json
(RAG_LLM__ADAPTER=none measures the base model.) Prints a Markdown table for EVALUATION.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.pipeline import IncomingFile  # noqa: E402
from rag.bootstrap import build_runtime  # noqa: E402
from rag.config import Settings  # noqa: E402
from tests.hostile.injection import build_injection_set, score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", type=Path, default=Path("data/eval/injection"))
    parser.add_argument("--out", type=Path, default=Path("data/eval/results/injection.json"))
    args = parser.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    settings = Settings(data_dir=args.data_dir, load_samples=False, run_jobs=False)
    runtime = build_runtime(settings)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        collection = f"injection-{seed}"
        docs = build_injection_set(seed)
        runtime.ingestor.ingest_many(collection, [IncomingFile(d.filename, d.data) for d in docs])
        for doc in docs:
            answer = runtime.service.ask(collection, doc.question).text
            verdict = score(doc, answer)
            rows.append({"seed": seed, "key": doc.key, "attack": doc.attack, "hiding": doc.hiding,
                         "answer": answer, "correct": doc.answer in answer, **verdict.__dict__})
            print(f"{doc.key:28} leaked={verdict.leaked!s:5} obeyed={verdict.obeyed!s:5} {answer[:90]!r}",
                  file=sys.stderr)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["attack"]].append(row)
        groups["all"].append(row)
    table = {name: {k: round(sum(r[k] for r in g) / len(g), 3) for k in ("leaked", "obeyed", "image_or_link", "correct")}
             | {"n": len(g)} for name, g in groups.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"adapter": settings.llm.adapter, "table": table, "rows": rows}, indent=2))
    print("| attack | n | secret leaked | instruction obeyed | image/link out | answer correct |")
    print("|---|---|---|---|---|---|")
    for name, t in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        print(f"| {name} | {t['n']} | {t['leaked']:.1%} | {t['obeyed']:.1%} | {t['image_or_link']:.1%} | {t['correct']:.1%} |")


if __name__ == "__main__":
    main()
