"""The llama.cpp generator backend: the default for GGUF models, as faithful as transformers,
questions in flight decoded together."""

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


def test_the_default_runtime_runs_llamacpp_on_8bit_weights(runtime: Runtime) -> None:
    assert runtime.generator.backend == "llamacpp" and runtime.generator.ready
    path = Path(runtime.generator.model_dir)
    assert path.parent == runtime.settings.model_cache_dir and path.name.startswith("gguf-q80-")
    rewritten = gguf.GGUFReader(path)
    original = gguf.GGUFReader(Path(resolve_llm("default", None).model) / resolve_llm("default", None).gguf_file)
    assert [t.name for t in rewritten.tensors] == [t.name for t in original.tensors]
    kinds = {t.name: t.tensor_type.name for t in rewritten.tensors}
    assert kinds["token_embd.weight"] == "F16"  # also the output layer: kept wide
    assert kinds["blk.0.attn_q.weight"] == "Q8_0" and kinds["blk.0.attn_norm.weight"] == "F32"
    assert set(kinds.values()) == {"Q8_0", "F16", "F32"}
    assert any(t.tensor_type.name.startswith("Q4") for t in original.tensors)


def test_the_float16_copy_is_there_on_request(runtime: Runtime) -> None:
    path = widened_gguf(resolve_llm("default", None), runtime.settings.model_cache_dir, runtime.generator.adapter)
    assert path.name.startswith("gguf-f16-")
    assert {t.tensor_type.name for t in gguf.GGUFReader(path).tensors} <= {"F16", "F32"}


def test_widening_is_done_once(runtime: Runtime) -> None:
    path = Path(runtime.generator.model_dir)
    stamp = path.stat().st_mtime_ns
    source, cache = resolve_llm("default", None), runtime.settings.model_cache_dir
    assert widened_gguf(source, cache, runtime.generator.adapter, "q8_0") == path
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


_TOGETHER = [
    ("Who organises the Quellmoor lantern festival?", CASES[0][1]),
    ("When was Kestrel 3.2 released?", CASES[1][1]),
    ("What colour is the Varenholt lighthouse?", "The Varenholt lighthouse is painted red and white."),
    ("How many seats has the fuzz room?", "The fuzz room has a green door and seats nine."),
    ("Which day does the night rota start?", "The night rota starts on Monday with Bram."),
    ("What does a bag of oat flour cost?", "Oat flour, 25 kg bag: 41.50 EUR; lead time 3 days."),
]


def test_answers_asked_together_are_the_answers_asked_alone(runtime: Runtime) -> None:
    """Questions in flight share decode steps (batched); each answer is the one it gets alone."""
    prompts = [build_prompt(q, [p]) for q, p in _TOGETHER]
    alone = ["".join(runtime.generator.generate(p, 48)) for p in prompts]
    together: list[str | None] = [None] * len(prompts)
    start = threading.Barrier(len(prompts))

    def ask(i: int) -> None:
        start.wait()
        together[i] = "".join(runtime.generator.generate(prompts[i], 48))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert together == alone
    assert runtime.generator.widest_step >= 2  # they did share steps
    assert all(alone) and "Vostrikova" in alone[0]


def test_a_reader_that_leaves_frees_its_slot(runtime: Runtime) -> None:
    """A client that goes away mid-answer (the stream closed) gives its sequence back: more
    answers than there are slots still all finish afterwards."""
    prompt = build_prompt("Write a long story about the harbour.", ["The harbour is old and busy."])
    slots = runtime.generator.slots
    for _ in range(slots + 1):
        stream = runtime.generator.generate(prompt, 200)
        next(stream)
        stream.close()
    done: list[str] = []
    threads = [threading.Thread(target=lambda: done.append("".join(runtime.generator.generate(prompt, 8))))
               for _ in range(slots + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(done) == slots + 1 and all(done)


def test_a_prompt_longer_than_the_window_is_refused_clearly(runtime: Runtime) -> None:
    from rag.errors import OutOfRange

    huge = build_prompt("What is this?", ["word " * (runtime.generator.context_window + 100)])
    with pytest.raises(OutOfRange, match="window"):
        next(iter(runtime.generator.generate(huge, 16)))
    assert "".join(runtime.generator.generate(build_prompt(*_TOGETHER[0]), 8))  # still serving
