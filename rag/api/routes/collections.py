"""Collections and their documents: list, upload, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile

from ingest.filetypes import detect_kind, display_name
from ingest.pipeline import IncomingFile
from ingest.uploads import Uploads
from rag.api.deps import (
    CollectionName,
    IngestorDep,
    PrincipalDep,
    RuntimeDep,
    SettingsDep,
    StoreDep,
    WritableCollection,
)
from rag.api.errors import BODY, KEYED, errors

# The generation a write produced, on responses without a body (204).
GENERATION_HEADER = "Groundwork-Generation"
from rag.api.schemas import (
    CollectionOut,
    CollectionsOut,
    DocumentOut,
    DocumentsOut,
    FileResultOut,
    UploadOut,
)
from rag.errors import InvalidInput, ParseFailed, TooLarge

router = APIRouter(tags=["collections"], responses=KEYED)


@router.get("/collections", response_model=CollectionsOut)
def list_collections(store: StoreDep, principal: PrincipalDep) -> CollectionsOut:
    """The collections this key may read, with their document and chunk counts."""
    return CollectionsOut(collections=[
        CollectionOut.model_validate(c) for c in store.list_collections() if principal.can("read", c.name)
    ])


@router.get("/collections/{name}/documents", response_model=DocumentsOut,
            responses=errors(400, 404))
def list_documents(name: CollectionName, store: StoreDep) -> DocumentsOut:
    """The documents of a collection, with version and ingestion time."""
    return DocumentsOut(documents=[DocumentOut.model_validate(d) for d in store.list_documents(name)])


@router.get("/collections/{name}/documents/{document_id}", response_model=DocumentOut,
            responses=errors(400, 404))
def get_document(name: CollectionName, document_id: str, store: StoreDep) -> DocumentOut:
    """One document's record."""
    return DocumentOut.model_validate(store.get_document(name, document_id))


@router.post(
    "/collections/{name}/documents", response_model=UploadOut,
    responses={**BODY, **errors(400, 404, 413, 415, 422)},
)
def upload_documents(
    name: WritableCollection,
    settings: SettingsDep,
    runtime: RuntimeDep,
    ingestor: IngestorDep,
    files: Annotated[list[UploadFile], File(description="one or more files, each in a part named `files`",
                                            min_length=1)],
) -> UploadOut:
    """Upload files; the collection is created on first upload. Reports each file's outcome.

    Every file's type and size is checked first, so a bad file in the request changes nothing.
    """
    limits = settings.limits
    if len(files) > limits.max_files_per_upload:
        raise InvalidInput(f"{len(files)} files in one upload; the limit is {limits.max_files_per_upload}")
    incoming: list[IncomingFile] = []
    for upload in files:
        label = display_name(upload.filename or "unnamed")
        if upload.size is not None and upload.size > settings.max_file_bytes:
            raise TooLarge(f"{label!r} is {upload.size} bytes; the cap is {settings.max_file_bytes} bytes per file")
        data = upload.file.read(settings.max_file_bytes + 1)
        if len(data) > settings.max_file_bytes:
            raise TooLarge(f"{label!r} is over the cap of {settings.max_file_bytes} bytes per file")
        detect_kind(data, label)  # raises UnsupportedType -> 415 before anything is stored
        incoming.append(IncomingFile(label, data, source="upload"))
    result = Uploads(runtime.jobs, ingestor, heartbeat_s=settings.job_lease_s / 4).run(name, incoming)
    if result.all_failed:
        raise ParseFailed("; ".join(f"{o.name}: {o.reason}" for o in result.outcomes))
    return UploadOut(collection=name, job_id=result.job_id, generation=result.generation,
                     files=[FileResultOut.model_validate(o) for o in result.outcomes])


@router.delete("/collections/{name}/documents/{document_id}", status_code=204,
               responses=errors(400, 404))
def delete_document(name: WritableCollection, document_id: str, ingestor: IngestorDep, response: Response) -> None:
    """Delete a document; it cannot be retrieved once this returns. The `Groundwork-Generation`
    header gives the generation the delete produced (for `min_generation` on other replicas)."""
    response.headers[GENERATION_HEADER] = str(ingestor.delete(name, document_id))
