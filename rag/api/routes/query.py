"""Questions and searches over a collection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.api.deps import CollectionName, ServiceDep
from rag.api.errors import BODY, KEYED, error_body, errors, stream_error
from rag.api.schemas import AnswerOut, FiltersIn, QueryIn, SearchHitOut, SearchIn, SearchOut
from rag.api.streaming import AnswerStream
from rag.metadata import check_metadata
from rag.types import Answer, Filters

router = APIRouter(tags=["query"], responses=KEYED)


def _filters(f: FiltersIn) -> Filters:
    return Filters(
        document_ids=tuple(f.document_ids) if f.document_ids is not None else None,
        exclude_document_ids=tuple(f.exclude_document_ids) if f.exclude_document_ids else None,
        # The same rules as stored metadata: a key SQLite's JSON path cannot hold is a 422.
        metadata=check_metadata(f.metadata, "filters.metadata") if f.metadata else None,
        source=f.source, ingested_after=f.ingested_after, ingested_before=f.ingested_before,
    )


@router.post("/collections/{name}/query", response_model=AnswerOut,
             responses={**BODY, **errors(400, 404, 429, 503), 200: {"content": {"text/event-stream": {}}}})
async def query(name: CollectionName, body: QueryIn, service: ServiceDep, request: Request):
    """Answer a question from the collection's documents, citing the passages used as [n].

    With `"stream": true` the response is Server-Sent Events: `token` events with text as it
    is generated, one `answer` event (the same body as the non-streaming response), `done`;
    a failure after the stream began is an `error` event with the error body.
    """
    filters = _filters(body.filters)
    if not body.stream:
        return AnswerOut.model_validate(await run_in_threadpool(service.ask, name, body.question, top_k=body.top_k,
                                                    filters=filters, max_tokens=body.max_tokens, mode=body.mode,
                                                    min_generation=body.min_generation))
    stream = await AnswerStream.start(service, name, body.question, top_k=body.top_k, filters=filters,
                                      max_tokens=body.max_tokens, mode=body.mode,
                                      min_generation=body.min_generation)
    return StreamingResponse(_sse(stream, request), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _sse(stream: AnswerStream, request: Request) -> AsyncIterator[bytes]:
    def encode(event: str, data: dict) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()

    try:
        async for item in stream.items(request):
            if isinstance(item, Answer):
                yield encode("answer", AnswerOut.model_validate(item).model_dump(mode="json"))
                yield encode("done", {})
            else:
                yield encode("token", {"text": item})
    except Exception as exc:  # the status line is sent: the error travels as an event, in the one shape
        code, message = stream_error(exc)
        yield encode("error", error_body(code, message))


@router.post("/collections/{name}/search", response_model=SearchOut,
             responses={**BODY, **errors(400, 404, 503)})
def search(name: CollectionName, body: SearchIn, service: ServiceDep) -> SearchOut:
    """The ranked chunks for a query, without calling the LLM."""
    generation, hits = service.search_at(name, body.query, body.top_k, _filters(body.filters), body.mode,
                                         body.min_generation)
    return SearchOut(results=[SearchHitOut.model_validate(h) for h in hits], generation=generation)
