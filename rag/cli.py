"""The `rag` command: serve, ingest, ask, search, collections."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from rag.config import Settings
from rag.errors import RagError
from rag.tuning import TuneConfig

app = typer.Typer(help="Groundwork: offline RAG over your documents.", no_args_is_help=True)


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="state directory (default: $RAG_DATA_DIR or ./data)")]


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          data_dir: DataDir = None) -> None:
    """Run the HTTP API (default 127.0.0.1:8000)."""
    import uvicorn

    from rag.api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(data_dir)
    bind = host or settings.host
    if not settings.admin_key:
        if not is_loopback(bind):
            raise typer.BadParameter(
                f"refusing to listen on {bind} without authentication: set RAG_ADMIN_KEY, or bind 127.0.0.1")
        logging.getLogger("rag").warning("auth is off (no RAG_ADMIN_KEY): listening on loopback only")
    uvicorn.run(create_app(settings), host=bind, port=port or settings.port)


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1; 0.0.0.0 and every other address are not."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="files or folders (recursed)")],
           collection: Annotated[str, typer.Option("--collection", "-c", help="target collection")],
           data_dir: DataDir = None) -> None:
    """Ingest files into a collection, with a progress bar."""
    from tqdm import tqdm

    from ingest.pipeline import IncomingFile
    from rag.bootstrap import build_runtime

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    # A file is named by its file name; files inside a folder by their path below it, so
    # two notes.md in different sub-folders stay two documents.
    named = {f: (f.name if p.is_file() else f.relative_to(p).as_posix())
             for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()}
    files = list(named)
    runtime = build_runtime(_settings(data_dir), load_llm=False)
    incoming = [IncomingFile(named[f], f.read_bytes(), source=str(f.resolve())) for f in files]
    with tqdm(total=len(incoming), desc=f"ingesting into {collection}", unit="file") as bar:
        outcomes = runtime.ingestor.ingest_many(collection, incoming, progress=lambda n: bar.update(n - bar.n))
    counts: dict[str, int] = {}
    failures = []
    for path, outcome in zip(files, outcomes):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "failed":
            failures.append(f"  {path}: {outcome.reason}")
    typer.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no files")
    for line in failures:
        typer.echo(line, err=True)
    if failures and len(failures) == len(files):
        raise typer.Exit(1)


@app.command()
def ask(question: Annotated[str, typer.Argument(help="the question")],
        collection: Annotated[str, typer.Option("--collection", "-c")],
        top_k: Annotated[int | None, typer.Option(help="chunks to retrieve")] = None,
        data_dir: DataDir = None) -> None:
    """Answer a question from a collection and print its sources."""
    from rag.bootstrap import build_runtime

    runtime = build_runtime(_settings(data_dir))
    try:
        answer = runtime.service.ask(collection, question, top_k)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(answer.text)
    for c in answer.citations:
        where = f", page {c.chunk.chunk.page}" if c.chunk.chunk.page else ""
        typer.echo(f"  [{c.n}] {c.chunk.document.name}{where}: {c.quote}")
    for s in answer.sources:
        typer.echo(f"  source: {s.document.name} v{s.document.version} "
                   f"(ingested {s.document.ingested_at:%Y-%m-%d %H:%M} UTC, score {s.score:.2f})")


@app.command()
def search(query: Annotated[str, typer.Argument()],
           collection: Annotated[str, typer.Option("--collection", "-c")],
           top_k: Annotated[int | None, typer.Option()] = None,
           data_dir: DataDir = None) -> None:
    """Print the ranked chunks for a query (no LLM)."""
    from rag.bootstrap import build_runtime

    runtime = build_runtime(_settings(data_dir), load_llm=False)
    try:
        hits = runtime.service.search(collection, query, top_k)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for hit in hits:
        typer.echo(f"{hit.score:.3f}  {hit.document.name} p{hit.chunk.page or '-'}  {hit.chunk.text[:100]!r}")


@app.command()
def collections(data_dir: DataDir = None) -> None:
    """List collections."""
    from rag.store.sqlite import SQLiteStore

    store = SQLiteStore(_settings(data_dir).db_path)
    store.open()
    for c in store.list_collections():
        typer.echo(f"{c.name}\t{c.document_count} documents\t{c.chunk_count} chunks")


sources_app = typer.Typer(help="Folders and files kept in sync with collections.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


def _runtime(data_dir: Path | None):
    from rag.bootstrap import build_runtime

    return build_runtime(_settings(data_dir), load_llm=False)


@sources_app.command("add")
def sources_add(path: Annotated[Path, typer.Argument(help="folder (recursive) or file")],
                collection: Annotated[str, typer.Option("--collection", "-c")],
                schedule: Annotated[str | None, typer.Option(help="cron expression (UTC), e.g. '*/15 * * * *'")] = None,
                include: Annotated[list[str] | None, typer.Option(help="glob to include (repeatable)")] = None,
                exclude: Annotated[list[str] | None, typer.Option(help="glob to exclude (repeatable)")] = None,
                keep_missing: Annotated[bool, typer.Option(help="keep documents whose files are gone")] = False,
                data_dir: DataDir = None) -> None:
    """Register a source. A running server picks it up within seconds and syncs it."""
    from ingest.scheduler import parse_cron

    path = path.expanduser().resolve()
    if not path.exists():
        raise typer.BadParameter(f"no such file or folder: {path}")
    try:
        if schedule:
            parse_cron(schedule)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    runtime = _runtime(data_dir)
    source = runtime.sources.add(kind="folder" if path.is_dir() else "file", path=str(path),
                                 collection=collection, include=include or [], exclude=exclude or [],
                                 schedule=schedule, delete_missing=not keep_missing)
    job = runtime.scheduler.enqueue(source.id)
    typer.echo(f"{source.id}\t{source.kind}\t{source.path} -> {collection}\tschedule: {schedule or 'manual'}\tfirst sync queued as {job.id}")


@sources_app.command("list")
def sources_list(data_dir: DataDir = None) -> None:
    """List sources with their schedule and last sync."""
    for s in _runtime(data_dir).sources.list():
        last = f"{s.last_sync_at:%Y-%m-%d %H:%M:%S}" if s.last_sync_at else "never"
        typer.echo(f"{s.id}\t{s.kind}\t{s.path} -> {s.collection}\tschedule: {s.schedule or 'manual'}\tlast sync: {last}")


@sources_app.command("sync")
def sources_sync(source_id: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Sync a source now, in this process, and print what changed."""
    runtime = _runtime(data_dir)
    try:
        runtime.scheduler.enqueue(source_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for job in runtime.runner.run_pending():
        counts = ", ".join(f"{v} {k}" for k, v in job.counts.items() if v)
        typer.echo(f"{job.id}\t{job.state}\t{counts or 'nothing to do'}")
        for error in job.errors:
            typer.echo(f"  {error['file']}: {error['reason']}", err=True)


@sources_app.command("remove")
def sources_remove(source_id: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Stop syncing a source (its documents stay)."""
    try:
        _runtime(data_dir).sources.remove(source_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"removed {source_id}")


@app.command()
def jobs(limit: Annotated[int, typer.Option()] = 20, data_dir: DataDir = None) -> None:
    """Recent jobs, newest first."""
    for j in _runtime(data_dir).jobs.list(limit=limit):
        counts = ", ".join(f"{v} {k}" for k, v in j.counts.items() if v)
        typer.echo(f"{j.id}\t{j.kind}\t{j.collection}\t{j.state}\t{j.done}/{j.total or 0}\t{counts}\t{j.reason or ''}")


@app.command()
def scheduler(data_dir: DataDir = None) -> None:
    """Run scheduled syncs without the HTTP API (headless), until interrupted."""
    import time

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = _runtime(data_dir)
    runtime.start_background()
    typer.echo("scheduler running; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runtime.stop_background()


eval_app = typer.Typer(help="Measure retrieval and answers on a BEIR-layout dataset.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
DatasetOpt = Annotated[Path, typer.Option("--dataset", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")]
EvalDir = Annotated[Path, typer.Option("--data-dir", help="scratch state for evaluation")]


def _eval_setup(dataset_dir: Path, data_dir: Path, load_llm: bool):
    from tqdm import tqdm

    from rag.bootstrap import build_runtime
    from rag.evaluation import Dataset, ingest_dataset

    if not (dataset_dir / "corpus.jsonl").exists():
        raise typer.BadParameter(f"{dataset_dir} has no corpus.jsonl (BEIR layout expected)")
    settings = _settings(data_dir).model_copy(update={"load_samples": False})
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
    from rag.evaluation import eval_retrieval, format_table

    runtime, ds, collection = _eval_setup(dataset, data_dir, load_llm=False)
    result = eval_retrieval(runtime, ds, collection, [m.strip() for m in modes.split(",")], limit)
    typer.echo(format_table(result))
    _emit({"dataset": str(dataset), "queries": limit or len(ds.qrels), "retrieval": result}, out)


@eval_app.command("answers")
def eval_answers_cmd(dataset: DatasetOpt, out: Annotated[Path | None, typer.Option(help="JSON output")] = None,
                     limit: Annotated[int | None, typer.Option(help="first N queries only")] = None,
                     drop_gold: Annotated[bool, typer.Option("--drop-gold", help="leave the gold passages out")] = False,
                     data_dir: EvalDir = Path("data/eval")) -> None:
    """Match, parametric rate, citation accuracy, refusal rate, latency p50/p95."""
    from tqdm import tqdm

    from rag.evaluation import eval_answers, format_table

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
    from rag.evaluation import REFUSAL_THRESHOLDS, format_table, refusal_curve

    grid = REFUSAL_THRESHOLDS
    if thresholds:
        try:
            grid = [float(t) for t in thresholds.split(",") if t.strip()] or REFUSAL_THRESHOLDS
        except ValueError:
            raise typer.BadParameter("--thresholds takes numbers separated by commas, e.g. 0.45,0.5") from None
    runtime, ds, collection = _eval_setup(dataset, data_dir, load_llm=False)
    curve = refusal_curve(runtime, ds, collection, limit, grid)
    typer.echo(format_table(curve))
    _emit({"dataset": str(dataset), "curve": curve}, out)


# The tune command's defaults are TuneConfig's (the shipped adapter's card quotes them).
_TUNE = TuneConfig(data=Path(), out=Path())


@app.command()
def tune(data: Annotated[Path, typer.Option(help="folder with train.jsonl (question, passage, answer)")] = Path("../shared/data/conflicts-train"),
         out: Annotated[Path, typer.Option(help="run folder: checkpoints/ and adapter/")] = Path("data/tune"),
         max_steps: Annotated[int, typer.Option(help="optimizer steps; -1 runs --epochs")] = _TUNE.max_steps,
         epochs: Annotated[float, typer.Option()] = _TUNE.epochs,
         seed: Annotated[int, typer.Option()] = _TUNE.seed,
         max_passages: Annotated[int, typer.Option(help="passages per example: 1..N")] = _TUNE.max_passages,
         refusal_share: Annotated[float, typer.Option(help="share of examples without the gold passage")] = _TUNE.refusal_share,
         office_examples: Annotated[int, typer.Option(
             help="generated office-document sections mixed into the data (0: none)")] = _TUNE.office_examples,
         clauses: Annotated[str, typer.Option(
             help="rows taught the answer's clause instead of the bare answer: office, all or none")] = _TUNE.clauses,
         holdout: Annotated[int, typer.Option(help="rows kept out for the final report")] = _TUNE.holdout,
         rank: Annotated[int, typer.Option(help="LoRA rank")] = _TUNE.rank,
         learning_rate: Annotated[float, typer.Option()] = _TUNE.learning_rate,
         batch_size: Annotated[int, typer.Option(help="1 avoids padding, the cheapest on a CPU")] = _TUNE.batch_size,
         grad_accum: Annotated[int, typer.Option(help="examples per optimizer step = batch x this")] = _TUNE.grad_accum,
         save_every: Annotated[int, typer.Option(help="checkpoint every N steps")] = _TUNE.save_every,
         fresh: Annotated[bool, typer.Option("--fresh", help="ignore existing checkpoints")] = False) -> None:
    """LoRA-tune the LLM for grounded, cited answers (resumes from the last checkpoint).

    Copy OUT/adapter to rag/adapters/smollm2-grounded to ship it, or point
    RAG_LLM__ADAPTER at it.
    """
    import shutil

    from rag.bootstrap import llm_dir, make_embedder
    from rag.tuning import CHECKPOINT_DIR, CLAUSE_ROWS, tune as run_tune

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if clauses not in CLAUSE_ROWS:
        raise typer.BadParameter(f"--clauses must be one of: {', '.join(CLAUSE_ROWS)}")
    settings = Settings()
    if fresh:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    config = TuneConfig(data=data, out=out, seed=seed, max_steps=max_steps, epochs=epochs,
                        max_passages=max_passages, refusal_share=refusal_share,
                        office_examples=office_examples, clauses=clauses, holdout=holdout, rank=rank,
                        learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                        save_every=save_every)
    embedder = make_embedder(settings)
    embedder.warm_up()
    try:
        report = run_tune(config, llm_dir(settings), embedder)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(report.__dict__, indent=2))
    typer.echo(f"adapter: {out / 'adapter'} (card: {out / 'adapter' / 'README.md'})")


if __name__ == "__main__":
    app()
