"""OpenAI-compatible endpoints: chat completions over a collection, models, embeddings.

`model` names a collection ("groundwork/handbook" or just "handbook"). Citations stay in the
message text as [n]; the structured citations and sources travel in an extra `groundwork`
field that OpenAI clients ignore.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.api.deps import PrincipalDep, RuntimeDep, collection_name
from rag.api.errors import BODY, KEYED, error_body, errors, stream_error
from rag.api.schemas import AnswerOut
from rag.api.schemas_openai import ChatIn, EmbeddingsIn, Message
from rag.api.streaming import AnswerStream
from rag.errors import InvalidInput, NotFound
from rag.types import Answer

router = APIRouter(prefix="/v1", tags=["openai-compatible"], responses=KEYED)
PREFIX = "groundwork/"
_FOLLOW_UP = re.compile(r"\b(it|its|he|she|his|her|they|them|their|this|that|these|those|there|one)\b", re.I)


def _collection(model: str) -> str:
    return collection_name(model.removeprefix(PREFIX))


def standalone_question(messages: list[Message]) -> str:
    """The last user message; a follow-up that leans on earlier turns ("when did it open?")
    gets the previous user question prepended, so retrieval sees what "it" is."""
    users = [m.text().strip() for m in messages if m.role == "user" and m.text().strip()]
    if not users:
        raise InvalidInput("messages must contain a user message")
    question = users[-1]
    if len(users) > 1 and (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return f"{users[-2]} {question}"
    return question


@router.get("/models")
def models(runtime: RuntimeDep, principal: PrincipalDep) -> dict:
    """Each collection this key may read is a model named groundwork/<collection>."""
    return {"object": "list", "data": [
        {"id": PREFIX + c.name, "object": "model", "created": int(c.created_at.timestamp()), "owned_by": "groundwork"}
        for c in runtime.store.list_collections() if principal.can("read", c.name)]}


@router.post("/embeddings", responses={**BODY, **errors(400, 503)})
def embeddings(body: EmbeddingsIn, runtime: RuntimeDep, _: PrincipalDep) -> dict:
    """The embedding model (normalised vectors)."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > 2048:
        raise InvalidInput("input must hold 1 to 2048 texts")
    vectors = runtime.embedder.embed_documents(texts)
    tokens = sum(runtime.embedder.count_tokens(t) for t in texts)
    return {"object": "list", "model": body.model,
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


@router.post("/chat/completions", responses={**BODY, **errors(400, 404, 429, 503)})
async def chat(body: ChatIn, runtime: RuntimeDep, principal: PrincipalDep, request: Request):
    """Answer the last user message from the collection named by `model`."""
    collection = _collection(body.model)
    if not principal.can("read", collection):
        raise NotFound(f"collection {collection!r} does not exist", "collection")
    question = standalone_question(body.messages)
    # OpenAI clients send generous caps (4096...); here they are an upper bound, not an error.
    requested = body.max_completion_tokens or body.max_tokens
    max_tokens = min(requested, runtime.service.options.max_new_tokens) if requested else None
    completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    if not body.stream:
        answer = await run_in_threadpool(lambda: runtime.service.ask(collection, question, max_tokens=max_tokens))
        return {"id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer.text}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "groundwork": _extra(answer)}
    stream = await AnswerStream.start(runtime.service, collection, question, max_tokens=max_tokens)
    return StreamingResponse(_stream(stream, request, completion_id, created, body.model),
                             media_type="text/event-stream")


def _extra(answer: Answer) -> dict:
    out = AnswerOut.model_validate(answer).model_dump(mode="json")
    # "answer": the final text, which the value check may have replaced after the streamed
    # pieces (with the extract of the answer-bearing sentences).
    return {"answer": out["answer"], "grounded": out["grounded"], "citations": out["citations"],
            "sources": out["sources"], "timings_ms": out["timings_ms"], "generation": out["generation"]}


async def _stream(stream: AnswerStream, request: Request, completion_id: str,
                  created: int, model: str) -> AsyncIterator[bytes]:
    def chunk(delta: dict, finish: str | None = None, extra: dict | None = None) -> bytes:
        payload: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if extra is not None:
            payload["groundwork"] = extra
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for item in stream.items(request):
            if isinstance(item, Answer):
                # The final text may differ from the streamed pieces by the citation markers
                # added after generation; they arrive here, with the structured citations.
                yield chunk({}, "stop", _extra(item))
                yield b"data: [DONE]\n\n"
            else:
                yield chunk({"content": item})
    except Exception as exc:  # after the status line: an error chunk in the one shape (OpenAI SDKs raise on it)
        code, message = stream_error(exc)
        yield f"data: {json.dumps(error_body(code, message))}\n\n".encode()
