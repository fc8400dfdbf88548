"""The reranker on ONNX Runtime with int8 weights scores like the torch one (real models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.bootstrap import Runtime
from rag.config import Settings
from rag.retrieval.rerank import make_reranker

pytestmark = pytest.mark.slow  # exports the reranker once (a few seconds)

QUESTION = "What does a one-tonne drum of chlorine gas cost?"
TEXTS = [
    "item code: VW-1062; item: Chlorine gas drum 1 tonne; unit: drum; price in euros: 895.00",
    "The chlorine alarm assembly point at Sallow Reach is the football pitch.",
    "Staff get a training budget of EUR 850 per calendar year.",
    "The Kestrel 3.2 costs 2450 euros.",
    "Chlorine is a chemical element with the symbol Cl and atomic number 17.",
    "Drums are returned to the supplier within 30 days.",
]


def test_int8_scores_agree_with_torch(runtime: Runtime, tmp_path: Path) -> None:
    if runtime.reranker is None:
        pytest.skip("no shipped reranker")
    onnx = make_reranker(Settings(data_dir=tmp_path, rerank={"backend": "onnx-int8"}))
    torch = make_reranker(Settings(data_dir=tmp_path, rerank={"backend": "torch"}))
    assert onnx is not None and torch is not None and onnx.backend == "onnx-int8"
    a, b = torch.score(QUESTION, TEXTS), onnx.score(QUESTION, TEXTS)
    assert a.shape == b.shape == (len(TEXTS),)
    assert float(np.abs(a - b).max()) < 0.08, (a, b)
    assert int(np.argmax(a)) == int(np.argmax(b)) == 0
    assert onnx.score(QUESTION, []).shape == (0,)
    # Exported once: a second reranker finds the cached file.
    files = list(tmp_path.glob("models/rerank-onnx-int8-*/model.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    make_reranker(Settings(data_dir=tmp_path, rerank={"backend": "onnx-int8"})).warm_up()
    assert files[0].stat().st_mtime_ns == stamp
