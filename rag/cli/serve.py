"""`rag serve` and `rag scheduler`: the long-running processes."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from rag.cli.common import DataDir, app, offline_runtime, settings_for
from rag.config import Settings


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          data_dir: DataDir = None) -> None:
    """Run the HTTP API (default 127.0.0.1:8000)."""
    import uvicorn

    from rag.api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(data_dir)
    bind = host or settings.host
    if not settings.admin_key:
        if not is_loopback(bind):
            raise typer.BadParameter(
                f"refusing to listen on {bind} without authentication: set RAG_ADMIN_KEY, or bind 127.0.0.1")
        logging.getLogger("rag").warning("auth is off (no RAG_ADMIN_KEY): listening on loopback only")
    _check_store(settings)
    _check_engines(settings)
    # SIGTERM: stop accepting, let requests in flight finish for up to drain_s, then the
    # app's shutdown stops the scheduler and the job runner (rag.bootstrap).
    uvicorn.run(create_app(settings), host=bind, port=port or settings.port,
                timeout_graceful_shutdown=int(settings.drain_s) or None)


def _check_store(settings: Settings) -> None:
    """Open (and migrate) the store before loading any model: an unreachable database or one
    from a newer release is one line and exit status 1, not a traceback a minute later."""
    from rag.errors import RagError
    from rag.store.registry import make_store

    store = make_store(settings)
    try:
        store.open()
    except RagError as exc:
        typer.echo(f"rag serve: cannot open the store: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()


def _check_engines(settings: Settings) -> None:
    """An embedding engine that does not answer stops the start (the indexes need its
    dimension), in one line; an LLM engine that does not answer is only a warning: the
    service starts, questions answer 503 naming it until it does."""
    from rag.engines import configured_engines
    from rag.errors import RagError

    try:
        engines = configured_engines(settings)
    except RagError as exc:  # an engine backend without its URL
        typer.echo(f"rag serve: {exc}", err=True)
        raise typer.Exit(1) from None
    for engine in engines:
        role, status = engine.role, engine.status(fresh=True)
        if status.reachable:
            logging.getLogger("rag").info("%s engine %s serves %s", role, status.url, ", ".join(status.models))
        elif role == "embedding":
            typer.echo(f"rag serve: {status.error}", err=True)
            raise typer.Exit(1)
        else:
            logging.getLogger("rag").warning("%s; starting anyway", status.error)


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
def scheduler(data_dir: DataDir = None) -> None:
    """Run scheduled syncs without the HTTP API (headless), until interrupted."""
    import time

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = offline_runtime(data_dir)
    runtime.start_background()
    typer.echo("scheduler running; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runtime.stop_background()


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(
               help="jobs run at once (RAG_WORKERS__CONCURRENCY, default 1)")] = None,
           data_dir: DataDir = None) -> None:
    """Run an ingestion worker on the queue at RAG_QUEUE_URL (Celery on Redis): it runs the
    uploads, syncs and re-embeddings the API replicas queue, against the store at
    RAG_DATABASE_URL. SIGTERM lets the job in hand finish; a worker killed mid-job has its
    job resumed by another worker."""
    from datetime import timedelta

    from ingest.queue import CeleryDispatcher, Sweeper, make_celery, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(data_dir)
    if settings.queue_url is None or not settings.queue_url.get_secret_value():
        raise typer.BadParameter("set RAG_QUEUE_URL (for example redis://127.0.0.1:6379/0): without a queue, "
                                 "`rag serve` runs the jobs itself and no worker is needed")
    _check_store(settings)
    _check_engines(settings)
    runtime = offline_runtime(data_dir)
    runtime.follower.start()  # the worker's FAISS copy follows the other processes' writes
    app_ = make_celery(settings.queue_url.get_secret_value(), settings.workers.visibility_timeout_s)
    lease = timedelta(seconds=settings.job_lease_s)
    sweeper = Sweeper(runtime.runner, CeleryDispatcher(app_), settings.workers.sweep_s,
                      resend_after_s=max(lease.total_seconds(), 30.0))
    run_worker(app_, runtime.runner, sweeper, concurrency or settings.workers.concurrency)
