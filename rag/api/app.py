"""create_app(settings): the FastAPI application, its lifespan and its error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingest.filetypes import supported_types
from rag import __version__
from rag.api.limits import BodyLimits
from rag.api.routes import collections, health, jobs, keys, openai_compat, query, sources
from rag.bootstrap import Runtime, build_runtime, seed_samples
from rag.config import Settings
from rag.errors import (
    Forbidden,
    IndexCorrupt,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    OutOfRange,
    Overloaded,
    ParseFailed,
    TooLarge,
    Unauthorized,
    UnsupportedType,
)

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Pass `runtime` to share already-loaded models (tests do)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        seeded = seed_samples(rt)
        if seeded:
            log.info("ingested %d sample documents into %r", len(seeded), settings.samples_collection)
        app.state.runtime = rt
        app.state.settings = settings
        if runtime is None and settings.run_jobs:
            rt.start_background()
        yield
        if runtime is None:
            rt.stop_background()
            rt.parser.close()
            rt.store.close()

    app = FastAPI(
        title="Groundwork",
        version=__version__,
        description="Self-hosted RAG: upload documents, ask questions, get answers grounded in them with citations.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(collections.router)
    app.include_router(query.router)
    app.include_router(sources.router)
    app.include_router(jobs.router)
    app.include_router(openai_compat.router)
    app.include_router(keys.router)
    app.add_middleware(BodyLimits, max_bytes=int(settings.limits.max_upload_mb * 1024 * 1024),
                       max_json_bytes=settings.limits.max_json_kb * 1024,
                       timeout_s=settings.limits.body_timeout_s)
    _errors(app)
    return app


def _errors(app: FastAPI) -> None:
    """Domain errors become HTTP statuses here and nowhere else."""

    def handler(status: int):
        async def handle(_: Request, exc: Exception) -> JSONResponse:
            body: dict = {"detail": str(exc)}
            headers = {}
            if isinstance(exc, UnsupportedType):
                body["supported_types"] = supported_types()
            if isinstance(exc, Overloaded):
                headers["Retry-After"] = str(exc.retry_after_s)
            if isinstance(exc, Unauthorized):
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse(body, status_code=status, headers=headers)
        return handle

    for exc_type, status in [
        (NotFound, 404), (OutOfRange, 422), (InvalidInput, 400), (UnsupportedType, 415), (TooLarge, 413),
        (ParseFailed, 422), (ModelUnavailable, 503), (IndexCorrupt, 503), (Overloaded, 429),
        (Unauthorized, 401), (Forbidden, 403),
    ]:
        app.add_exception_handler(exc_type, handler(status))
