"""Questions and searches over a collection."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.api.deps import CollectionName, ServiceDep
from rag.api.schemas import AnswerOut, ErrorOut, FiltersIn, QueryIn, SearchHitOut, SearchIn, SearchOut
from rag.types import Answer, Filters

router = APIRouter(tags=["query"])


def _filters(f: FiltersIn) -> Filters:
    return Filters(
        document_ids=tuple(f.document_ids) if f.document_ids is not None else None,
        exclude_document_ids=tuple(f.exclude_document_ids) if f.exclude_document_ids else None,
        metadata=f.metadata or None,
        source=f.source, ingested_after=f.ingested_after, ingested_before=f.ingested_before,
    )


@router.post("/collections/{name}/query", response_model=AnswerOut,
             responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut},
                         200: {"content": {"text/event-stream": {}}}})
async def query(name: CollectionName, body: QueryIn, service: ServiceDep, request: Request):
    """Answer a question from the collection's documents, citing the passages used as [n].

    With `"stream": true` the response is Server-Sent Events: `token` events with text as it
    is generated, one `answer` event (the same body as the non-streaming response), `done`.
    """
    args = (name, body.question, body.top_k, _filters(body.filters), body.max_tokens, body.mode)
    if not body.stream:
        return AnswerOut.of(await run_in_threadpool(service.ask, *args))
    stop = threading.Event()
    events = service.ask_stream(*args, stop=stop)
    # Errors that belong to the request itself (unknown collection, bad question) must still be
    # a proper HTTP status, so the generator is advanced to its first event before streaming.
    first = await run_in_threadpool(next, events)
    return StreamingResponse(_sse(first, events, stop, request), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _sse(first, events, stop: threading.Event, request: Request) -> AsyncIterator[bytes]:
    def encode(event: str, data: dict) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()

    item = first
    try:
        while True:
            if isinstance(item, Answer):
                yield encode("answer", AnswerOut.of(item).model_dump(mode="json"))
                yield encode("done", {})
                return
            yield encode("token", {"text": item})
            if await request.is_disconnected():
                return
            item = await run_in_threadpool(next, events, None)
            if item is None:
                return
    finally:
        stop.set()  # the client went away (or we are done): stop generating
        await run_in_threadpool(events.close)


@router.post("/collections/{name}/search", response_model=SearchOut,
             responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}})
def search(name: CollectionName, body: SearchIn, service: ServiceDep) -> SearchOut:
    """The ranked chunks for a query, without calling the LLM."""
    hits = service.search(name, body.query, body.top_k, _filters(body.filters), body.mode)
    return SearchOut(results=[SearchHitOut.of(h) for h in hits])
