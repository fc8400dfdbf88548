"""`rag collections` (list, show, create, describe, delete) and `rag documents` list, tag,
file, chunks: on a data directory, or with --url on a server (each list is read page by page)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.cli import remote
from rag.cli.common import DataDir, app, offline_runtime
from rag.cli.documents import documents_app
from rag.cli.remote import KeyOpt, UrlOpt
from rag.errors import RagError

collections_app = typer.Typer(help="Collections: `rag collections` lists them; show, create, describe, delete.",
                              invoke_without_command=True)
app.add_typer(collections_app, name="collections")

Collection = Annotated[str, typer.Option("--collection", "-c")]
PAGE = 200  # rows per request while paging


def _local_pages(fetch: Any) -> Iterator[Any]:
    """Every row of a catalog list, page after page (`fetch(cursor)` reads one page)."""
    cursor = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _fail(exc: RagError) -> typer.BadParameter:
    return typer.BadParameter(str(exc))


def _collection_line(c: dict[str, Any]) -> str:
    when = c.get("last_ingested_at") or "never"
    return f"{c['name']}\t{c['documents']} documents\t{c['chunks']} chunks\t{c['bytes']} bytes\tlast ingested {when}"


def _out(obj: Any) -> dict[str, Any]:
    from rag.api.schemas import CollectionOut

    return CollectionOut.model_validate(obj).model_dump(mode="json")


@collections_app.callback()
def collections(ctx: typer.Context, data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """List collections with their counts and sizes."""
    if ctx.invoked_subcommand:
        return
    if url:
        with remote.session(url, api_key) as gw:
            for c in gw.collections():
                typer.echo(_collection_line(c))
        return
    from rag.store.paging import PageRequest

    catalog = offline_runtime(data_dir).ingestor.catalog
    for info in _local_pages(lambda cursor: catalog.collections_page(PageRequest(PAGE, cursor=cursor))):
        typer.echo(_collection_line(_out(info)))


@collections_app.command("show")
def collections_show(name: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                     url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """One collection's stats as JSON."""
    if url:
        with remote.session(url, api_key) as gw:
            typer.echo(json.dumps(gw.collection(name), indent=2))
        return
    try:
        typer.echo(json.dumps(_out(offline_runtime(data_dir).store.get_collection(name)), indent=2))
    except RagError as exc:
        raise _fail(exc) from exc


@collections_app.command("create")
def collections_create(name: Annotated[str, typer.Argument()],
                       description: Annotated[str, typer.Option("--description", "-d")] = "",
                       data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Create an empty collection with a description."""
    if url:
        with remote.session(url, api_key) as gw:
            gw.create_collection(name, description)
    else:
        from rag.api.deps import collection_name

        try:
            offline_runtime(data_dir).ingestor.catalog.create_collection(collection_name(name), description)
        except RagError as exc:
            raise _fail(exc) from exc
    typer.echo(f"created {name}")


@collections_app.command("delete")
def collections_delete(name: Annotated[str, typer.Argument()],
                       yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
                       data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a collection with every document, chunk, vector, source and job of it."""
    if not yes:
        typer.confirm(f"Delete collection {name!r} and everything in it?", abort=True)
    if url:
        with remote.session(url, api_key) as gw:
            gw.delete_collection(name)
    else:
        try:
            offline_runtime(data_dir).ingestor.delete_collection(name)
        except RagError as exc:
            raise _fail(exc) from exc
    typer.echo(f"deleted {name}")


def _pairs(values: list[str]) -> dict[str, Any]:
    """KEY=VALUE options; a value that reads as JSON (a number, true, false) keeps its type."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, text = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: write KEY=VALUE")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        out[key] = value if isinstance(value, (int, float, bool)) else text
    return out


@documents_app.command("list")
def documents_list(collection: Collection,
                   prefix: Annotated[str | None, typer.Option(help="only names starting with this")] = None,
                   meta: Annotated[list[str] | None, typer.Option(help="KEY=VALUE metadata to match (repeatable)")] = None,
                   sort: Annotated[str, typer.Option(help="name, size, ingested_at or updated_at")] = "name",
                   desc: Annotated[bool, typer.Option("--desc", help="descending")] = False,
                   data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """A collection's documents: id, name, version, chunks, ingestion time, metadata (every page)."""
    metadata = _pairs(meta or []) or None
    order = "desc" if desc else "asc"
    if url:
        with remote.session(url, api_key) as gw:
            rows = list(gw.pages(f"/collections/{collection}/documents", "documents", name_prefix=prefix,
                                 metadata=metadata, sort=sort, order=order, limit=PAGE))
    else:
        from rag.api.schemas import DocumentOut
        from rag.store.catalog import DocumentQuery
        from rag.store.paging import PageRequest

        catalog = offline_runtime(data_dir).ingestor.catalog
        query = DocumentQuery(prefix, metadata)
        try:
            rows = [DocumentOut.model_validate(d).model_dump(mode="json") for d in _local_pages(
                lambda cursor: catalog.documents_page(collection, PageRequest(PAGE, sort, desc, cursor), query))]
        except RagError as exc:
            raise _fail(exc) from exc
    for d in rows:
        typer.echo(f"{d['id']}\t{d['name']}\tv{d['version']}\t{d['chunks']} chunks\tingested {d['ingested_at']}"
                   f"\t{json.dumps(d['metadata'], sort_keys=True)}")


@documents_app.command("tag")
def documents_tag(document_id: Annotated[str, typer.Argument()], collection: Collection,
                  set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE to set (repeatable)")] = None,
                  unset: Annotated[list[str] | None, typer.Option(help="KEY to remove (repeatable)")] = None,
                  data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Change a document's metadata without re-embedding it."""
    patch: dict[str, Any] = {**_pairs(set_ or []), **dict.fromkeys(unset or [])}
    if not patch:
        raise typer.BadParameter("give --set KEY=VALUE or --unset KEY")
    if url:
        with remote.session(url, api_key) as gw:
            metadata = gw.update_metadata(collection, document_id, patch)["metadata"]
    else:
        try:
            metadata = offline_runtime(data_dir).ingestor.catalog.update_metadata(collection, document_id, patch).metadata
        except RagError as exc:
            raise _fail(exc) from exc
    typer.echo(json.dumps(metadata, sort_keys=True))


@documents_app.command("file")
def documents_file(document_id: Annotated[str, typer.Argument()], collection: Collection,
                   out: Annotated[Path, typer.Option("--out", "-o", help="where to write the original")],
                   data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Write a document's original bytes to a file."""
    if url:
        with remote.session(url, api_key) as gw:
            data = gw.original(collection, document_id)
    else:
        runtime = offline_runtime(data_dir)
        try:
            doc = runtime.store.get_document(collection, document_id)
            data = runtime.ingestor.original_path(doc.content_hash).read_bytes()
        except (RagError, FileNotFoundError) as exc:
            raise typer.BadParameter(str(exc)) from exc
    out.write_bytes(data)
    typer.echo(f"wrote {len(data)} bytes to {out}")


@documents_app.command("chunks")
def documents_chunks(document_id: Annotated[str, typer.Argument()], collection: Collection,
                     data_dir: DataDir = None, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """A document's chunks in reading order: position, page, section, text."""
    if url:
        with remote.session(url, api_key) as gw:
            rows = gw.chunks(collection, document_id)
    else:
        from rag.store.paging import PageRequest

        catalog = offline_runtime(data_dir).ingestor.catalog
        try:
            rows = [{"position": c.position, "page": c.page, "section": c.section, "text": c.text}
                    for c in _local_pages(lambda cursor: catalog.chunks_page(
                        collection, document_id, PageRequest(PAGE, "position", False, cursor)))]
        except RagError as exc:
            raise _fail(exc) from exc
    for c in rows:
        typer.echo(f"[{c['position']}] page {c['page']} · {c['section'] or '-'}\n{c['text']}\n")
