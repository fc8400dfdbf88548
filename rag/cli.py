"""The `rag` command: serve, ingest, ask, search, collections."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from rag.config import Settings
from rag.errors import RagError

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
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="files or folders (recursed)")],
           collection: Annotated[str, typer.Option("--collection", "-c", help="target collection")],
           data_dir: DataDir = None) -> None:
    """Ingest files into a collection, with a progress bar."""
    from tqdm import tqdm

    from ingest.pipeline import IncomingFile
    from rag.bootstrap import build_runtime

    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()})
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    runtime = build_runtime(_settings(data_dir), load_llm=False)
    counts: dict[str, int] = {}
    failures = []
    for path in tqdm(files, desc=f"ingesting into {collection}", unit="file"):
        outcome = runtime.ingestor.ingest(collection, IncomingFile(path.name, path.read_bytes(), source=str(path.resolve())))
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


if __name__ == "__main__":
    app()
