"""`rag ingest`, `rag ask`, `rag search`, `rag collections`: work on a data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import DataDir, app, settings_for
from rag.errors import RagError


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="files or folders (recursed)")],
           collection: Annotated[str, typer.Option("--collection", "-c", help="target collection")],
           data_dir: DataDir = None) -> None:
    """Ingest files into a collection, with a progress bar."""
    from tqdm import tqdm

    from ingest.pipeline import IncomingFile
    from ingest.uploads import count_outcomes
    from rag.bootstrap import build_runtime

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    # A file is named by its file name; files inside a folder by their path below it, so
    # two notes.md in different sub-folders stay two documents.
    named = {f: (f.name if p.is_file() else f.relative_to(p).as_posix())
             for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()}
    files = list(named)
    runtime = build_runtime(settings_for(data_dir), load_llm=False)
    incoming = [IncomingFile(named[f], f.read_bytes(), source=str(f.resolve())) for f in files]
    with tqdm(total=len(incoming), desc=f"ingesting into {collection}", unit="file") as bar:
        outcomes = runtime.ingestor.ingest_many(collection, incoming, progress=lambda n: bar.update(n - bar.n))
    counts = count_outcomes(outcomes)
    failures = [f"  {path}: {outcome.reason}" for path, outcome in zip(files, outcomes) if outcome.status == "failed"]
    typer.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if n) or "no files")
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

    runtime = build_runtime(settings_for(data_dir))
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

    runtime = build_runtime(settings_for(data_dir), load_llm=False)
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

    store = SQLiteStore(settings_for(data_dir).db_path)
    store.open()
    for c in store.list_collections():
        typer.echo(f"{c.name}\t{c.document_count} documents\t{c.chunk_count} chunks")
