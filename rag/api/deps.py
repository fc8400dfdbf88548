"""Dependency aliases for routes: the runtime's parts, taken from app.state."""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request

from ingest.pipeline import Ingestor
from rag.answer.service import RagService
from rag.bootstrap import Runtime
from rag.config import Settings
from rag.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from rag.metadata import Metadata, check_metadata, parse_metadata
from rag.store.base import Store
from rag.store.catalog import Catalog
from rag.store.keys import ADMIN, Principal
from rag.store.paging import PageRequest


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


def get_catalog(runtime: RuntimeDep) -> Catalog:
    """Collections, document pages, metadata edits and chunk pages."""
    return runtime.ingestor.catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def paging(sorts: tuple[str, ...], default: str, order: Literal["asc", "desc"] = "asc"):
    """A dependency reading `limit`, `cursor`, `sort` and `order` into a PageRequest."""
    def read(limit: int, cursor: str | None, sort: str, order: str) -> PageRequest:
        if sort not in sorts:
            raise InvalidInput(f"sort must be one of {', '.join(sorts)}, not {sort!r}")
        return PageRequest(limit, sort, order == "desc", cursor)
    # Real objects, not the strings this module's annotations are: FastAPI cannot resolve
    # names local to this function (the sorts of each list) from strings.
    read.__annotations__ = {
        "limit": Annotated[int, Query(ge=1, le=1000, description="rows per page")],
        "cursor": Annotated[str | None, Query(description="`next_cursor` of the previous page")],
        "sort": Annotated[str, Query(description=f"one of {', '.join(sorts)}", json_schema_extra={"enum": list(sorts)})],
        "order": Annotated[Literal["asc", "desc"], Query(description="asc or desc")],
        "return": PageRequest,
    }
    read.__defaults__ = (100, None, default, order)
    return read


def metadata_query(metadata: Annotated[str | None, Query(
        description='only documents whose metadata has these values: a JSON object, e.g. {"team":"ops"}')] = None,
) -> Metadata | None:
    """The `metadata` query parameter, checked (422 invalid_metadata otherwise)."""
    value = parse_metadata(metadata)
    return None if value is None else check_metadata(value)
