"""Domain errors. They become HTTP statuses in rag.api and CLI errors in rag.cli, nowhere else."""

from __future__ import annotations


class RagError(Exception):
    """Base of every error Groundwork raises on purpose.

    `code` is the stable, machine-readable name clients switch on (the HTTP error body's
    `error.code`); `detail` is optional structured data for the same body.
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, detail: object = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.detail = detail


class NotFound(RagError):
    """A collection, document, job, source or key does not exist (code `<what>_not_found`)."""

    code = "not_found"

    def __init__(self, message: str, what: str | None = None):
        super().__init__(message, code=f"{what}_not_found" if what else None)


class InvalidInput(RagError):
    """A request is malformed or breaks a limit (question too long, bad filter...)."""

    code = "invalid_request"


class OutOfRange(InvalidInput):
    """A well-formed value past a configured limit (top_k, max_tokens, question length)."""

    code = "out_of_range"


class InvalidMetadata(InvalidInput):
    """Document metadata that breaks its rules (keys, value types, size)."""

    code = "invalid_metadata"


class Conflict(RagError):
    """The request clashes with the current state (a collection that exists, one that is busy)."""

    code = "conflict"


class StorageFull(RagError):
    """A write found no space (or an I/O error) where it stores: nothing of it was kept."""

    code = "storage_full"


class UnsupportedType(RagError):
    """A file's content is not a type Groundwork can parse."""

    code = "unsupported_type"

    def __init__(self, message: str, supported: list[str]):
        super().__init__(message, detail={"supported_types": supported})
        self.supported = supported


class TooLarge(RagError):
    """An upload is over the size cap."""

    code = "too_large"


class ParseFailed(RagError):
    """A supported file could not be parsed (corrupt, encrypted, empty of text)."""

    code = "parse_failed"


class ModelUnavailable(RagError):
    """A configured model cannot be found locally (and nothing is downloaded)."""

    code = "model_unavailable"


class StoreTooNew(RagError):
    """The database was written by a newer release (a schema version this one does not know)."""

    code = "store_too_new"


class IndexCorrupt(RagError):
    """A derived index file cannot be trusted; the caller rebuilds it from SQLite."""

    code = "index_unavailable"


class Overloaded(RagError):
    """Too many questions are waiting for the LLM; the client should retry later."""

    code = "overloaded"

    def __init__(self, message: str, retry_after_s: int = 5, code: str | None = None):
        super().__init__(message, code=code, detail={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class Unauthorized(RagError):
    """No key, or a key that is unknown or revoked."""

    code = "unauthorized"


class Forbidden(RagError):
    """A valid key without the scope the action needs."""

    code = "forbidden"


class StoreUnavailable(RagError):
    """The database cannot be reached (PostgreSQL down or unreachable): 503, try again later."""

    code = "store_unavailable"


class NotCaughtUp(RagError):
    """The replica's index has not reached the generation a client asked for (min_generation) in time: 503."""

    code = "not_caught_up"


class EngineUnavailable(RagError):
    """An OpenAI-compatible engine (RAG_LLM__BASE_URL, RAG_EMBEDDING__BASE_URL) cannot be
    reached or answered something that is not an answer: 503; the message names the URL."""

    code = "engine_unavailable"
