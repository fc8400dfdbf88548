"""The reranker on ONNX Runtime with int8 weights (RAG_RERANK__BACKEND=onnx-int8).

The same network as the torch reranker (MiniLM with the shipped LoRA adapter merged, mean
pooling, the linear head), exported once and quantized by the embedder's recipe
(rag.embedding.onnx_int8.write_int8_onnx), cached under the data directory's model cache.
A question reads up to 40 (question, passage) pairs, which made the reranker most of an
answer's time on two cores; EVALUATION.md and BENCHMARKS.md compare both backends.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.onnx_int8 import onnx_session, write_int8_onnx
from rag.files import atomic_path
from rag.retrieval.rerank import HEAD_FILE, BatchedReranker, build_network

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the export or quantization recipe changes


def export_reranker_int8(model_path: Path, adapter_dir: Path, cache_root: Path) -> Path:
    """The reranker as an int8 ONNX file under `cache_root`, written once; its path."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel

    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", HEAD_FILE):
        digest.update((adapter_dir / name).read_bytes())
    key = hashlib.sha256(f"{Path(model_path).resolve()}|{digest.hexdigest()}|{EXPORT_VERSION}|"
                         f"{torch.__version__}".encode()).hexdigest()[:16]
    target = cache_root / f"rerank-onnx-int8-{key}"
    if (target / "model.onnx").exists():
        return target / "model.onnx"
    log.info("exporting the reranker %s to ONNX int8 once (a few seconds); cached in %s", adapter_dir, target)
    encoder = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager")
    encoder = PeftModel.from_pretrained(encoder, str(adapter_dir)).merge_and_unload()
    net = build_network(encoder)
    net.head.load_state_dict(load_file(str(adapter_dir / HEAD_FILE)))
    cache_root.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        write_int8_onnx(net, tmp, "logits")
    return target / "model.onnx"


class OnnxCrossEncoderReranker(BatchedReranker):
    """The Reranker protocol on ONNX Runtime (int8); scores like CrossEncoderReranker."""

    backend = "onnx-int8"

    def __init__(self, model_path: str, adapter_dir: Path, cache_root: Path, max_tokens: int = 256,
                 batch_size: int = 16, threads: int = 0):
        super().__init__(model_path, adapter_dir, max_tokens, batch_size, threads)
        self.cache_root = Path(cache_root)

    def _load(self) -> Any:
        """Export (first run only) and open the quantized network."""
        onnx_file = export_reranker_int8(Path(self.model_path), self.adapter_dir, self.cache_root)
        return onnx_session(onnx_file, self.threads or 0)

    def _batch(self, questions: list[str], texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer(questions, texts, padding=True, truncation="only_second",
                                  max_length=self.max_tokens, return_tensors="np")
        feed = {name: encoded[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
        feed["token_type_ids"] = encoded.get("token_type_ids", np.zeros_like(encoded["input_ids"])).astype(np.int64)
        logits = self._model.run(None, feed)[0]
        return 1.0 / (1.0 + np.exp(-logits))
