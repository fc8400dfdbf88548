"""`rag sources ...`, `rag jobs` and `rag keys ...`: folders kept in sync, the job history,
API keys; on a data directory, or with --url (RAG_URL) on a server over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.api.schemas import JobOut
from rag.cli import remote
from rag.cli.common import DataDir, app, offline_runtime
from rag.cli.remote import KeyOpt, UrlOpt
from rag.errors import RagError
from rag.store.jobs import describe_counts

sources_app = typer.Typer(help="Folders and files kept in sync with collections.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@sources_app.command("add")
def sources_add(path: Annotated[Path, typer.Argument(help="folder (recursive) or file")],
                collection: Annotated[str, typer.Option("--collection", "-c")],
                schedule: Annotated[str | None, typer.Option(help="cron expression (UTC), e.g. '*/15 * * * *'")] = None,
                include: Annotated[list[str] | None, typer.Option(help="glob to include (repeatable)")] = None,
                exclude: Annotated[list[str] | None, typer.Option(help="glob to exclude (repeatable)")] = None,
                keep_missing: Annotated[bool, typer.Option(help="keep documents whose files are gone")] = False,
                data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Register a source. A running server picks it up within seconds and syncs it. With
    --url, PATH is a path on the server."""
    from ingest.scheduler import parse_cron

    if url:
        with remote.session(url, api_key) as gw:
            s = gw.add_source(str(path), collection, kind="folder", include=include or [], exclude=exclude or [],
                              schedule=schedule, delete_missing=not keep_missing)
        typer.echo(f"{s['id']}\t{s['kind']}\t{s['path']} -> {collection}\tschedule: {schedule or 'manual'}")
        return

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
def sources_list(data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """List sources with their schedule and last sync."""
    if url:
        with remote.session(url, api_key) as gw:
            for r in gw.sources():
                typer.echo(f"{r['id']}\t{r['kind']}\t{r['path']} -> {r['collection']}\t"
                           f"schedule: {r['schedule'] or 'manual'}\tlast sync: {r['last_sync_at'] or 'never'}")
        return
    for s in offline_runtime(data_dir).sources.list():
        last = f"{s.last_sync_at:%Y-%m-%d %H:%M:%S}" if s.last_sync_at else "never"
        typer.echo(f"{s.id}\t{s.kind}\t{s.path} -> {s.collection}\tschedule: {s.schedule or 'manual'}\tlast sync: {last}")


@sources_app.command("sync")
def sources_sync(source_id: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                 url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Sync a source now and print what changed: in this process, or with --url on the server
    (followed to the end with a progress bar)."""
    if url:
        with remote.session(url, api_key) as gw:
            job = remote.follow_job(gw, gw.sync_source(source_id)["id"])
        remote.print_job(job)
        if job["state"] != "succeeded":
            raise typer.Exit(1)
        return
    runtime = offline_runtime(data_dir)
    try:
        runtime.scheduler.enqueue(source_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for job in runtime.runner.run_pending():
        typer.echo(f"{job.id}\t{job.state}\t{describe_counts(job.counts, 'nothing to do')}")
        for error in job.errors:
            typer.echo(f"  {error['file']}: {error['reason']}", err=True)


@sources_app.command("remove")
def sources_remove(source_id: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                   url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Stop syncing a source (its documents stay)."""
    if url:
        with remote.session(url, api_key) as gw:
            gw.remove_source(source_id)
        typer.echo(f"removed {source_id}")
        return
    try:
        offline_runtime(data_dir).sources.remove(source_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"removed {source_id}")


jobs_app = typer.Typer(help="Jobs: `rag jobs` lists the recent ones; show one; cancel one.",
                       invoke_without_command=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.callback()
def jobs(ctx: typer.Context, limit: Annotated[int, typer.Option()] = 20, data_dir: DataDir = None,
         url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Recent jobs, newest first."""
    if ctx.invoked_subcommand:
        return
    if url:
        with remote.session(url, api_key) as gw:
            for job in gw.jobs(limit):
                remote.print_job(job)
        return
    for j in offline_runtime(data_dir).jobs.list(limit=limit):
        remote.print_job(JobOut.model_validate(j).model_dump(mode="json"), with_errors=False)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument()], data_dir: DataDir = None,
              url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """One job: state, progress, counts and each failed file with its reason."""
    if url:
        with remote.session(url, api_key) as gw:
            remote.print_job(gw.job(job_id))
        return
    try:
        j = offline_runtime(data_dir).jobs.get(job_id)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    remote.print_job(JobOut.model_validate(j).model_dump(mode="json"))


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a job: a queued one at once, a running one after its current batch."""
    if url:
        with remote.session(url, api_key) as gw:
            job = gw.cancel_job(job_id)
    else:
        try:
            j = offline_runtime(data_dir).jobs.request_cancel(job_id)
        except RagError as exc:
            raise typer.BadParameter(str(exc)) from exc
        job = {"id": j.id, "state": j.state}
    typer.echo(f"{job['id']}\t{job['state']}")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Argument(help="a label")],
                scope: Annotated[list[str], typer.Option(help="admin, read:COLLECTION or write:COLLECTION (repeatable)")],
                rate_per_minute: Annotated[int | None, typer.Option(help="requests per minute before 429")] = None,
                data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Create a key and print it (the only time it is shown)."""
    if url:
        with remote.session(url, api_key) as gw:
            created = gw.create_key(name, scope, rate_per_minute)
        key_id, key = created["id"], created["key"]
    else:
        try:
            key_id, key = offline_runtime(data_dir).keys.create(name, scope, rate_per_minute)
        except RagError as exc:
            raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"{key_id}\t{key}")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Every key (revoked ones too), without secrets."""
    if url:
        with remote.session(url, api_key) as gw:
            rows = gw.keys()
    else:
        rows = offline_runtime(data_dir).keys.list()
    for k in rows:
        rate = f"{k['rate_per_minute']}/min" if k.get("rate_per_minute") else "unlimited"
        state = f"revoked {k['revoked_at']}" if k.get("revoked_at") else "active"
        typer.echo(f"{k['id']}\t{k['name']}\t{','.join(k['scopes'])}\t{rate}\t{state}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Revoke a key for good."""
    if url:
        with remote.session(url, api_key) as gw:
            gw.revoke_key(key_id)
    else:
        try:
            offline_runtime(data_dir).keys.revoke(key_id)
        except RagError as exc:
            raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"revoked {key_id}")
