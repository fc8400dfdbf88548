"""Sources: folders or files kept in sync with a collection, optionally on a schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ingest.scheduler import parse_cron
from rag.api.deps import RuntimeDep, collection_name, paging, require_admin
from rag.api.errors import BODY, KEYED, errors
from rag.api.schemas import JobRef, SourceIn, SourceOut, SourcePatch, SourcesOut
from rag.errors import InvalidInput
from rag.metadata import check_metadata
from rag.store.paging import PageRequest

router = APIRouter(tags=["sources"], dependencies=[Depends(require_admin)], responses={**KEYED, **errors(403)})


@router.post("/sources", response_model=SourceOut, status_code=201, responses={**BODY, **errors(400)})
def add_source(body: SourceIn, runtime: RuntimeDep) -> SourceOut:
    """Register a folder (recursive) or a file; its first sync is queued at once."""
    collection_name(body.collection)
    path = Path(body.path).expanduser().resolve()
    if body.kind == "folder" and not path.is_dir():
        raise InvalidInput(f"{path} is not a folder on the server")
    if body.kind == "file" and not path.is_file():
        raise InvalidInput(f"{path} is not a file on the server")
    if body.schedule:
        parse_cron(body.schedule)
    source = runtime.sources.add(kind=body.kind, path=str(path), collection=body.collection,
                                 include=body.include, exclude=body.exclude, schedule=body.schedule,
                                 delete_missing=body.delete_missing,
                                 metadata=check_metadata(body.metadata, "source metadata"))
    runtime.scheduler.refresh(source)
    runtime.scheduler.enqueue(source.id)
    return SourceOut.model_validate(source)


@router.get("/sources", response_model=SourcesOut, responses=errors(400, 422))
def list_sources(runtime: RuntimeDep,
                 page: Annotated[PageRequest, Depends(paging(("created_at", "path"), "created_at"))],
                 collection: Annotated[str | None, Query(max_length=64)] = None,
                 path_prefix: Annotated[str | None, Query(max_length=4096)] = None) -> SourcesOut:
    """A page of registered sources, oldest first by default; filter by collection or path prefix."""
    got = runtime.sources.page(page, collection, path_prefix)
    return SourcesOut(sources=[SourceOut.model_validate(s) for s in got.items], next_cursor=got.next_cursor)


@router.get("/sources/{source_id}", response_model=SourceOut, responses=errors(404))
def get_source(source_id: str, runtime: RuntimeDep) -> SourceOut:
    """One source. 404 if there is no source with this id."""
    return SourceOut.model_validate(runtime.sources.get(source_id))


@router.patch("/sources/{source_id}", response_model=SourceOut, responses={**BODY, **errors(400, 404)})
def patch_source(source_id: str, body: SourcePatch, runtime: RuntimeDep) -> SourceOut:
    """Change globs, schedule (null removes it) or delete_missing."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("schedule"):
        parse_cron(changes["schedule"])
    if "metadata" in changes:
        changes["metadata"] = check_metadata(changes["metadata"], "source metadata")
    source = runtime.sources.update(source_id, changes)
    runtime.scheduler.refresh(source)
    return SourceOut.model_validate(source)


@router.delete("/sources/{source_id}", status_code=204, responses=errors(404))
def delete_source(source_id: str, runtime: RuntimeDep) -> None:
    """Stop syncing a source. Its documents stay in the collection (delete them explicitly)."""
    runtime.sources.remove(source_id)
    runtime.scheduler.forget(source_id)


@router.post("/sources/{source_id}/sync", response_model=JobRef, status_code=202,
             responses=errors(404))
def sync_source(source_id: str, runtime: RuntimeDep) -> JobRef:
    """Queue a sync now (or return the one already queued or running)."""
    job = runtime.scheduler.enqueue(source_id)
    return JobRef(id=job.id, state=job.state)
