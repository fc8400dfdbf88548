"""`rag tune` (the LLM's LoRA adapter) and `rag tune reranker` (the cross-encoder)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from lab.rerank import RerankConfig
from lab.tuning import TuneConfig
from rag.cli.common import app, settings_for
from rag.config import Settings

tune_app = typer.Typer(help="Train the models Groundwork ships: `rag tune` (the LLM adapter), "
                       "`rag tune reranker`.", invoke_without_command=True)
app.add_typer(tune_app, name="tune")

# The tune command's defaults are TuneConfig's (the shipped adapter's card quotes them).
_TUNE = TuneConfig(data=Path(), out=Path())


@tune_app.callback()
def tune(ctx: typer.Context,
         data: Annotated[Path, typer.Option(help="folder with train.jsonl (question, passage, answer)")] = Path("../shared/data/conflicts-train"),
         out: Annotated[Path, typer.Option(help="run folder: checkpoints/ and adapter/")] = Path("data/tune"),
         max_steps: Annotated[int, typer.Option(help="optimizer steps; -1 runs --epochs")] = _TUNE.max_steps,
         epochs: Annotated[float, typer.Option()] = _TUNE.epochs,
         seed: Annotated[int, typer.Option()] = _TUNE.seed,
         max_passages: Annotated[int, typer.Option(help="passages per example: 1..N")] = _TUNE.max_passages,
         refusal_share: Annotated[float, typer.Option(help="share of examples without the gold passage")] = _TUNE.refusal_share,
         office_examples: Annotated[int, typer.Option(
             help="generated office-document sections mixed into the data (0: none)")] = _TUNE.office_examples,
         clauses: Annotated[str, typer.Option(
             help="rows taught the answer's clause instead of the bare answer: office, all or none")] = _TUNE.clauses,
         holdout: Annotated[int, typer.Option(help="rows kept out for the final report")] = _TUNE.holdout,
         rank: Annotated[int, typer.Option(help="LoRA rank")] = _TUNE.rank,
         learning_rate: Annotated[float, typer.Option()] = _TUNE.learning_rate,
         batch_size: Annotated[int, typer.Option(help="1 avoids padding, the cheapest on a CPU")] = _TUNE.batch_size,
         grad_accum: Annotated[int, typer.Option(help="examples per optimizer step = batch x this")] = _TUNE.grad_accum,
         save_every: Annotated[int, typer.Option(help="checkpoint every N steps")] = _TUNE.save_every,
         fresh: Annotated[bool, typer.Option("--fresh", help="ignore existing checkpoints")] = False) -> None:
    """LoRA-tune the LLM for grounded, cited answers (resumes from the last checkpoint).

    Copy OUT/adapter to rag/adapters/smollm2-grounded to ship it, or point
    RAG_LLM__ADAPTER at it. `rag tune reranker` trains the reranker instead.
    """
    import shutil

    if ctx.invoked_subcommand is not None:
        return  # a subcommand (reranker) runs instead

    from lab.tuning import CHECKPOINT_DIR, CLAUSE_ROWS
    from lab.tuning import tune as run_tune
    from rag.embedding.registry import make_embedder
    from rag.llm.hf_transformers import llm_dir

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if clauses not in CLAUSE_ROWS:
        raise typer.BadParameter(f"--clauses must be one of: {', '.join(CLAUSE_ROWS)}")
    settings = Settings()
    if fresh:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    config = TuneConfig(data=data, out=out, seed=seed, max_steps=max_steps, epochs=epochs,
                        max_passages=max_passages, refusal_share=refusal_share,
                        office_examples=office_examples, holdout=holdout, rank=rank,
                        clauses=clauses,  # type: ignore[arg-type]  # one of CLAUSE_ROWS: checked above
                        learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                        save_every=save_every)
    embedder = make_embedder(settings)
    embedder.warm_up()
    try:
        report = run_tune(config, llm_dir(settings), embedder)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(report.__dict__, indent=2))
    typer.echo(f"adapter: {out / 'adapter'} (card: {out / 'adapter' / 'README.md'})")


_RERANK = RerankConfig(data=Path(), out=Path())


@tune_app.command("reranker")
def tune_reranker(
        data: Annotated[Path, typer.Option(help="conflicts-train folder (train.jsonl)")] = Path("../shared/data/conflicts-train"),
        out: Annotated[Path, typer.Option(help="run folder: reranker/ is written inside")] = Path("data/tune-reranker"),
        office_set: Annotated[Path | None, typer.Option(
            help="office evaluation set; only its dev half is used")] = Path("data/eval/office"),
        seed: Annotated[int, typer.Option()] = _RERANK.seed,
        epochs: Annotated[float, typer.Option(help="passes over the training pairs")] = _RERANK.epochs,
        batch_size: Annotated[int, typer.Option()] = _RERANK.batch_size,
        learning_rate: Annotated[float, typer.Option()] = _RERANK.learning_rate,
        rank: Annotated[int, typer.Option(help="LoRA rank")] = _RERANK.rank,
        office_examples: Annotated[int, typer.Option(help="generated office sections")] = _RERANK.office_examples,
        table_examples: Annotated[int, typer.Option(help="pairs from generated tables")] = _RERANK.table_examples,
        data_dir: Annotated[Path, typer.Option("--data-dir", help="scratch state (the office set's index)")] = Path(
            "data/eval")) -> None:
    """Train the cross-encoder reranker from the packaged MiniLM, calibrate its refusal
    threshold, write OUT/reranker with its card. Copy it to rag/rerankers/minilm-grounded to ship."""
    from lab.office_eval import candidate_chunks, ingest_documents, load_questions
    from lab.rerank import train
    from rag.bootstrap import build_runtime
    from rag.models import resolve_embedding_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = RerankConfig(data=data, out=out, office_set=office_set, seed=seed, epochs=epochs, batch_size=batch_size,
                          learning_rate=learning_rate, rank=rank, office_examples=office_examples,
                          table_examples=table_examples)
    # The first stage only (no reranker, no LLM): it proposes the candidates, as in the service.
    settings = settings_for(data_dir).model_copy(update={"load_samples": False})
    settings = settings.model_copy(update={"rerank": settings.rerank.model_copy(update={"model": "none"})})
    runtime = build_runtime(settings, load_llm=False)
    dev_chunks, dev = None, []
    if office_set is not None:
        ingest_documents(runtime, office_set, data_dir / "office-docs")
        dev_chunks, dev = candidate_chunks(runtime), load_questions(office_set, "dev")
    try:
        report = train(config, resolve_embedding_model("default"), runtime.embedder, dev_chunks, dev)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(report.__dict__, indent=2))
    typer.echo(f"reranker: {out / 'reranker'} (card: {out / 'reranker' / 'README.md'})")


@tune_app.command("calibrate")
def tune_calibrate(
        data: Annotated[Path, typer.Option(help="conflicts-train folder (train.jsonl)")] = Path("../shared/data/conflicts-train"),
        office_set: Annotated[Path, typer.Option(help="office evaluation set; only its dev half is used")] = Path(
            "data/eval/office"),
        seed: Annotated[int, typer.Option(help="the seed the reranker was trained with (its held-out rows)")] = _RERANK.seed,
        write: Annotated[bool, typer.Option(help="write calibration.json into the reranker's folder")] = False,
        data_dir: Annotated[Path, typer.Option("--data-dir", help="scratch state (the office set's index)")] = Path(
            "data/eval")) -> None:
    """Re-choose the reranker's refusal threshold as the service scores (chunks under their
    document's title, the name check), on the held-out conflicts-train rows and half of the
    office dev questions. Prints it; --write stores it beside the reranker (RAG_RERANK__MIN_SCORE
    is the setting the service reads)."""
    from lab.calibrate import recalibrate, write_calibration
    from lab.office_eval import ingest_documents
    from rag.bootstrap import build_runtime
    from rag.retrieval.rerank import resolve_reranker

    settings = settings_for(data_dir).model_copy(update={"load_samples": False})
    folder = resolve_reranker(settings.rerank.model)
    if folder is None:
        raise typer.BadParameter("the reranker is off (RAG_RERANK__MODEL=none): nothing to calibrate")
    runtime = build_runtime(settings, load_llm=False)
    ingest_documents(runtime, office_set, data_dir / "office-docs")
    try:
        calibration = recalibrate(runtime, data, office_set, _RERANK.holdout, seed)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(calibration, indent=2))
    if write:
        typer.echo(f"wrote {write_calibration(folder, calibration)}")
