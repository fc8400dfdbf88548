"""The llama.cpp generator backend: the default for GGUF models, as faithful as transformers."""

from __future__ import annotations

import threading
from pathlib import Path

import gguf
import pytest

from rag.answer.prompt import build_prompt
from rag.bootstrap import Runtime
from rag.config import Settings
from rag.errors import ModelUnavailable
from rag.llm.gguf import widened_gguf
from rag.llm.hf_transformers import TransformersGenerator, llm_dir
from rag.llm.registry import make_generator
from rag.models import resolve_llm

CASES = [
    # With the shipped 4-bit weights llama.cpp answered "organised by Lantern Festival" here.
    ("Who organises the Quellmoor lantern festival?",
     "Lantern festival\n\nThe Quellmoor lantern festival is organised by Maren Vostrikova.", "Vostrikova"),
    ("When was Kestrel 3.2 released?",
     (Settings().samples_dir / "release-notes.txt").read_text().strip(), "14 March 2026"),
]


@pytest.fixture(scope="module")
def transformers_generator(runtime: Runtime) -> TransformersGenerator:
    # The same model as the runtime's (the shipped adapter merged by peft here, by rag.models there).
    gen = TransformersGenerator(llm_dir(runtime.settings), adapter=runtime.generator.adapter)
    gen.warm_up()
    return gen


def test_the_default_runtime_runs_llamacpp_on_float16_weights(runtime: Runtime) -> None:
    assert runtime.generator.backend == "llamacpp" and runtime.generator.ready
    path = Path(runtime.generator.model_dir)
    assert path.parent == runtime.settings.model_cache_dir and path.name.startswith("gguf-f16-")
    widened = gguf.GGUFReader(path)
    original = gguf.GGUFReader(Path(resolve_llm("default", None).model) / resolve_llm("default", None).gguf_file)
    assert [t.name for t in widened.tensors] == [t.name for t in original.tensors]
    kinds = {t.tensor_type.name for t in widened.tensors}
    assert kinds <= {"F16", "F32"}, kinds
    assert any(t.tensor_type.name.startswith("Q") for t in original.tensors)


def test_widening_is_done_once(runtime: Runtime) -> None:
    path = Path(runtime.generator.model_dir)
    stamp = path.stat().st_mtime_ns
    source, cache = resolve_llm("default", None), runtime.settings.model_cache_dir
    assert widened_gguf(source, cache, runtime.generator.adapter) == path
    assert path.stat().st_mtime_ns == stamp
    assert not list(runtime.settings.model_cache_dir.glob(".tmp-*"))


@pytest.mark.parametrize("question,passage,fact", CASES)
def test_answers_like_the_transformers_backend(runtime: Runtime, transformers_generator, question, passage,
                                               fact) -> None:
    prompt = build_prompt(question, [passage])
    fast = "".join(runtime.generator.generate(prompt, 40))
    reference = "".join(transformers_generator.generate(prompt, 40))
    assert fact in reference, reference
    assert fact in fast, (fast, reference)


def test_a_stop_event_ends_the_generation(runtime: Runtime) -> None:
    stop = threading.Event()
    prompt = build_prompt("Write a long story about the harbour.", ["The harbour is old and busy."])
    pieces = []
    for piece in runtime.generator.generate(prompt, 200, stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert stop.is_set() and len(pieces) <= 4  # it was stopped mid-answer, and ended within a token
    assert "".join(runtime.generator.generate(prompt, 5))  # the model is free again


@pytest.mark.slow  # converts the GGUF for the transformers backend (~20 s)
def test_backend_choice_and_clear_errors(tmp_path: Path) -> None:
    adapter = Settings(data_dir=tmp_path, llm={"adapter": "default", "backend": "transformers"})
    assert isinstance(make_generator(adapter), TransformersGenerator)  # peft merges it at load
    hf_folder = Settings(data_dir=tmp_path, llm={"model": str(tmp_path), "backend": "llamacpp"})
    with pytest.raises(ModelUnavailable, match="RAG_LLM__GGUF_FILE"):
        make_generator(hf_folder)
