"""A collection's documents: upload (with metadata), list (paged, filtered), read, change
metadata, download the original, see the chunks, delete."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from ingest.filetypes import detect_kind, display_name
from ingest.pipeline import IncomingFile
from rag.api.deps import (
    CatalogDep,
    CollectionName,
    IngestorDep,
    RuntimeDep,
    SettingsDep,
    StoreDep,
    WritableCollection,
    metadata_query,
    paging,
)
from rag.api.errors import BODY, KEYED, errors
from rag.api.schemas import (
    ChunkOut,
    ChunksOut,
    DocumentOut,
    DocumentPatch,
    DocumentsOut,
    FileResultOut,
    JobFileOut,
    UploadAcceptedOut,
    UploadOut,
)
from rag.errors import InvalidInput, InvalidMetadata, NotFound, ParseFailed, TooLarge
from rag.metadata import Metadata, check_metadata, parse_metadata
from rag.store.catalog import DOCUMENT_SORTS, DocumentQuery
from rag.store.paging import PageRequest

# The generation a write produced, on responses without a body (204).
GENERATION_HEADER = "Groundwork-Generation"

router = APIRouter(tags=["documents"], responses=KEYED)

DocumentPage = Annotated[PageRequest, Depends(paging(tuple(DOCUMENT_SORTS.columns), "name"))]
ChunkPage = Annotated[PageRequest, Depends(paging(("position",), "position"))]

_METADATA_FORM = ('metadata for every file of the upload: a JSON object, e.g. {"team":"finance","year":2026} '
                  "(replaces the metadata of documents that exist; leave out to keep theirs)")
_FILE_METADATA_FORM = ('metadata per file, by file name: a JSON object of objects, e.g. '
                       '{"q3.pdf":{"quarter":3}}; merged over `metadata` for that file')


@router.get("/collections/{name}/documents", response_model=DocumentsOut, responses=errors(400, 404, 422))
def list_documents(name: CollectionName, catalog: CatalogDep, page: DocumentPage,
                   metadata: Annotated[Metadata | None, Depends(metadata_query)],
                   name_prefix: Annotated[str | None, Query(max_length=1000)] = None,
                   source: Annotated[str | None, Query(description="'upload' or a source id")] = None,
                   ) -> DocumentsOut:
    """A page of the collection's documents with version, ingestion time and metadata; sorted
    by name, size, ingested_at or updated_at; filtered by name prefix, metadata and source."""
    got = catalog.documents_page(name, page, DocumentQuery(name_prefix, metadata, source))
    return DocumentsOut(documents=[DocumentOut.model_validate(d) for d in got.items], next_cursor=got.next_cursor)


@router.get("/collections/{name}/documents/{document_id}", response_model=DocumentOut,
            responses=errors(400, 404))
def get_document(name: CollectionName, document_id: str, store: StoreDep) -> DocumentOut:
    """One document's record."""
    return DocumentOut.model_validate(store.get_document(name, document_id))


@router.patch("/collections/{name}/documents/{document_id}", response_model=DocumentOut,
              responses={**BODY, **errors(400, 404)})
def patch_document(name: WritableCollection, document_id: str, body: DocumentPatch, catalog: CatalogDep,
                   ingestor: IngestorDep) -> DocumentOut:
    """Change a document's metadata without parsing or embedding it again: `version` stays,
    `updated_at` moves, and search and query filters see the change at once. 422 if the
    result breaks the metadata rules."""
    with ingestor.lock(name):
        return DocumentOut.model_validate(catalog.update_metadata(name, document_id, body.metadata, body.replace))


@router.get("/collections/{name}/documents/{document_id}/file", response_class=Response,
            responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the original bytes, as a download"}, **errors(400, 404)})
def download_original(name: CollectionName, document_id: str, store: StoreDep, ingestor: IngestorDep) -> Response:
    """The document's original bytes (of its current version), with its content type and its
    name as the download name."""
    doc = store.get_document(name, document_id)
    path = ingestor.original_path(doc.content_hash)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the original of {doc.name!r} is not kept on this server (it was ingested before "
                       "originals were stored, or the file was removed); upload it again", "original") from None
    return Response(data, media_type=doc.mime_type, headers={
        "Content-Disposition": _attachment(doc.name),
        "X-Content-Type-Options": "nosniff",  # never rendered as anything but its declared type
    })


def _attachment(name: str) -> str:
    """A Content-Disposition that cannot be used for header injection: an ASCII fallback with
    only safe characters, and the real name percent-encoded (RFC 6266 / 5987)."""
    base = name.rsplit("/", 1)[-1] or "document"
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in base)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


@router.get("/collections/{name}/documents/{document_id}/chunks", response_model=ChunksOut,
            responses=errors(400, 404, 422))
def list_chunks(name: CollectionName, document_id: str, catalog: CatalogDep, page: ChunkPage) -> ChunksOut:
    """A page of the document's chunks in reading order, with section, page and text: what
    search sees of it."""
    got = catalog.chunks_page(name, document_id, page)
    return ChunksOut(document_id=document_id, chunks=[ChunkOut.model_validate(c) for c in got.items],
                     next_cursor=got.next_cursor)


@router.post(
    "/collections/{name}/documents", status_code=202, response_model=UploadAcceptedOut,
    responses={200: {"model": UploadOut, "description": "with `wait=true`: each file's outcome"},
               **BODY, **errors(400, 404, 413, 415, 422)},
)
def upload_documents(
    name: WritableCollection,
    settings: SettingsDep,
    runtime: RuntimeDep,
    files: Annotated[list[UploadFile], File(description="one or more files, each in a part named `files`",
                                            min_length=1)],
    metadata: Annotated[str | None, Form(description=_METADATA_FORM)] = None,
    file_metadata: Annotated[str | None, Form(description=_FILE_METADATA_FORM)] = None,
    wait: Annotated[bool, Query(description="wait for the files to be ingested and answer 200 with each "
                                "file's outcome (scripts); by default the upload is queued and answered 202")] = False,
) -> UploadAcceptedOut | JSONResponse:
    """Upload files; the collection is created on first upload. Answers `202 Accepted` once the
    originals and the job are stored (an acknowledged upload survives a restart): follow the
    job at `GET /jobs/{id}` or `GET /jobs/{id}/events`. With `?wait=true` the files are
    ingested before the answer, `200` with each file's outcome.

    Every file's type and size, and the metadata, are checked first, so a bad file or bad
    metadata changes nothing. Re-uploading the same bytes with other metadata changes only the
    metadata (status `unchanged`, nothing re-embedded).
    """
    limits = settings.limits
    if len(files) > limits.max_files_per_upload:
        raise InvalidInput(f"{len(files)} files in one upload; the limit is {limits.max_files_per_upload}")
    labels = [display_name(upload.filename or "unnamed") for upload in files]
    per_file = _metadata_of(labels, metadata, file_metadata)
    incoming: list[IncomingFile] = []
    for upload, label in zip(files, labels):
        if upload.size is not None and upload.size > settings.max_file_bytes:
            raise TooLarge(f"{label!r} is {upload.size} bytes; the cap is {settings.max_file_bytes} bytes per file")
        data = upload.file.read(settings.max_file_bytes + 1)
        if len(data) > settings.max_file_bytes:
            raise TooLarge(f"{label!r} is over the cap of {settings.max_file_bytes} bytes per file")
        detect_kind(data, label)  # raises UnsupportedType -> 415 before anything is stored
        incoming.append(IncomingFile(label, data, source="upload", metadata=per_file[label]))
    uploads = runtime.uploads
    if wait:
        result = uploads.run_now(name, incoming)
        if result.all_failed:
            raise ParseFailed("; ".join(f"{o.name}: {o.reason}" for o in result.outcomes))
        body = UploadOut(collection=name, job_id=result.job_id, generation=result.generation,
                         files=[FileResultOut.model_validate(o) for o in result.outcomes])
        return JSONResponse(body.model_dump(mode="json"), status_code=200)
    job = uploads.submit(name, incoming)
    runtime.dispatcher.submitted(job)
    return UploadAcceptedOut(collection=name, job_id=job.id, state=job.state,
                             files=[JobFileOut.model_validate(f) for f in runtime.jobs.files(job.id)],
                             status_url=f"/jobs/{job.id}", events_url=f"/jobs/{job.id}/events")


def _metadata_of(labels: list[str], common: str | None, per_file: str | None) -> dict[str, Metadata | None]:
    """Each file's metadata from the two form fields (None: the upload brings none for it)."""
    shared = parse_metadata(common, "metadata")
    if shared is not None:
        shared = check_metadata(shared, "metadata")
    by_name: Any = parse_metadata(per_file, "file_metadata")
    if by_name is None:
        by_name = {}
    if not isinstance(by_name, dict):
        raise InvalidMetadata("file_metadata must be a JSON object keyed by file name")
    unknown = sorted(set(by_name) - set(labels))
    if unknown:
        raise InvalidMetadata(f"file_metadata names {unknown[0]!r}, which is not a file of this upload "
                              f"(the files are {', '.join(repr(x) for x in labels[:5])})")
    out: dict[str, Metadata | None] = {}
    for label in labels:
        own = by_name.get(label)
        if own is None:
            out[label] = shared
        else:
            own = check_metadata(own, f"file_metadata[{label!r}]")
            out[label] = check_metadata({**(shared or {}), **own}, f"metadata of {label!r}")
    return out


@router.delete("/collections/{name}/documents/{document_id}", status_code=204,
               responses=errors(400, 404))
def delete_document(name: WritableCollection, document_id: str, ingestor: IngestorDep, response: Response) -> None:
    """Delete a document; it cannot be retrieved once this returns. The `Groundwork-Generation`
    header gives the generation the delete produced (for `min_generation` on other replicas)."""
    response.headers[GENERATION_HEADER] = str(ingestor.delete(name, document_id))
