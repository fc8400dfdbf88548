"""Domain errors. They become HTTP statuses in rag.api and CLI errors in rag.cli, nowhere else."""

from __future__ import annotations


class RagError(Exception):
    """Base of every error Groundwork raises on purpose."""


class NotFound(RagError):
    """A collection, document or job does not exist."""


class InvalidInput(RagError):
    """A request is malformed or breaks a limit (question too long, bad filter...)."""


class OutOfRange(InvalidInput):
    """A well-formed value past a configured limit (top_k, max_tokens, question length)."""


class UnsupportedType(RagError):
    """A file's content is not a type Groundwork can parse."""

    def __init__(self, message: str, supported: list[str]):
        super().__init__(message)
        self.supported = supported


class TooLarge(RagError):
    """An upload is over the size cap."""


class ParseFailed(RagError):
    """A supported file could not be parsed (corrupt, encrypted, empty of text)."""


class ModelUnavailable(RagError):
    """A configured model cannot be found locally (and nothing is downloaded)."""


class StoreTooNew(RagError):
    """The database was written by a newer release (a schema version this one does not know)."""


class IndexCorrupt(RagError):
    """A derived index file cannot be trusted; the caller rebuilds it from SQLite."""


class Overloaded(RagError):
    """Too many questions are waiting for the LLM; the client should retry later."""

    def __init__(self, message: str, retry_after_s: int = 5):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unauthorized(RagError):
    """No key, or a key that is unknown or revoked."""


class Forbidden(RagError):
    """A valid key without the scope the action needs."""
