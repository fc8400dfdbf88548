"""`rag engine`: the weights to serve from an engine, and whether the configured engines answer."""

from __future__ import annotations

import typer

from rag.cli.common import DataDir, app, settings_for

engine_app = typer.Typer(help="OpenAI-compatible engines: what to serve, and whether they answer.",
                         no_args_is_help=True)
app.add_typer(engine_app, name="engine")


@engine_app.command("weights")
def weights(data_dir: DataDir = None) -> None:
    """Print the path of the GGUF the in-process llama.cpp backend runs (float16, the shipped
    adapter merged; written once under the data directory's model cache). Serve it from
    llama.cpp's server to get the same answers from an engine:
    python -m llama_cpp.server --model "$(rag engine weights)"."""
    from rag.errors import RagError
    from rag.llm.llamacpp import from_settings

    settings = settings_for(data_dir)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "llamacpp"})})
    try:
        typer.echo(from_settings(settings).gguf)
    except RagError as exc:
        raise typer.BadParameter(str(exc)) from exc


@engine_app.command("check")
def check() -> None:
    """Ask the configured engines (RAG_LLM__BASE_URL, RAG_EMBEDDING__BASE_URL) what they serve;
    exit 1 if one does not answer. Nothing is asked when no engine is configured."""
    from rag.engines import configured_engines

    engines = configured_engines(settings_for(None))
    if not engines:
        typer.echo("no engine configured: both models run in this process")
    failed = False
    for engine in engines:
        status = engine.status(fresh=True)
        if status.reachable:
            window = f", context window {status.context_window}" if status.context_window else ""
            typer.echo(f"{engine.role} engine {status.url}: reachable, serves {', '.join(status.models) or 'nothing'}"
                       f"{window}")
        else:
            failed = True
            typer.echo(status.error, err=True)
    raise typer.Exit(1 if failed else 0)
