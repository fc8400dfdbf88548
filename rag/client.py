"""A small typed client for Groundwork's HTTP API (httpx), used by the CLI with --url.

    from rag.client import Client
    with Client("http://127.0.0.1:8000", api_key="gw_...") as gw:
        gw.upload("handbook", [Path("handbook.pdf")])
        for event in gw.ask_stream("handbook", "How many vacation days do I get?"):
            ...

Every error answer of the server becomes an `ApiError` carrying the body's stable `code`
and its `message`; a server that cannot be reached becomes an `ApiError` with code
`unreachable`. Bodies are returned as the JSON the API documents (see /docs).
"""

from __future__ import annotations

import io
import itertools
import json
import mimetypes
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

Json = dict[str, Any]


class ApiError(Exception):
    """An error answer (or no answer) from the server: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Upload:
    """A local file to upload and the document name it gets."""

    path: Path
    name: str


@dataclass(frozen=True)
class AskEvent:
    """One event of a streamed answer: `token` (with `text`) or `answer` (with `answer`, the
    same body as the non-streaming response)."""

    kind: str
    text: str = ""
    answer: Json | None = None


class _CountingReader(io.BufferedReader):
    """A file whose reads are reported, so an upload can show a progress bar."""

    def __init__(self, path: Path, on_read: Callable[[int], None]):
        super().__init__(io.FileIO(path, "rb"))
        self._on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._on_read(len(data))
        return data


class Client:
    """Groundwork over HTTP. Use as a context manager, or call close()."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 300.0):
        """Talk to the server at `base_url`; `api_key` is sent as a bearer token when given."""
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=httpx.Timeout(timeout_s, connect=10.0))

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------

    def _unreachable(self, exc: httpx.TransportError) -> ApiError:
        return ApiError(0, "unreachable", f"cannot reach {self.base_url}: {exc}")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else {}

    # -- collections and documents --------------------------------------------------------

    def health(self) -> Json:
        """The detailed health view (models, indexes of the collections this key may read)."""
        try:
            response = self._http.get("/health/details")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code not in (200, 503):  # 503 is a degraded report, not an error
            raise _error(response)
        return response.json()

    def pages(self, path: str, field: str, **params: Any) -> Iterator[Json]:
        """Every row of a paged list, following `next_cursor` page after page (`params`: the
        list's filters, `sort`, `order`, `limit` as the page size)."""
        query = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in params.items() if v is not None}
        while True:
            page = self._json("GET", path, params=query)
            yield from page[field]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    def collections(self) -> list[Json]:
        """The collections this key may read, with counts and sizes."""
        return list(self.pages("/collections", "collections"))

    def collection(self, name: str) -> Json:
        """One collection's stats."""
        return self._json("GET", f"/collections/{name}")

    def create_collection(self, name: str, description: str = "") -> Json:
        """Create an empty collection (409 if the name is taken)."""
        return self._json("POST", "/collections", json={"name": name, "description": description})

    def delete_collection(self, name: str) -> None:
        """Delete a collection with everything in it."""
        self._request("DELETE", f"/collections/{name}")

    def documents(self, collection: str, **filters: Any) -> list[Json]:
        """The documents of a collection, every page (filters: name_prefix, metadata (a dict),
        source, sort, order, limit as the page size)."""
        return list(self.pages(f"/collections/{collection}/documents", "documents", **filters))

    def update_metadata(self, collection: str, document_id: str, metadata: Json, replace: bool = False) -> Json:
        """Change a document's metadata (merge patch: None removes a key); the document."""
        return self._json("PATCH", f"/collections/{collection}/documents/{document_id}",
                          json={"metadata": metadata, "replace": replace})

    def original(self, collection: str, document_id: str) -> bytes:
        """A document's original bytes."""
        return self._request("GET", f"/collections/{collection}/documents/{document_id}/file").content

    def chunks(self, collection: str, document_id: str) -> list[Json]:
        """A document's chunks in reading order, every page."""
        return list(self.pages(f"/collections/{collection}/documents/{document_id}/chunks", "chunks"))

    def delete_document(self, collection: str, document_id: str) -> None:
        """Delete a document."""
        self._request("DELETE", f"/collections/{collection}/documents/{document_id}")

    def upload(self, collection: str, files: Sequence[Upload],
               progress: Callable[[int], None] | None = None, metadata: Json | None = None,
               file_metadata: dict[str, Json] | None = None, wait: bool = True) -> Json:
        """Upload files in one request; `progress(n)` is called with each n bytes sent.
        `metadata` goes on every file, `file_metadata` (by file name) on one each.
        With `wait` the answer holds the job id and each file's outcome; without, the upload is
        queued and the answer (202) holds the job id: follow it with `job_events`."""
        form = {k: json.dumps(v) for k, v in (("metadata", metadata), ("file_metadata", file_metadata))
                if v is not None}
        report = progress or (lambda n: None)
        opened = [_CountingReader(f.path, report) for f in files]
        try:
            parts = [("files", (f.name, handle, mimetypes.guess_type(f.name)[0] or "application/octet-stream"))
                     for f, handle in zip(files, opened)]
            return self._json("POST", f"/collections/{collection}/documents" + ("?wait=true" if wait else ""),
                              files=parts, data=form)
        finally:
            for handle in opened:
                handle.close()

    # -- questions --------------------------------------------------------------------------

    def ask(self, collection: str, question: str, **options: Any) -> Json:
        """The answer, its citations and sources (the whole body at once)."""
        return self._json("POST", f"/collections/{collection}/query", json={"question": question, **options})

    def ask_stream(self, collection: str, question: str, **options: Any) -> Iterator[AskEvent]:
        """The answer as it is written: `token` events, then one `answer` event."""
        body = {"question": question, **options, "stream": True}
        try:
            with self._http.stream("POST", f"/collections/{collection}/query", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield from _sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def search(self, collection: str, query: str, top_k: int | None = None) -> list[Json]:
        """The ranked chunks for a query (no LLM)."""
        body: Json = {"query": query} | ({"top_k": top_k} if top_k else {})
        return self._json("POST", f"/collections/{collection}/search", json=body)["results"]

    # -- sources, jobs, keys ------------------------------------------------------------------

    def sources(self, **filters: Any) -> list[Json]:
        """Every registered source, every page (filters: collection, path_prefix)."""
        return list(self.pages("/sources", "sources", **filters))

    def add_source(self, path: str, collection: str, **options: Any) -> Json:
        """Register a folder or file on the server; its first sync is queued."""
        return self._json("POST", "/sources", json={"path": path, "collection": collection, **options})

    def sync_source(self, source_id: str) -> Json:
        """Queue a sync now (or get the one queued or running): {"id", "state"}."""
        return self._json("POST", f"/sources/{source_id}/sync")

    def remove_source(self, source_id: str) -> None:
        """Stop syncing a source."""
        self._request("DELETE", f"/sources/{source_id}")

    def jobs(self, limit: int = 20, state: str | None = None, **filters: Any) -> list[Json]:
        """The newest `limit` jobs (filters: state, source_id, collection)."""
        return list(itertools.islice(self.pages("/jobs", "jobs", state=state, limit=min(limit, 1000), **filters),
                                     limit))

    def job(self, job_id: str) -> Json:
        """One job."""
        return self._json("GET", f"/jobs/{job_id}")

    def job_events(self, job_id: str) -> Iterator[Json]:
        """The job at every change (Server-Sent Events), until it has ended."""
        try:
            with self._http.stream("GET", f"/jobs/{job_id}/events", timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line.strip() and data:
                        yield json.loads("\n".join(data))
                        data = []
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def cancel_job(self, job_id: str) -> Json:
        """Cancel a job (queued: at once; running: after its current batch); the job."""
        return self._json("POST", f"/jobs/{job_id}/cancel")

    def keys(self, **filters: Any) -> list[Json]:
        """Every key without secrets, every page (filters: status, name_prefix)."""
        return list(self.pages("/keys", "keys", **filters))

    def create_key(self, name: str, scopes: list[str], rate_per_minute: int | None = None) -> Json:
        """Create a key: {"id", "key"}; the key is shown only in this answer."""
        body: Json = {"name": name, "scopes": scopes}
        if rate_per_minute is not None:
            body["rate_per_minute"] = rate_per_minute
        return self._json("POST", "/keys", json=body)

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key."""
        self._request("DELETE", f"/keys/{key_id}")


def _error(response: httpx.Response) -> ApiError:
    """The ApiError for an error answer, from its one error shape (or its status, if the body
    is not one: a proxy's page, say)."""
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]), error.get("detail"))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        return ApiError(response.status_code, f"http_{response.status_code}", text)


def _sse(lines: Iterator[str]) -> Iterator[AskEvent]:
    """Server-Sent Events (`event:` + `data:` lines, a blank line ends one) as AskEvents."""
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line.strip() and data:
            payload = json.loads("\n".join(data))
            if event == "token":
                yield AskEvent("token", text=payload.get("text", ""))
            elif event == "answer":
                yield AskEvent("answer", answer=payload)
            elif event == "error":
                error = payload.get("error", payload)
                raise ApiError(500, str(error.get("code", "stream_error")), str(error.get("message", payload)))
            event, data = "message", []
