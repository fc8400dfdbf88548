"""What every command group shares: the Typer app, the --data-dir option, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.config import Settings

app = typer.Typer(help="Groundwork: offline RAG over your documents.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="state directory (default: $RAG_DATA_DIR or ./data)")]


def settings_for(data_dir: Path | None) -> Settings:
    """Settings from the environment, with --data-dir applied."""
    if data_dir is None:
        return Settings()
    # Given to the constructor, so defaults derived from it (files_dir) follow it too.
    return Settings(data_dir=data_dir)


def offline_runtime(data_dir: Path | None):
    """A runtime without the LLM, for commands that only read or write the store."""
    from rag.bootstrap import build_runtime

    return build_runtime(settings_for(data_dir), load_llm=False)
