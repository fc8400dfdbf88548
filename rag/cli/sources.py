"""`rag sources ...` and `rag jobs`: folders kept in sync, and the job history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import DataDir, app, offline_runtime
from rag.errors import RagError

sources_app = typer.Typer(help="Folders and files kept in sync with collections.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


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
    runtime = offline_runtime(data_dir)
    source = runtime.sources.add(kind="folder" if path.is_dir() else "file", path=str(path),
                                 collection=collection, include=include or [], exclude=exclude or [],
                                 schedule=schedule, delete_missing=not keep_missing)
    job = runtime.scheduler.enqueue(source.id)
    typer.echo(f"{source.id}\t{source.kind}\t{source.path} -> {collection}\tschedule: {schedule or 'manual'}\tfirst sync queued as {job.id}")


@sources_app.command("list")
def sources_list(data_dir: DataDir = None) -> None:
    """List sources with their schedule and last sync."""
    for s in offline_runtime(data_dir).sources.list():
        last = f"{s.last_sync_at:%Y-%m-%d %H:%M:%S}" if s.last_sync_at else "never"
        typer.echo(f"{s.id}\t{s.kind}\t{s.path} -> {s.collection}\tschedule: {s.schedule or 'manual'}\tlast sync: {last}")


@sources_app.command("sync")
def sources_sync(source_id: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Sync a source now, in this process, and print what changed."""
    runtime = offline_runtime(data_dir)
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
        offline_runtime(data_dir).sources.remove(source_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"removed {source_id}")


@app.command()
def jobs(limit: Annotated[int, typer.Option()] = 20, data_dir: DataDir = None) -> None:
    """Recent jobs, newest first."""
    for j in offline_runtime(data_dir).jobs.list(limit=limit):
        counts = ", ".join(f"{v} {k}" for k, v in j.counts.items() if v)
        typer.echo(f"{j.id}\t{j.kind}\t{j.collection}\t{j.state}\t{j.done}/{j.total or 0}\t{counts}\t{j.reason or ''}")
