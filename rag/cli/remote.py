"""The CLI over HTTP: what each command does when --url (or RAG_URL) names a server.

Errors are printed as one line from the server's error body (`error: code: message`) and
the command exits with status 1; nothing is loaded locally.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.client import ApiError, Client, Upload
from rag.store.jobs import describe_counts

UrlOpt = Annotated[str | None, typer.Option(
    "--url", envvar="RAG_URL", help="a Groundwork server (e.g. http://127.0.0.1:8000): work over its HTTP API")]
KeyOpt = Annotated[str | None, typer.Option(
    "--api-key", envvar="RAG_API_KEY", help="API key for --url (sent as a bearer token)")]

# Files per upload request; the server's own cap (RAG_LIMITS__MAX_FILES_PER_UPLOAD) is higher.
FILES_PER_REQUEST = 20
FINAL = ("succeeded", "failed", "cancelled")
# Error codes that belong to one file of an upload, not to the request or the server.
REFUSED_FILE = ("unsupported_type", "too_large", "parse_failed")


@contextmanager
def session(url: str, api_key: str | None) -> Iterator[Client]:
    """A client for `url`; an ApiError inside becomes one line on stderr and exit status 1."""
    try:
        with Client(url, api_key) as client:
            yield client
    except ApiError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def ingest(url: str, api_key: str | None, paths: list[Path], collection: str, batch_mb: float) -> None:
    """Upload files in batches with a byte progress bar (each batch answered 202 once
    stored), then follow the jobs with a file progress bar; print each failure."""
    from tqdm import tqdm

    from ingest.local_files import find_files, group_batches

    files = find_files(paths)
    total = sum(f.path.stat().st_size for f in files)
    counts: dict[str, int] = {}
    failures: list[str] = []

    def tally(results: list[dict[str, Any]]) -> None:
        for result in results:
            status = result.get("status") or result.get("stage") or "failed"
            counts[status] = counts.get(status, 0) + 1
            if status in ("failed", "cancelled"):
                failures.append(f"  {result['name']}: {result.get('reason')}")

    queued: list[tuple[str, int]] = []  # (job id, files)
    with session(url, api_key) as gw:
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"uploading to {collection}") as bar:
            for batch in group_batches(files, int(batch_mb * 1024 * 1024), FILES_PER_REQUEST):
                try:
                    accepted = gw.upload(collection, [Upload(f.path, f.name) for f in batch], progress=bar.update,
                                         wait=False)
                    queued.append((accepted["job_id"], len(batch)))
                except ApiError as exc:
                    if exc.code not in REFUSED_FILE:
                        raise
                    # The server refuses a whole request for one bad file; send them one by one
                    # so that file fails alone and its neighbours are stored.
                    tally([_upload_one(gw, collection, f) for f in batch])
        with tqdm(total=sum(n for _, n in queued), unit="file", desc=f"ingesting into {collection}") as bar:
            for job_id, _ in queued:
                base, job = bar.n, None
                for job in gw.job_events(job_id):
                    bar.update(base + int(job["progress"]["done"] or 0) - bar.n)
                if job is not None:
                    tally(job.get("files") or [])
    typer.echo(describe_counts(dict(sorted(counts.items())), "no files"))
    for line in failures:
        typer.echo(line, err=True)
    if files and len(failures) == len(files):
        raise typer.Exit(1)


def _upload_one(gw: Client, collection: str, f: Any) -> dict[str, Any]:
    try:
        return gw.upload(collection, [Upload(f.path, f.name)])["files"][0]
    except ApiError as exc:
        if exc.code not in REFUSED_FILE:
            raise
        return {"name": f.name, "status": "failed", "reason": f"{exc.code}: {exc.message}"}


def ask(url: str, api_key: str | None, collection: str, question: str, top_k: int | None) -> None:
    """Stream the answer to the terminal, then its citations and sources."""
    options: dict[str, Any] = {"top_k": top_k} if top_k else {}
    streamed: list[str] = []
    final: dict[str, Any] | None = None
    with session(url, api_key) as gw:
        for event in gw.ask_stream(collection, question, **options):
            if event.kind == "token":
                streamed.append(event.text)
                typer.echo(event.text, nl=False)
            elif event.kind == "answer":
                final = event.answer
    typer.echo("")
    if final is None:
        typer.echo("error: stream_ended: the server closed the stream before the answer", err=True)
        raise typer.Exit(1)
    if final["answer"].strip() != "".join(streamed).strip():
        # The value check replaced the generated text with the answer-bearing sentences.
        typer.echo(f"answer (checked against the sources): {final['answer']}")
    for c in final.get("citations", []):
        where = f", page {c['page']}" if c.get("page") else ""
        typer.echo(f"  [{c['n']}] {c['document_name']}{where}: {c.get('quote', '')}")
    for s in final.get("sources", []):
        typer.echo(f"  source: {s['document']} v{s.get('version')} (ingested {s.get('ingested_at')}, "
                   f"score {s.get('score', 0):.2f})")


def search(url: str, api_key: str | None, collection: str, query: str, top_k: int | None) -> None:
    """Print the ranked chunks."""
    with session(url, api_key) as gw:
        for hit in gw.search(collection, query, top_k):
            typer.echo(f"{hit['score']:.3f}  {hit['document_name']} p{hit.get('page') or '-'}  {hit['text'][:100]!r}")


def delete_document(url: str, api_key: str | None, collection: str, document_id: str) -> None:
    """Delete one document."""
    with session(url, api_key) as gw:
        gw.delete_document(collection, document_id)
    typer.echo(f"deleted {document_id}")


def follow_job(gw: Client, job_id: str, poll_s: float = 0.5) -> dict[str, Any]:
    """Poll a job to its end with a progress bar; return its last state."""
    from tqdm import tqdm

    with tqdm(desc=job_id, unit="file") as bar:
        while True:
            job = gw.job(job_id)
            progress = job.get("progress") or {}
            if progress.get("total") is not None:
                bar.total = progress["total"]
            bar.update((progress.get("done") or 0) - bar.n)
            if job["state"] in FINAL:
                return job
            time.sleep(poll_s)


def print_job(job: dict[str, Any], with_errors: bool = True) -> None:
    """One line for a job (in the API's JobOut form), then its per-file errors."""
    counts = describe_counts(job.get("counts") or {})
    progress = job.get("progress") or {}
    typer.echo(f"{job['id']}\t{job['kind']}\t{job['collection']}\t{job['state']}\t{progress.get('done') or 0}/"
               f"{progress.get('total') or 0}\t{counts}\t{job.get('reason') or ''}")
    for error in (job.get("errors") or []) if with_errors else []:
        typer.echo(f"  {error.get('file')}: {error.get('reason')}", err=True)
