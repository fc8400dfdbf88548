"""`rag backup`, `rag restore`, `rag check`: the embedded store's backups and health check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import DataDir, app, settings_for
from rag.config import Settings

PG_ADVICE = ("the store is PostgreSQL (RAG_DATABASE_URL): back it up with its own tools "
             "(pg_dump -Fc, pg_restore) and copy the originals directory (RAG_FILES_DIR) beside it")


def _embedded(settings: Settings) -> None:
    if settings.database_url is not None:
        raise typer.BadParameter(PG_ADVICE)


@app.command("backup")
def backup_command(dest: Annotated[Path, typer.Argument(help="a new or empty folder")],
                   data_dir: DataDir = None) -> None:
    """An online, consistent backup of the data directory (database snapshot, originals,
    manifest with checksums and generations); safe while the service runs and writes."""
    from rag.errors import RagError
    from rag.store.backup import backup

    settings = settings_for(data_dir)
    _embedded(settings)
    try:
        report = backup(settings.db_path, settings.files_dir, dest)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"backed up {report.documents} documents in {len(report.generations)} collections "
               f"({report.originals} originals) to {dest}")
    for name, generation in sorted(report.generations.items()):
        typer.echo(f"  {name}: generation {generation}")
    if report.missing:
        typer.echo(f"warning: {len(report.missing)} originals were missing or damaged and are not in the "
                   "backup (rag check lists them)", err=True)
        raise typer.Exit(1)


@app.command("restore")
def restore_command(src: Annotated[Path, typer.Argument(help="a folder written by rag backup")],
                    data_dir: DataDir = None) -> None:
    """Restore a backup into an empty data directory (checksums verified first); the FAISS
    indexes are rebuilt on the next start."""
    from rag.errors import RagError
    from rag.store.backup import restore

    settings = settings_for(data_dir)
    _embedded(settings)
    try:
        manifest = restore(src, settings.db_path, settings.files_dir)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"restored {manifest['documents']} documents in {len(manifest['generations'])} collections "
               f"(backup of {manifest['created_at']}) into {settings.data_dir}")


@app.command("check")
def check_command(data_dir: DataDir = None) -> None:
    """Check the data directory: database integrity, each index against the database,
    originals against their hashes, orphan files. Exit status 1 if anything is wrong."""
    from rag.store.backup import check

    settings = settings_for(data_dir)
    _embedded(settings)
    report = check(settings.db_path, settings.files_dir, settings.index_dir)
    for line in report.lines:
        typer.echo(line)
    typer.echo(f"{report.problems} problems" if report.problems else "all checks passed")
    if report.problems:
        raise typer.Exit(1)
