"""`rag ingest`, `rag ask`, `rag search`, `rag documents delete`: on a data
directory, or with --url (RAG_URL) on a server over HTTP (rag.cli.remote)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli import remote
from rag.cli.common import DataDir, app, settings_for
from rag.cli.remote import KeyOpt, UrlOpt
from rag.errors import RagError

documents_app = typer.Typer(help="The documents of a collection: list, tag, file, chunks, delete.",
                            no_args_is_help=True)
app.add_typer(documents_app, name="documents")


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="files or folders (recursed)")],
           collection: Annotated[str, typer.Option("--collection", "-c", help="target collection")],
           batch_mb: Annotated[float, typer.Option(help="read at most this many MB before ingesting them")] = 64,
           data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Ingest files into a collection, with a progress bar. Files are read in bounded
    batches, so an archive of any size never sits in memory at once. With --url they are
    uploaded to the server in batches."""
    from tqdm import tqdm

    from ingest.local_files import find_files, read_batches
    from ingest.pipeline import FileOutcome
    from ingest.uploads import count_outcomes
    from rag.bootstrap import build_runtime
    from rag.store.jobs import describe_counts

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    if url:
        return remote.ingest(url, api_key, paths, collection, batch_mb)
    files = find_files(paths)
    runtime = build_runtime(settings_for(data_dir), load_llm=False)
    outcomes: list[FileOutcome] = []
    failures: list[str] = []
    with tqdm(total=len(files), desc=f"ingesting into {collection}", unit="file") as bar:
        for batch, unreadable in read_batches(files, max_bytes=int(batch_mb * 1024 * 1024)):
            before = bar.n

            def progress(n: int, base: int = before) -> None:
                bar.update(base + n - bar.n)

            done = runtime.ingestor.ingest_many(collection, batch, progress=progress)
            outcomes += done
            outcomes += [FileOutcome(f.name, "failed", reason=why) for f, why in unreadable]
            failures += [f"  {f.source}: {o.reason}" for f, o in zip(batch, done) if o.status == "failed"]
            failures += [f"  {why}" for _, why in unreadable]
            bar.update(before + len(batch) + len(unreadable) - bar.n)
    counts = count_outcomes(outcomes)
    typer.echo(describe_counts(dict(sorted(counts.items())), "no files"))
    for line in failures:
        typer.echo(line, err=True)
    if failures and len(failures) == len(files):
        raise typer.Exit(1)


@app.command()
def ask(question: Annotated[str, typer.Argument(help="the question")],
        collection: Annotated[str, typer.Option("--collection", "-c")],
        top_k: Annotated[int | None, typer.Option(help="chunks to retrieve")] = None,
        data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Answer a question from a collection and print its sources (streamed with --url)."""
    from rag.bootstrap import build_runtime

    if url:
        return remote.ask(url, api_key, collection, question, top_k)

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
           data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Print the ranked chunks for a query (no LLM)."""
    from rag.bootstrap import build_runtime

    if url:
        return remote.search(url, api_key, collection, query, top_k)

    runtime = build_runtime(settings_for(data_dir), load_llm=False)
    try:
        hits = runtime.service.search(collection, query, top_k)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for hit in hits:
        typer.echo(f"{hit.score:.3f}  {hit.document.name} p{hit.chunk.page or '-'}  {hit.chunk.text[:100]!r}")


@documents_app.command("delete")
def documents_delete(document_id: Annotated[str, typer.Argument()],
                     collection: Annotated[str, typer.Option("--collection", "-c")],
                     data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a document (its chunks leave the index at once)."""
    from rag.cli.common import offline_runtime

    if url:
        return remote.delete_document(url, api_key, collection, document_id)
    try:
        offline_runtime(data_dir).ingestor.delete(collection, document_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"deleted {document_id}")
