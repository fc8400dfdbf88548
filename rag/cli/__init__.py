"""The `rag` command, one module per command group (serve, documents, sources, evaluate, tune)."""

from rag.cli import catalog, documents, engine, evaluate, maintenance, serve, sources, store, tune  # noqa: F401  (each registers its commands)
from rag.cli.common import app
from rag.cli.serve import is_loopback

__all__ = ["app", "is_loopback"]
