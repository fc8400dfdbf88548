"""Write the figures of `make eval` (JSON files in a folder) into EVALUATION.md's generated sections."""

import json
import sys
from pathlib import Path

from lab.evaluation import format_table, write_section
from rag.answer.service import AskOptions
from rag.config import Settings


def main(results: Path, target: Path) -> None:
    # A block is rewritten only from results that exist (one `rag eval` command re-run alone).
    if (results / "retrieval.json").exists():
        retrieval = json.loads((results / "retrieval.json").read_text())
        write_section(target, "retrieval", f"Queries: {retrieval['queries']}. Command: `make eval` (`rag eval "
                      "retrieval --dataset DATASET`; default settings: onnx-int8 embeddings, function words "
                      "left out of the lexical query).\n\n" + format_table(retrieval["retrieval"]))
    if (results / "refusal.json").exists():
        refusal = json.loads((results / "refusal.json").read_text())
        write_section(target, "refusal", "Top-chunk relevance threshold vs refusals (retrieval only, "
                      f"the first {refusal.get('queries', 'N')} questions with and without their gold passage); the "
                      "relevance is the reranker's probability and the default threshold "
                      f"{AskOptions.from_settings(Settings()).min_score}. Command: `make eval` (`rag eval "
                      "refusal --dataset DATASET`).\n\n" + format_table(refusal["curve"]))
    rows = _summaries(results, (("answers.json", "retrieved context (the defaults: reranker, reader, adapter)"),
                                ("dropgold.json", "--drop-gold (the defaults)"),
                                ("answers-engine.json", "retrieved context, written through an engine (llama.cpp's "
                                 "server, same weights: `scripts/with_engine.py`)"),
                                ("answers-base.json", "retrieved context, base model (`RAG_LLM__ADAPTER=none`)"),
                                ("dropgold-base.json", "--drop-gold, base model")))
    if rows:
        limit = next(iter(rows.values()))["questions"]
        write_section(target, "answers", f"First {limit} questions, default settings otherwise. Command: "
                      f"`make eval` (`rag eval answers --dataset DATASET --limit {limit} [--drop-gold]` with "
                      "`RAG_LLM__ADAPTER=default` and `=none`, and once through `scripts/with_engine.py`)."
                      "\n\n" + format_table(rows))

    office = _summaries(results, (("office-test.json", "test half (default settings)"),
                                  ("office-dev.json", "dev half (default settings)"),
                                  ("office-test-norerank.json", "test half, reranker off (`RAG_RERANK__MODEL=none`)")))
    if office:
        write_section(target, "office", "The office set (`data/eval/office`: 14 documents of a fictional water "
                      "utility in 9 formats, questions written by hand). Command: `make eval` (`rag eval answers "
                      "--dataset data/eval/office --split test|dev`).\n\n" + format_table(office))


def _summaries(results: Path, files: tuple[tuple[str, str], ...]) -> dict[str, dict]:
    """The summary of each results file that exists, under its row label."""
    return {label: json.loads((results / name).read_text())["summary"]
            for name, label in files if (results / name).exists()}


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
