"""Liveness and state of models and indexes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag.api.deps import RuntimeDep
from rag.api.schemas_health import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(runtime: RuntimeDep) -> JSONResponse:
    """200 when every collection's FAISS index matches SQLite and the models are loaded; 503 otherwise."""
    collections: list[dict[str, Any]] = []
    # With RAG_LLM__PRELOAD=false the LLM loads at the first question; not loaded yet is fine.
    healthy = runtime.generator.ready or not runtime.settings.llm.preload
    for info in runtime.store.list_collections():
        state = next((s for s in runtime.indexes.states() if s.collection_id == info.id), None)
        in_sync = state is not None and state.generation == info.generation and state.vectors == info.chunk_count
        healthy &= in_sync or state is None
        collections.append({
            "name": info.name, "documents": info.document_count, "chunks": info.chunk_count,
            "generation": info.generation,
            "index": {"vectors": state.vectors if state else None,
                      "generation": state.generation if state else None,
                      "origin": state.origin if state else "not loaded", "in_sync": in_sync,
                      "kind": state.kind if state else None,
                      "tombstones": state.tombstones if state else None},
        })
    body = {
        "status": "ok" if healthy else "degraded",
        "models": {
            "embedding": {"path": runtime.embedder.model_path, "backend": runtime.embedder.backend,
                          "dimension": runtime.embedder.dimension,
                          "max_tokens": runtime.embedder.max_tokens},
            "llm": {"path": runtime.generator.model_dir, "backend": runtime.generator.backend,
                    "adapter": str(runtime.generator.adapter) if runtime.generator.adapter else None,
                    "loaded": runtime.generator.ready,
                    "preload": runtime.settings.llm.preload},
            "reranker": ({"path": str(runtime.reranker.adapter_dir), "backend": runtime.reranker.backend,
                          "candidates": runtime.settings.rerank.candidates,
                          "min_score": runtime.settings.rerank.min_score}
                         if runtime.reranker is not None else None),
        },
        "data_dir": str(runtime.settings.data_dir.resolve()),
        "collections": collections,
    }
    return JSONResponse(HealthOut.model_validate(body).model_dump(mode="json"), status_code=200 if healthy else 503)
