"""Dependency aliases for routes: the runtime's parts, taken from app.state."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request

from ingest.pipeline import Ingestor
from rag.bootstrap import Runtime
from rag.config import Settings
from rag.errors import InvalidInput
from rag.service import RagService
from rag.store.sqlite import SQLiteStore

_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    """The app's settings (limits may differ from the shared runtime's in tests)."""
    return request.app.state.settings


def collection_name(name: Annotated[str, Path(description="collection name")]) -> str:
    if not _COLLECTION.match(name):
        raise InvalidInput(
            "collection names are 1-64 characters: letters, digits, '_', '-', '.', starting with a letter or digit"
        )
    return name


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CollectionName = Annotated[str, Depends(collection_name)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_store(runtime: RuntimeDep) -> SQLiteStore:
    return runtime.store


def get_service(runtime: RuntimeDep) -> RagService:
    return runtime.service


def get_ingestor(runtime: RuntimeDep) -> Ingestor:
    return runtime.ingestor


StoreDep = Annotated[SQLiteStore, Depends(get_store)]
ServiceDep = Annotated[RagService, Depends(get_service)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
