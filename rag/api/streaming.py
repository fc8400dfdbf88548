"""Shared plumbing for streamed answers: start generation, relay its events, stop on disconnect."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Generator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from rag.answer.service import RagService
from rag.types import Answer


class AnswerStream:
    """The events of RagService.ask_stream, relayed to an async response body."""

    def __init__(self, events: Generator[str | Answer, None, None], first: str | Answer, stop: threading.Event):
        """Made by start(), which has already taken the first event from `events`."""
        self._events = events
        self._first = first
        self._stop = stop

    @classmethod
    async def start(cls, service: RagService, collection: str, question: str, **options) -> "AnswerStream":
        """Begin answering. Errors that belong to the request itself (unknown collection, bad
        question) are raised here, before streaming, so they are still plain HTTP statuses."""
        stop = threading.Event()
        events = service.ask_stream(collection, question, stop=stop, **options)
        first = await run_in_threadpool(next, events)
        return cls(events, first, stop)

    async def items(self, request: Request) -> AsyncIterator[str | Answer]:
        """Text pieces, then the final Answer; ends early (and stops generating) if the client goes."""
        item: str | Answer | None = self._first
        try:
            while item is not None:
                yield item
                if isinstance(item, Answer) or await request.is_disconnected():
                    return
                item = await run_in_threadpool(next, self._events, None)
        finally:
            self._stop.set()
            await run_in_threadpool(self._events.close)
