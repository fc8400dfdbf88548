"""The bodies of GET /health (liveness, no key) and GET /health/details (models, data
directory for admins, and the index state of each collection the key may read)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EngineHealth(BaseModel):
    """An OpenAI-compatible engine (backend "openai"): its URL (never its key), whether it
    answered GET /models within the last seconds, what it serves, and why not if it did not."""

    url: str
    reachable: bool
    models: list[str]
    error: str | None


class EmbeddingHealth(BaseModel):
    """The embedding model: where it comes from, its backend, vector size and input limit."""

    path: str
    backend: str
    dimension: int
    max_tokens: int
    engine: EngineHealth | None = None


class LLMHealth(BaseModel):
    """The LLM: where it comes from, its backend, the merged LoRA adapter (if any), whether it
    is loaded (for an engine: reached, and still reachable), whether it loads at start, its
    context window in tokens and, for an engine, the model asked for and the engine's state."""

    path: str
    backend: str
    adapter: str | None
    loaded: bool
    preload: bool
    context_window: int
    model: str | None = None
    engine: EngineHealth | None = None


class RerankerHealth(BaseModel):
    """The reranker: its trained weights, how many candidates it reads, its refusal threshold."""

    path: str
    backend: str
    candidates: int
    min_score: float


class ModelsHealth(BaseModel):
    """The models in use; `reranker` is null when it is off (RAG_RERANK__MODEL=none)."""

    embedding: EmbeddingHealth
    llm: LLMHealth
    reranker: RerankerHealth | None


class IndexHealth(BaseModel):
    """A collection's FAISS snapshot: vectors, the generation it reflects, where it came from
    (file or rebuild), whether it matches SQLite, its kind and HNSW tombstones."""

    vectors: int | None
    generation: int | None
    origin: str
    in_sync: bool
    writing: bool = Field(False, description="a write of this replica is committed and on its way into "
                          "the snapshot (an upload in progress); not in sync, yet healthy")
    kind: str | None
    tombstones: int | None
    damaged: str | None = Field(None, description="set when the index file on disk was damaged or not "
                                "Groundwork's: why; it was rebuilt from the database and answers are unaffected")


class CollectionHealth(BaseModel):
    """A collection's counts and the state of its index."""

    name: str
    documents: int
    chunks: int
    generation: int
    index: IndexHealth


class JobsHealth(BaseModel):
    """Who runs jobs here: `runner` is "in-process" or "queue" (Celery workers, RAG_QUEUE_URL);
    `scheduler` is "leader" on the one replica that runs the cron schedules, "standby" on the
    others (ingest.leader)."""

    runner: str
    scheduler: str


class LivenessOut(BaseModel):
    """`status` is "ok" (HTTP 200) when every index matches the store and the models are
    loaded, "degraded" (HTTP 503) otherwise. Names nothing, so it needs no key."""

    status: str
    version: str


class HealthOut(BaseModel):
    """The detailed view: `status` as in GET /health; `data_dir` only for admin keys (null
    otherwise); `collections` only those the key may read."""

    status: str
    version: str
    models: ModelsHealth
    data_dir: str | None
    store: str | None = None  # "sqlite:<path>" or "postgresql://user@host:port/db" (admin keys only)
    collections: list[CollectionHealth]
    jobs: JobsHealth | None = None  # admin keys only
