"""The ONNX int8 embedder: exported once, cached, and close enough to the torch model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding.onnx_int8 import OnnxEmbedder
from rag.embedding.sentence_transformer import SentenceTransformerEmbedder
from rag.errors import ModelUnavailable
from rag.models import resolve_embedding_model

# Runs unstructured / exports and loads the embedding model: the slow tier.
pytestmark = pytest.mark.slow

_SUBJECTS = ["The finance office", "The Vindholm harbour", "Travel expenses", "The Lisbon office", "The archive",
             "The night shift", "The river ferry", "The print room"]
_FACTS = ["is in room {n}", "was rebuilt in {y}", "are signed off by {p}", "opens at {h} o'clock",
          "moved to the {c} building in {y}", "is run by {p} since {y}"]
_PEOPLE = ["Amara Okafor", "Bruno Castell", "Keiko Mori", "Oskar Berg"]


def paragraphs(count: int, seed: int) -> list[str]:
    """Short generated office passages, each of two or three facts."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        facts = [rng.choice(_SUBJECTS) + " " + rng.choice(_FACTS).format(
            n=rng.randint(100, 999), y=rng.randint(1950, 2024), p=rng.choice(_PEOPLE), h=rng.randint(6, 10),
            c=rng.choice(["red", "north", "glass"])) + "." for _ in range(rng.randint(2, 3))]
        out.append(" ".join(facts))
    return out


QUESTIONS = ["Which room is the finance office in?", "When was the Vindholm harbour rebuilt?",
             "Who signs off travel expenses?"]


@pytest.fixture(scope="module")
def onnx(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    embedder = OnnxEmbedder(resolve_embedding_model("default"), tmp_path_factory.mktemp("models"))
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="module")
def torch_embedder(runtime) -> SentenceTransformerEmbedder:
    if isinstance(runtime.embedder, SentenceTransformerEmbedder):
        return runtime.embedder
    embedder = SentenceTransformerEmbedder(resolve_embedding_model("default"))
    embedder.warm_up()
    return embedder


def test_vectors_match_the_torch_model(onnx: OnnxEmbedder, torch_embedder) -> None:
    texts = paragraphs(40, seed=3) + QUESTIONS + ["x", "word " * 600]  # a text past the 256-piece limit too
    a, b = torch_embedder.embed_documents(texts), onnx.embed_documents(texts)
    assert b.shape == a.shape and b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.97, cosine.min()
    # What matters for retrieval: each question ranks the passages the same way at the top.
    # A near tie at the top (two paragraphs about Vindholm harbour, 0.7746 vs 0.7673 in
    # torch) may flip with int8 rounding, which differs between CPUs (AVX2 vs AVX-512 VNNI):
    # the best passage must then still be among the int8 model's first two. Every question
    # with a clear winner (a margin of 0.02 or more) must keep it first.
    docs = paragraphs(40, seed=3)
    clear = 0
    for q in QUESTIONS:
        scores_a = torch_embedder.embed_documents(docs) @ torch_embedder.embed_query(q)
        top_a = np.argsort(-scores_a)[:3]
        top_b = np.argsort(-(onnx.embed_documents(docs) @ onnx.embed_query(q)))[:3]
        assert len(set(top_a) & set(top_b)) >= 2 and top_a[0] in top_b[:2]
        if scores_a[top_a[0]] - scores_a[top_a[1]] >= 0.02:
            clear += 1
            assert top_a[0] == top_b[0], q
    assert clear >= 2  # the exact check above really ran


def test_padding_does_not_change_a_vector(onnx: OnnxEmbedder) -> None:
    # The graph is traced from an unpadded example: a short text padded to 256 pieces in a
    # batch with a long one must still come out as it does alone (the mask reaches attention;
    # with the mask ignored the cosine is ~0.2). Not exactly 1: dynamic int8 quantization
    # scales activations per batch, padding included (the float32 graph gives 1.0; ~0.993).
    alone = onnx.embed_documents(QUESTIONS)
    padded = onnx.embed_documents(QUESTIONS + ["harbour ledger " * 300])[: len(QUESTIONS)]
    assert float((alone * padded).sum(axis=1).min()) > 0.98


def test_same_tokenizer_and_limits(onnx: OnnxEmbedder, torch_embedder) -> None:
    text = "Groundwork keeps private documents in sync."
    assert onnx.count_tokens(text) == torch_embedder.count_tokens(text)
    assert (onnx.dimension, onnx.max_tokens) == (torch_embedder.dimension, torch_embedder.max_tokens)
    assert onnx.embed_documents([]).shape == (0, onnx.dimension)


def test_export_is_cached(onnx: OnnxEmbedder) -> None:
    files = list(onnx.cache_root.glob("embed-onnx-int8-*/model.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = OnnxEmbedder(str(onnx.model_path), onnx.cache_root)
    again.warm_up()
    assert files[0].stat().st_mtime_ns == stamp
    assert not list(onnx.cache_root.glob(".tmp-*"))


def test_a_model_without_mean_pooling_is_refused_clearly(tmp_path: Path) -> None:
    source = Path(resolve_embedding_model("default"))
    model = tmp_path / "cls-model"
    model.mkdir()
    for item in source.iterdir():
        if item.name != "1_Pooling":
            (model / item.name).symlink_to(item)
    (model / "1_Pooling").mkdir()
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(ModelUnavailable, match="RAG_EMBEDDING__BACKEND=torch"):
        OnnxEmbedder(str(model), tmp_path / "cache").warm_up()


def test_setting_selects_the_backend() -> None:
    from rag.embedding.registry import make_embedder

    assert isinstance(make_embedder(Settings(embedding={"backend": "onnx-int8"}, load_samples=False)), OnnxEmbedder)
    assert isinstance(make_embedder(Settings(embedding={"backend": "torch"}, load_samples=False)),
                      SentenceTransformerEmbedder)


def test_counting_while_embedding_in_another_thread(runtime) -> None:
    # Ingestion counts word pieces (chunking) in one thread while another embeds: with one
    # shared fast tokenizer the counting call switched padding off under the embedding call.
    import threading

    embedder = runtime.embedder
    texts = [p * (1 + i % 5) for i, p in enumerate(paragraphs(24, seed=7))]  # ragged lengths
    expected = embedder.embed_documents(texts)
    counts = [embedder.count_tokens(t) for t in texts]
    errors: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        try:
            while not stop.is_set():
                assert [embedder.count_tokens(t) for t in texts] == counts
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            stop.set()

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(15):
            assert np.allclose(embedder.embed_documents(texts), expected, atol=1e-5)
    finally:
        stop.set()
        counter.join()
    assert errors == []
