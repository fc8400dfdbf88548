"""Shared plumbing for streamed answers: start generation, relay its events, stop on disconnect."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from rag.service import RagService
from rag.types import Answer


class AnswerStream:
    """The events of RagService.ask_stream, relayed to an async response body."""

    def __init__(self, events: Iterator[str | Answer], first: str | Answer, stop: threading.Event):
        self._events = events
        self._first = first
        self._stop = stop

    @classmethod
    async def start(cls, service: RagService, *args, **kwargs) -> "AnswerStream":
        """Begin answering. Errors that belong to the request itself (unknown collection, bad
        question) are raised here, before streaming, so they are still plain HTTP statuses."""
        stop = threading.Event()
        events = service.ask_stream(*args, stop=stop, **kwargs)
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
