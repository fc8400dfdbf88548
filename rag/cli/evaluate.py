"""`rag eval ...`: measurement with the lab tools (package `lab`) on the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import app, settings_for

eval_app = typer.Typer(help="Measure retrieval and answers on a BEIR-layout dataset or the office set.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
DatasetOpt = Annotated[Path, typer.Option(
    "--dataset", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) or the office set (data/eval/office)")]
EvalDir = Annotated[Path, typer.Option("--data-dir", help="scratch state for evaluation")]


def _eval_setup(dataset_dir: Path, data_dir: Path, load_llm: bool):
    from tqdm import tqdm

    from lab.evaluation import Dataset, ingest_dataset
    from rag.bootstrap import build_runtime

    if not (dataset_dir / "corpus.jsonl").exists():
        raise typer.BadParameter(f"{dataset_dir} has no corpus.jsonl (BEIR layout expected)")
    settings = settings_for(data_dir).model_copy(update={"load_samples": False})
    runtime = build_runtime(settings, load_llm=load_llm)
    dataset = Dataset.load(dataset_dir)
    collection = dataset.collection
    with tqdm(total=len(dataset.corpus), desc=f"ingesting {dataset.name}", unit="doc") as bar:
        counts = ingest_dataset(runtime, dataset, collection, progress=lambda done, _: bar.update(done - bar.n))
    typer.echo(f"corpus: {', '.join(f'{v} {k}' for k, v in counts.items())}")
    return runtime, dataset, collection


def _emit(result: dict, out: Path | None) -> None:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str))
        typer.echo(f"wrote {out}")


@eval_app.command("retrieval")
def eval_retrieval_cmd(dataset: DatasetOpt, out: Annotated[Path | None, typer.Option(help="JSON output")] = None,
                       modes: Annotated[str, typer.Option(help="comma-separated: dense,lexical,hybrid")] = "dense,lexical,hybrid",
                       limit: Annotated[int | None, typer.Option(help="first N queries only")] = None,
                       data_dir: EvalDir = Path("data/eval")) -> None:
    """Recall@1/5/10, MRR@10, nDCG@10 per retrieval mode."""
    from lab.evaluation import eval_retrieval, format_table

    runtime, ds, collection = _eval_setup(dataset, data_dir, load_llm=False)
    result = eval_retrieval(runtime, ds, collection, [m.strip() for m in modes.split(",")], limit)
    typer.echo(format_table(result))
    _emit({"dataset": str(dataset), "queries": limit or len(ds.qrels), "retrieval": result}, out)


@eval_app.command("answers")
def eval_answers_cmd(dataset: DatasetOpt, out: Annotated[Path | None, typer.Option(help="JSON output")] = None,
                     limit: Annotated[int | None, typer.Option(help="first N queries only")] = None,
                     drop_gold: Annotated[bool, typer.Option("--drop-gold", help="leave the gold passages out")] = False,
                     split: Annotated[str, typer.Option(help="office set only: dev, test or all")] = "test",
                     data_dir: EvalDir = Path("data/eval")) -> None:
    """Match, parametric rate, citation accuracy, refusal rate, latency p50/p95.

    On the office set (a folder with questions.jsonl and build.py, e.g. data/eval/office):
    value right, source cited, false refusals, unanswerable refused, for --split.
    """
    from tqdm import tqdm

    from lab.evaluation import eval_answers, format_table
    from lab.office_eval import is_office_set

    if is_office_set(dataset):
        _office_answers(dataset, split, out, data_dir)
        return
    runtime, ds, collection = _eval_setup(dataset, data_dir, load_llm=True)
    n = min(limit or len(ds.qrels), len(ds.qrels))
    with tqdm(total=n, desc="asking", unit="q") as bar:
        report = eval_answers(runtime, ds, collection, limit, drop_gold, progress=lambda i, _: bar.update(i - bar.n))
    summary = report.summary()
    typer.echo(format_table({"drop-gold" if drop_gold else "answers": summary}))
    _emit({"dataset": str(dataset), "drop_gold": drop_gold, "summary": summary,
           "records": [r.__dict__ for r in report.records]}, out)


@eval_app.command("refusal")
def eval_refusal_cmd(dataset: DatasetOpt, out: Annotated[Path | None, typer.Option(help="JSON output")] = None,
                     limit: Annotated[int | None, typer.Option()] = None,
                     thresholds: Annotated[str | None, typer.Option(
                         help="comma-separated relevance thresholds, e.g. 0.45,0.46,0.47")] = None,
                     data_dir: EvalDir = Path("data/eval")) -> None:
    """False vs correct refusal for a range of relevance thresholds (retrieval only)."""
    from lab.evaluation import REFUSAL_THRESHOLDS, format_table, refusal_curve

    grid: list[float] = list(REFUSAL_THRESHOLDS)
    if thresholds:
        try:
            grid = [float(t) for t in thresholds.split(",") if t.strip()] or list(REFUSAL_THRESHOLDS)
        except ValueError:
            raise typer.BadParameter("--thresholds takes numbers separated by commas, e.g. 0.45,0.5") from None
    runtime, ds, collection = _eval_setup(dataset, data_dir, load_llm=False)
    curve = refusal_curve(runtime, ds, collection, limit, grid)
    typer.echo(format_table(curve))
    _emit({"dataset": str(dataset), "queries": limit or len(ds.qrels), "curve": curve}, out)


def _office_answers(folder: Path, split: str, out: Path | None, data_dir: Path) -> None:
    from tqdm import tqdm

    from lab.evaluation import format_table
    from lab.office_eval import eval_office, ingest_documents, load_questions
    from rag.bootstrap import build_runtime

    if split not in ("dev", "test", "all"):
        raise typer.BadParameter("--split must be dev, test or all")
    settings = settings_for(data_dir).model_copy(update={"load_samples": False})
    runtime = build_runtime(settings, load_llm=True)
    counts = ingest_documents(runtime, folder, data_dir / "office-docs")
    typer.echo(f"documents: {', '.join(f'{v} {k}' for k, v in counts.items())}")
    with tqdm(total=len(load_questions(folder, split)), desc=f"asking ({split})", unit="q") as bar:
        report = eval_office(runtime, folder, split, progress=lambda i, _: bar.update(i - bar.n))
    typer.echo(format_table({f"office {split}": report.summary()}))
    _emit(report.to_json(), out)
