"""Dependency aliases for routes: the runtime's parts, taken from app.state."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Path, Request

from ingest.pipeline import Ingestor
from rag.answer.service import RagService
from rag.bootstrap import Runtime
from rag.config import Settings
from rag.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from rag.store.base import Store
from rag.store.keys import ADMIN, Principal


def get_runtime(request: Request) -> Runtime:
    """The Runtime the app was created with (app.state.runtime)."""
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    """The app's settings (limits may differ from the shared runtime's in tests)."""
    return request.app.state.settings


COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_COLLECTION = re.compile(COLLECTION_PATTERN)
_COLLECTION_DOC = "collection name: 1-64 letters, digits, '_', '-', '.', starting with a letter or digit"


# The pattern is documented (clients and the schema fuzzer see it) but checked below, so a
# bad name is a 400 with a sentence rather than a validation error.
def collection_name(name: Annotated[str, Path(description=_COLLECTION_DOC,
                                              json_schema_extra={"pattern": COLLECTION_PATTERN})]) -> str:
    """The collection name from the path, if well formed; InvalidInput (400) if it is not."""
    if not _COLLECTION.match(name):
        raise InvalidInput(
            "collection names are 1-64 characters: letters, digits, '_', '-', '.', starting with a letter or digit"
        )
    return name


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(request: Request) -> Principal:
    """The caller: everyone is admin while auth is off (no RAG_ADMIN_KEY)."""
    settings: Settings = request.app.state.settings
    if not settings.admin_key:
        return ADMIN
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send `Authorization: Bearer KEY`")
    key = key.strip()
    if hmac.compare_digest(key.encode(), settings.admin_key.get_secret_value().encode()):
        return ADMIN
    principal = request.app.state.runtime.keys.verify(key)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    request.app.state.rate_limiter.check(principal)  # 429 past the key's rate
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    """The caller, if it holds the admin scope (everyone does while auth is off); Forbidden (403) if not."""
    if not principal.admin:
        raise Forbidden("this needs an admin key")
    return principal


def _scoped(action: str):
    def check(name: Annotated[str, Depends(collection_name)], principal: PrincipalDep) -> str:
        # A key without access learns nothing, not even that the collection exists: 404.
        if not principal.can(action, name):
            raise NotFound(f"collection {name!r} does not exist", "collection")
        return name
    return check


CollectionName = Annotated[str, Depends(_scoped("read"))]
WritableCollection = Annotated[str, Depends(_scoped("write"))]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_store(runtime: RuntimeDep) -> Store:
    """The runtime's store (SQLite or PostgreSQL)."""
    return runtime.store


def get_service(runtime: RuntimeDep) -> RagService:
    """The runtime's question-answering service."""
    return runtime.service


def get_ingestor(runtime: RuntimeDep) -> Ingestor:
    """The runtime's ingestor (uploads and deletions)."""
    return runtime.ingestor


StoreDep = Annotated[Store, Depends(get_store)]
ServiceDep = Annotated[RagService, Depends(get_service)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
