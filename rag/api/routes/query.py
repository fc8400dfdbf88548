"""Questions and searches over a collection."""

from __future__ import annotations

from fastapi import APIRouter

from rag.api.deps import CollectionName, ServiceDep
from rag.api.schemas import AnswerOut, ErrorOut, FiltersIn, QueryIn, SearchHitOut, SearchIn, SearchOut
from rag.types import Filters

router = APIRouter(tags=["query"])


def _filters(f: FiltersIn) -> Filters:
    return Filters(
        document_ids=tuple(f.document_ids) if f.document_ids is not None else None,
        exclude_document_ids=tuple(f.exclude_document_ids) if f.exclude_document_ids else None,
        metadata=f.metadata or None,
    )


@router.post("/collections/{name}/query", response_model=AnswerOut,
             responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}})
def query(name: CollectionName, body: QueryIn, service: ServiceDep) -> AnswerOut:
    """Answer a question from the collection's documents, citing the passages used as [n]."""
    answer = service.ask(name, body.question, body.top_k, _filters(body.filters), body.max_tokens, body.mode)
    return AnswerOut.of(answer)


@router.post("/collections/{name}/search", response_model=SearchOut,
             responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}})
def search(name: CollectionName, body: SearchIn, service: ServiceDep) -> SearchOut:
    """The ranked chunks for a query, without calling the LLM."""
    hits = service.search(name, body.query, body.top_k, _filters(body.filters), body.mode)
    return SearchOut(results=[SearchHitOut.of(h) for h in hits])
