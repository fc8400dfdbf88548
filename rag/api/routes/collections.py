"""Collections: create, list (paged), stats, describe, delete with everything in them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from rag.api.deps import (
    CatalogDep,
    CollectionName,
    IngestorDep,
    PrincipalDep,
    RuntimeDep,
    StoreDep,
    WritableCollection,
    collection_name,
    paging,
)
from rag.api.errors import BODY, KEYED, errors
from rag.api.schemas import CollectionIn, CollectionOut, CollectionPatch, CollectionsOut, JobOut
from rag.errors import Forbidden, InvalidInput
from rag.store.paging import PageRequest

router = APIRouter(tags=["collections"], responses=KEYED)

CollectionPage = Annotated[PageRequest, Depends(paging(("name", "created_at"), "name"))]


@router.get("/collections", response_model=CollectionsOut, responses=errors(400, 422))
def list_collections(catalog: CatalogDep, principal: PrincipalDep, page: CollectionPage) -> CollectionsOut:
    """The collections this key may read, a page at a time, with their counts and sizes."""
    names = None if principal.admin else {n for n in catalog.collection_names() if principal.can("read", n)}
    got = catalog.collections_page(page, names)
    return CollectionsOut(collections=[CollectionOut.model_validate(c) for c in got.items],
                          next_cursor=got.next_cursor)


@router.post("/collections", response_model=CollectionOut, status_code=201,
             responses={**BODY, **errors(400, 403, 409)})
def create_collection(body: CollectionIn, catalog: CatalogDep, principal: PrincipalDep,
                      runtime: RuntimeDep) -> CollectionOut:
    """Create an empty collection with a description; 409 if the name is taken. (Uploading
    into a name that does not exist also creates the collection, without a description.)"""
    name = collection_name(body.name)
    if not principal.can("write", name):
        raise Forbidden(f"this key may not write collection {name!r}; it needs the scope write:{name}")
    largest = runtime.ingestor.chunker.config.max_tokens
    if body.chunk_max_tokens is not None and body.chunk_max_tokens > largest:
        raise InvalidInput(f"chunk_max_tokens is {body.chunk_max_tokens}; this server's chunks hold at most "
                           f"{largest} tokens (RAG_CHUNKING__MAX_TOKENS and the embedding model's limit)")
    return CollectionOut.model_validate(catalog.create_collection(name, body.description, body.chunk_max_tokens))


@router.get("/collections/{name}", response_model=CollectionOut, responses=errors(400, 404))
def get_collection(name: CollectionName, store: StoreDep) -> CollectionOut:
    """A collection's stats: documents, chunks, bytes of originals, last ingestion, generation."""
    return CollectionOut.model_validate(store.get_collection(name))


@router.patch("/collections/{name}", response_model=CollectionOut, responses={**BODY, **errors(400, 404)})
def describe_collection(name: WritableCollection, body: CollectionPatch, catalog: CatalogDep) -> CollectionOut:
    """Change a collection's description."""
    return CollectionOut.model_validate(catalog.describe_collection(name, body.description))


@router.post("/collections/{name}/reembed", status_code=202, response_model=JobOut, responses=errors(400, 404))
def reembed_collection(name: WritableCollection, runtime: RuntimeDep) -> JobOut:
    """Queue a job that ingests every document again from its stored original under the
    server's current settings (after a change of embedding model or chunk size): documents
    already up to date stay `unchanged`. Answers 202 with the job; follow it at /jobs/{id}."""
    job = runtime.uploads.reembed(name)
    runtime.dispatcher.submitted(job)
    return JobOut.model_validate(job)


@router.delete("/collections/{name}", status_code=204, responses=errors(400, 404, 409))
def delete_collection(name: WritableCollection, ingestor: IngestorDep) -> None:
    """Delete a collection with every document, chunk, vector, source bound to it, its job
    history and the originals no other collection holds, in one transaction: once this
    returns nothing of it can be retrieved, and the name can be used again. 409 while one of
    its jobs is queued or running (cancel it first)."""
    ingestor.delete_collection(name)
