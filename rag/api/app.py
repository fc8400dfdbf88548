"""create_app(settings): the FastAPI application, its lifespan, routes, middleware and error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rag import __version__
from rag.api import errors as api_errors
from rag.api.limits import BodyLimits
from rag.api.rate_limit import KeyRateLimiter
from rag.api.routes import collections, documents, health, jobs, keys, openai_compat, query, sources, web
from rag.bootstrap import Runtime, build_runtime, seed_samples
from rag.config import Settings

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
        docs_url=None, redoc_url=None,  # served from local files by rag.api.routes.web
    )
    app.state.rate_limiter = KeyRateLimiter()
    app.include_router(health.router)
    app.include_router(collections.router)
    app.include_router(documents.router)
    app.include_router(query.router)
    app.include_router(sources.router)
    app.include_router(jobs.router)
    app.include_router(openai_compat.router)
    app.include_router(keys.router)
    web.install(app)
    app.add_middleware(BodyLimits, max_bytes=int(settings.limits.max_upload_mb * 1024 * 1024),
                       max_json_bytes=settings.limits.max_json_kb * 1024,
                       timeout_s=settings.limits.body_timeout_s)
    api_errors.install(app)
    return app
