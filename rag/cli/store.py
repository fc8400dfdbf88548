"""`rag store copy`: move a data directory's store into PostgreSQL (or any empty store)."""

from __future__ import annotations

from typing import Annotated

import typer

from rag.cli.common import DataDir, app, settings_for

store_app = typer.Typer(help="The store itself: copy it to another database.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def copy(to: Annotated[str, typer.Option("--to", help="the target: postgresql://user@host:5432/db, or a "
                                                         "path for a SQLite file")],
         data_dir: DataDir = None) -> None:
    """Copy every collection, document, chunk (with its embedding), source, job and key from
    the configured store (RAG_DATABASE_URL, or the SQLite file of --data-dir) into an empty
    one, keeping ids and generations: nothing is re-embedded. Then point RAG_DATABASE_URL at it."""
    from pathlib import Path

    from pydantic import SecretStr

    from rag.errors import RagError
    from rag.store.copy import copy_store
    from rag.store.registry import make_store
    from rag.store.sqlite import SQLiteStore

    settings = settings_for(data_dir)
    source = make_store(settings)
    target = (make_store(settings.model_copy(update={"database_url": SecretStr(to)}))
              if "://" in to or "=" in to else SQLiteStore(Path(to)))
    try:
        source.open()
        target.open()
        counts = copy_store(source, target, lambda table, n: typer.echo(f"  {table}: {n} rows", err=True))
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"copied from {source.describe()} to {target.describe()}: "
               + ", ".join(f"{n} {t}" for t, n in counts.items()))
