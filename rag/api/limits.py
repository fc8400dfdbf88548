"""ASGI middleware that refuses oversized or trickling request bodies before they are buffered."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.api.errors import error_body

# Over-cap bodies up to this size are read and dropped before the 413, so the client can
# read the answer; bigger ones are refused at once and the connection closed.
_DRAIN_BYTES = 8 * 1024 * 1024


class BodyLimits:
    """413 for a body over its cap (declared or streamed), 408 for one that arrives too slowly.

    Uploads (multipart) may be up to `max_bytes`; every other body (JSON questions, search,
    chat) up to `max_json_bytes`, so a 1 MB "question" is refused before it is read. The
    whole body must arrive within `timeout_s`: a client trickling a byte a second cannot hold
    a worker for ever.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int = 256 * 1024,
                 timeout_s: float = 120.0):
        """Wrap `app`; caps are in bytes: `max_bytes` for multipart uploads, `max_json_bytes` for other bodies."""
        self.app = app
        self.upload_bytes = max_bytes
        self.json_bytes = max_json_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: POST, PUT and PATCH bodies are checked as they arrive; anything else passes through."""
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_bytes if upload else self.json_bytes
        too_large = (413, f"request body is over the cap of {limit} bytes; " + (
            "split the upload or raise RAG_LIMITS__MAX_UPLOAD_MB" if upload
            else "questions and requests are small; raise RAG_LIMITS__MAX_JSON_KB if you must"))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if int(declared) <= _DRAIN_BYTES:
                await self._drain(receive)
            await self._reject(send, *too_large)
            return
        seen = 0
        refused: tuple[int, str] | None = None
        started = False
        deadline = time.monotonic() + self.timeout_s
        body_done = False

        async def guarded_receive() -> Message:
            nonlocal seen, refused, body_done
            if refused:
                return {"type": "http.disconnect"}
            if body_done:  # after the body, only a disconnect can come: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                refused = (408, f"the request body did not arrive within {self.timeout_s:g} s; "
                                "send it at once (RAG_LIMITS__BODY_TIMEOUT_S)")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > limit:
                    # Stop feeding the app; whatever it answers is replaced by a 413 below.
                    refused = too_large
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                if not started:
                    started = True
                    await self._reject(send, *refused)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await self._reject(send, *refused)

    async def _drain(self, receive: Receive) -> None:
        # A client still sending when the 413 goes out and the connection closes gets a
        # broken pipe instead of the message; a body of a few MB is cheaper to read and drop.
        deadline = time.monotonic() + min(self.timeout_s, 10.0)
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    @staticmethod
    async def _reject(send: Send, status: int, message: str) -> None:
        code = "too_large" if status == 413 else "request_timeout"
        body = json.dumps(error_body(code, message)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
