"""Builds the running system from Settings. Shared by the two composition roots (api, cli)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import faiss

from ingest.chunking import Chunker, ChunkerConfig

from ingest.pipeline import FileOutcome, IncomingFile, Ingestor, config_hash
from ingest.scheduler import JobRunner, Scheduler
from ingest.sync import Syncer
from rag import faults
from rag.store.jobs import JobStore
from rag.store.keys import KeyStore
from rag.store.sources import SourceStore
from rag.config import Settings
from rag.embedding import Embedder, SentenceTransformerEmbedder
from rag.onnx_embedding import OnnxEmbedder
from rag.errors import ModelUnavailable
from rag.generation import Generator, TransformersGenerator
from rag.llamacpp_generation import LlamaCppGenerator
from ingest.isolation import IsolatedParser, ParseLimits
from rag.models import converted_llm_dir, resolve_adapter, resolve_embedding_model, resolve_llm, widened_gguf
from rag.retrieval import FusionConfig, HybridRetriever
from rag.service import AskOptions, RagService
from rag.store.sqlite import SQLiteStore
from rag.store.faiss_index import AnnParams
from rag.store.vectors import IndexPolicy, IndexState, VectorIndexes

log = logging.getLogger(__name__)

PARSER_VERSION = "unstructured-0.27.35/fast"


@dataclass
class Runtime:
    """Every component, warmed up and wired together."""

    settings: Settings
    store: SQLiteStore
    embedder: Embedder
    indexes: VectorIndexes
    ingestor: Ingestor
    service: RagService
    generator: Generator
    index_states: list[IndexState]
    jobs: JobStore
    sources: SourceStore
    runner: JobRunner
    scheduler: Scheduler
    keys: KeyStore
    parser: IsolatedParser

    def start_background(self) -> None:
        """Start the job runner and the cron scheduler (the API does; one-shot CLI commands don't)."""
        self.runner.start()
        self.scheduler.start()

    def stop_background(self) -> None:
        self.scheduler.stop()
        self.runner.stop()


def build_runtime(
    settings: Settings,
    *,
    load_llm: bool = True,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    parser: IsolatedParser | None = None,
) -> Runtime:
    """Open the store, load models, verify (or rebuild) every FAISS index.

    Pass already-warm `embedder` / `generator` / `parser` to share them between runtimes
    (a restart inside one process, or a test session).
    """
    faults.arm(settings.fault_point, settings.fault_after)
    faiss.omp_set_num_threads(settings.retrieval.faiss_threads)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(settings.db_path)
    store.open()
    if embedder is None:
        embedder = make_embedder(settings)
    embedder.warm_up()
    indexes = VectorIndexes(store, settings.index_dir, embedder.dimension, index_policy(settings),
                            settings.index.build_threads, settings.retrieval.faiss_threads)
    states = indexes.load_all()
    chunker_config = ChunkerConfig(
        max_tokens=min(settings.chunking.max_tokens, embedder.max_tokens - 2),  # room for [CLS]/[SEP]
        overlap_tokens=settings.chunking.overlap_tokens,
    )
    if parser is None:
        limits = settings.ingest
        parser = IsolatedParser(ParseLimits(limits.parse_timeout_s, limits.parse_memory_mb, limits.parse_workers))
    ingestor = Ingestor(
        store, indexes, embedder, Chunker(embedder.count_tokens, chunker_config),
        config_hash(parser=PARSER_VERSION, chunker=chunker_config, embedder=_embedder_key(settings)),
        settings.files_dir, parser, settings.ingest.max_text_chars, settings.ingest.parse_workers,
    )
    # Resolving the LLM may convert a GGUF (~20 s): only done when the LLM is wanted.
    if generator is None:
        generator = make_generator(settings) if load_llm else TransformersGenerator("(not loaded)")
    if load_llm and settings.llm.preload:
        generator.warm_up()
    options = AskOptions(
        top_k=settings.retrieval.top_k, max_top_k=settings.retrieval.max_top_k,
        min_score=settings.retrieval.min_score, context_chunks=settings.retrieval.context_chunks,
        max_new_tokens=settings.llm.max_new_tokens, max_question_chars=settings.limits.max_question_chars,
        mode=settings.retrieval.mode, max_pending=settings.limits.max_pending_questions, evidence=settings.retrieval.evidence,
        evidence_sentences=settings.retrieval.evidence_sentences,
        evidence_neighbours=settings.retrieval.evidence_neighbours,
        evidence_margin=settings.retrieval.evidence_margin, evidence_floor=settings.retrieval.evidence_floor,
    )
    fusion = FusionConfig(method=settings.retrieval.fusion, alpha=settings.retrieval.alpha,
                          candidates=settings.retrieval.fusion_candidates,
                          lexical_stopwords=settings.retrieval.lexical_stopwords)
    service = RagService(HybridRetriever(store, indexes, embedder, fusion), generator, options, embedder)
    jobs, sources = JobStore(store), SourceStore(store)
    runner = JobRunner(jobs, Syncer(ingestor, sources, jobs), timedelta(seconds=settings.job_lease_s))
    scheduler = Scheduler(sources, jobs, runner)
    return Runtime(settings, store, embedder, indexes, ingestor, service, generator, states,
                   jobs, sources, runner, scheduler, KeyStore(store), parser)


def index_policy(settings: Settings) -> IndexPolicy:
    """The FAISS index choice from RAG_INDEX__* settings."""
    ix = settings.index
    return IndexPolicy(ix.kind, ix.hnsw_above, AnnParams(ix.hnsw_m, ix.hnsw_ef_construction, ix.hnsw_ef_search),
                       ix.max_tombstones)


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder (not yet warmed up)."""
    model = resolve_embedding_model(settings.embedding.model)
    if settings.embedding.backend == "onnx-int8":
        return OnnxEmbedder(model, settings.model_cache_dir, settings.embedding.batch_size)
    return SentenceTransformerEmbedder(model, settings.embedding.batch_size)


def _embedder_key(settings: Settings) -> str:
    # Another backend gives slightly different vectors, so its chunks are re-embedded on
    # the next sync; the torch key stays as it always was, so nothing is redone for it.
    model, backend = settings.embedding.model, settings.embedding.backend
    return model if backend == "torch" else f"{model}|{backend}"


def make_generator(settings: Settings) -> Generator:
    """The configured LLM backend (not yet loaded); see LLMSettings.backend."""
    source = resolve_llm(settings.llm.model, settings.llm.gguf_file)
    adapter = resolve_adapter(settings.llm.adapter, settings.llm.model)
    backend = settings.llm.backend
    if backend == "auto":
        backend = "llamacpp" if source.gguf_file else "transformers"
    if backend == "llamacpp":
        if not source.gguf_file:
            raise ModelUnavailable(f"the llamacpp backend runs GGUF files; {settings.llm.model!r} is not one: set "
                                   "RAG_LLM__GGUF_FILE to the .gguf in that folder, or RAG_LLM__BACKEND=transformers")
        gguf = Path(source.model) / source.gguf_file
        if settings.llm.llamacpp_weights == "f16" or adapter is not None:
            # An adapter is merged into float16 weights (into 4-bit ones it would be lost).
            gguf = widened_gguf(source, settings.model_cache_dir, adapter)
        return LlamaCppGenerator(gguf, settings.llm.threads, adapter=adapter)
    return TransformersGenerator(llm_dir(settings), settings.llm.threads, adapter)


def llm_dir(settings: Settings) -> Path | str:
    """A loadable model folder: GGUF sources are converted once and cached under data/."""
    source = resolve_llm(settings.llm.model, settings.llm.gguf_file)
    if source.gguf_file:
        return converted_llm_dir(source, settings.model_cache_dir)
    return source.model


def seed_samples(runtime: Runtime) -> list[FileOutcome]:
    """On an empty database, ingest data/samples/ so the README's first question works."""
    settings = runtime.settings
    if not settings.load_samples or runtime.store.list_collections():
        return []
    folder = settings.samples_dir
    if not folder.is_dir():
        log.warning("no sample folder at %s; starting with no collections", folder)
        return []
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    outcomes = runtime.ingestor.ingest_many(
        settings.samples_collection,
        [IncomingFile(p.name, p.read_bytes(), source=f"samples/{p.name}") for p in paths])
    for outcome in outcomes:
        log.info("sample %s: %s", outcome.name, outcome.status)
    return outcomes
