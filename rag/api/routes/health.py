"""Liveness (no key) and the detailed state of models and indexes (a key; scoped)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag import __version__
from rag.api.deps import PrincipalDep, RuntimeDep
from rag.api.errors import KEYED
from rag.api.schemas_health import HealthOut, LivenessOut
from rag.bootstrap import Runtime
from rag.engines import engine_of
from rag.store.keys import Principal

router = APIRouter(tags=["health"])


def _collections(runtime: Runtime, principal: Principal | None) -> tuple[bool, list[dict[str, Any]]]:
    """Whether everything is in sync, and the index state of the collections `principal` may
    read (none when it is None: the health verdict still covers every collection)."""
    # With RAG_LLM__PRELOAD=false the LLM loads at the first question; not loaded yet is fine.
    healthy = runtime.generator.ready or not runtime.settings.llm.preload
    embedding_engine = engine_of(runtime.embedder)
    healthy &= embedding_engine is None or embedding_engine.status().reachable
    # Other replicas' writes arrive by NOTIFY; follow them now so a replica a few milliseconds
    # behind is not reported degraded (cheap when nothing moved: one query of generations).
    runtime.follower.follow_once()
    states = {s.collection_id: s for s in runtime.indexes.states()}
    out: list[dict[str, Any]] = []
    for info in runtime.store.list_collections():
        state = states.get(info.id)
        in_sync = state is not None and state.generation == info.generation and state.vectors == info.chunk_count
        # A snapshot behind because this process is writing it (an upload job's bulk load) is
        # busy, not broken: a load balancer must not take a replica out for doing its work.
        writing = not in_sync and runtime.indexes.writing(info.id)
        healthy &= in_sync or writing or state is None
        if principal is None or not principal.can("read", info.name):
            continue
        out.append({
            "name": info.name, "documents": info.document_count, "chunks": info.chunk_count,
            "generation": info.generation,
            "index": {"vectors": state.vectors if state else None,
                      "generation": state.generation if state else None,
                      "origin": state.origin if state else "not loaded", "in_sync": in_sync,
                      "writing": writing,
                      "kind": state.kind if state else None,
                      "tombstones": state.tombstones if state else None,
                      "damaged": state.damaged if state else None},
        })
    return healthy, out


def _engine(component: object) -> dict[str, Any] | None:
    engine = engine_of(component)
    if engine is None:
        return None
    status = engine.status()
    return {"url": status.url, "reachable": status.reachable, "models": status.models, "error": status.error}


@router.get("/health", response_model=LivenessOut, responses={503: {"model": LivenessOut}})
def health(runtime: RuntimeDep) -> JSONResponse:
    """Liveness for load balancers, no key needed: 200 when every index matches the store and
    the models are loaded, 503 otherwise. Names no collection and no path."""
    healthy, _ = _collections(runtime, None)
    body = LivenessOut(status="ok" if healthy else "degraded", version=__version__)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)


@router.get("/health/details", response_model=HealthOut, responses={**KEYED, 503: {"model": HealthOut}})
def health_details(runtime: RuntimeDep, principal: PrincipalDep) -> JSONResponse:
    """Models and the index state of each collection this key may read; the data directory
    for admin keys only. Same status as GET /health."""
    healthy, collections = _collections(runtime, principal)
    reranker = runtime.reranker
    body = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "models": {
            "embedding": {"path": runtime.embedder.model_path, "backend": runtime.embedder.backend,
                          "dimension": runtime.embedder.dimension,
                          "max_tokens": runtime.embedder.max_tokens,
                          "engine": _engine(runtime.embedder)},
            "llm": {"path": runtime.generator.model_dir, "backend": runtime.generator.backend,
                    "adapter": str(runtime.generator.adapter) if runtime.generator.adapter else None,
                    "loaded": runtime.generator.ready,
                    "preload": runtime.settings.llm.preload,
                    "context_window": runtime.generator.context_window,
                    "model": getattr(runtime.generator, "model", None),
                    "engine": _engine(runtime.generator)},
            "reranker": ({"path": str(reranker.adapter_dir), "backend": reranker.backend,
                          "candidates": runtime.settings.rerank.candidates,
                          "min_score": runtime.settings.rerank.min_score}
                         if reranker is not None else None),
        },
        "data_dir": str(runtime.settings.data_dir.resolve()) if principal.admin else None,
        "store": runtime.store.describe() if principal.admin else None,
        "collections": collections,
        "jobs": ({"runner": "in-process" if runtime.dispatcher is runtime.runner else "queue",
                  "scheduler": runtime.scheduler.role} if principal.admin else None),
    }
    return JSONResponse(HealthOut.model_validate(body).model_dump(mode="json"), status_code=200 if healthy else 503)
