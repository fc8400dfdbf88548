"""Builds the running system from Settings. Shared by the two composition roots (api, cli)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import faiss

from ingest.chunking import Chunker, ChunkerConfig
from ingest.isolation import IsolatedParser, ParseLimits
from ingest.leader import make_leadership
from ingest.pipeline import FileOutcome, IncomingFile, Ingestor, config_hash
from ingest.scheduler import Dispatcher, JobRunner, Scheduler
from ingest.sync import Syncer
from ingest.uploads import Uploads
from rag import faults
from rag.answer.reader import Reader
from rag.answer.service import AskOptions, RagService
from rag.config import Settings
from rag.embedding import Embedder
from rag.embedding.registry import make_embedder
from rag.errors import EngineUnavailable
from rag.llm import Generator
from rag.llm.hf_transformers import TransformersGenerator
from rag.llm.registry import make_generator
from rag.retrieval.hybrid import FusionConfig, HybridRetriever, Retriever
from rag.retrieval.rerank import Reranker, RerankingRetriever, make_reranker
from rag.store.base import Store
from rag.store.faiss_index import AnnParams
from rag.store.follow import Follower
from rag.store.jobs import JobStore
from rag.store.keys import KeyStore
from rag.store.registry import make_store
from rag.store.sources import SourceStore
from rag.store.vectors import IndexPolicy, IndexState, VectorIndexes

log = logging.getLogger(__name__)

# Part of every document's config hash: a change here re-ingests what the old parser made.
PARSER_VERSION = "unstructured-0.27.35/fast/table-records-1"


@dataclass
class Runtime:
    """Every component, warmed up and wired together."""

    settings: Settings
    store: Store
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
    follower: Follower
    # Where queued jobs go: `runner` (in-process, the default) or the Celery workers.
    dispatcher: Dispatcher
    reranker: Reranker | None = None  # None: RAG_RERANK__MODEL=none

    @property
    def uploads(self) -> Uploads:
        """The upload use case on this runtime's jobs and ingestor (the one its runner runs)."""
        assert self.runner.uploads is not None  # build_runtime always gives the runner one
        return self.runner.uploads

    def start_background(self) -> None:
        """Start the index follower, the job runner (unless workers run the jobs: then the
        jobs queued before a restart are sent to them again) and the cron scheduler (the
        API does; one-shot CLI commands don't)."""
        self.follower.start()
        self.dispatcher.begin(self.jobs)
        self.scheduler.start()

    def stop_background(self) -> None:
        """Stop the scheduler first (no new firings), then the runner after its current job (up to 30 s)."""
        self.scheduler.stop()
        self.runner.stop(timeout=self.settings.drain_s)
        self.follower.stop()


def build_runtime(
    settings: Settings,
    *,
    load_llm: bool = True,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    parser: IsolatedParser | None = None,
    reranker: Reranker | None = None,
) -> Runtime:
    """Open the store, load models, verify (or rebuild) every FAISS index.

    Pass already-warm `embedder` / `generator` / `parser` / `reranker` to share them between runtimes
    (a restart inside one process, or a test session).
    """
    faults.arm(settings.fault_point, settings.fault_after)
    faiss.omp_set_num_threads(settings.retrieval.faiss_threads)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = make_store(settings)
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
        hash_parts={"parser": PARSER_VERSION, "embedder": _embedder_key(settings)},
        embed_concurrency=settings.workers.embed_concurrency,
    )
    # Resolving the LLM may convert a GGUF (~20 s): only done when the LLM is wanted.
    if generator is None:
        generator = make_generator(settings) if load_llm else TransformersGenerator("(not loaded)")
    if load_llm and settings.llm.preload:
        try:
            generator.warm_up()
        except EngineUnavailable as exc:
            # The service stays up without its engine: search works, questions answer 503
            # naming the engine, and the first question after it returns loads it.
            log.warning("%s; starting anyway", exc)
    options = AskOptions.from_settings(settings)
    fusion = FusionConfig.from_settings(settings.retrieval)
    retriever: Retriever = HybridRetriever(store, indexes, embedder, fusion, settings.replica.wait_s)
    if reranker is None:
        reranker = make_reranker(settings)
    reader = None
    if reranker is not None:
        reranker.warm_up()
        retriever = RerankingRetriever(retriever, reranker, settings.rerank.candidates, settings.rerank.order)
        r = settings.retrieval
        reader = Reader(reranker, embedder, r.reader_units, r.evidence_margin, r.evidence_floor)
    service = RagService(retriever, generator, options, embedder, reader)
    jobs, sources = JobStore(store), SourceStore(store)
    syncer = Syncer(ingestor, sources, jobs, settings.ingest.sync_batch_files,
                    int(settings.ingest.sync_batch_mb * 1024 * 1024))
    runner = JobRunner(jobs, syncer, timedelta(seconds=settings.job_lease_s),
                       uploads=Uploads(jobs, ingestor, heartbeat_s=settings.job_lease_s / 4))
    dispatcher = make_dispatcher(settings, runner)
    scheduler = Scheduler(sources, jobs, dispatcher, make_leadership(store, settings.data_dir))
    return Runtime(settings, store, embedder, indexes, ingestor, service, generator, states,
                   jobs, sources, runner, scheduler, KeyStore(store), parser,
                   Follower(store, indexes, settings.replica.poll_s), dispatcher, reranker)


def make_dispatcher(settings: Settings, runner: JobRunner) -> Dispatcher:
    """The Celery workers when RAG_QUEUE_URL is set, else the in-process runner."""
    if settings.queue_url is None:
        return runner
    from ingest.queue import CeleryDispatcher, make_celery  # Celery only when a queue is configured

    return CeleryDispatcher(make_celery(settings.queue_url.get_secret_value(),
                                        settings.workers.visibility_timeout_s))


def index_policy(settings: Settings) -> IndexPolicy:
    """The FAISS index choice from RAG_INDEX__* settings."""
    ix = settings.index
    return IndexPolicy(ix.kind, ix.hnsw_above, AnnParams(ix.hnsw_m, ix.hnsw_ef_construction, ix.hnsw_ef_search),
                       ix.max_tombstones)


def _embedder_key(settings: Settings) -> str:
    # Another backend gives slightly different vectors, so its chunks are re-embedded on
    # the next sync; the torch key stays as it always was, so nothing is redone for it.
    # An engine's model is known by its name there (RAG_EMBEDDING__MODEL), not by its URL:
    # moving the server re-embeds nothing, serving another model under a new name does.
    model, backend = settings.embedding.model, settings.embedding.backend
    return model if backend == "torch" else f"{model}|{backend}"


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
