"""The shipped LoRA adapter: loadable (merged into llama.cpp's weights, or by peft), on by
default; ordinary questions answered sensibly; `rag tune` works end to end on a tiny generated dataset."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rag.bootstrap import Runtime
from rag.cli import app
from rag.errors import ModelUnavailable
from rag.models import DEFAULT_ADAPTER, resolve_adapter

# Ordinary questions over the sample documents, and what a sensible answer contains.
QUESTIONS = [
    ("How many days of paid vacation does each member receive?", "27"),
    ("When was Kestrel 3.2 released?", "14 March 2026"),
    ("Who staffs the Lisbon showroom?", "Tomás Reis"),
    ("Who do vacation requests go to?", "Ines Marwood"),
    ("What time does the weekly members' meeting start?", "10:15"),
]


def test_adapter_setting_resolves() -> None:
    assert resolve_adapter("none", "default") is None
    assert resolve_adapter("default", "/some/other/model") is None  # trained for the default model only
    assert resolve_adapter("default", "default") == DEFAULT_ADAPTER
    assert (DEFAULT_ADAPTER / "adapter_config.json").exists() and (DEFAULT_ADAPTER / "README.md").exists()
    with pytest.raises(ModelUnavailable, match="adapter_config.json"):
        resolve_adapter("/nonexistent/adapter", "default")


def test_the_default_runtime_runs_the_shipped_adapter_and_none_turns_it_off(
        runtime: Runtime, client: TestClient) -> None:
    from rag.config import LLMSettings, Settings
    from rag.llm.registry import make_generator

    assert LLMSettings().adapter == "default"  # the default, whatever RAG_LLM__ADAPTER says here
    expected = resolve_adapter(runtime.settings.llm.adapter, "default")  # DEFAULT_ADAPTER unless overridden
    assert runtime.generator.adapter == expected and runtime.generator.backend == "llamacpp"
    health = client.get("/health/details").json()["models"]["llm"]["adapter"]
    assert health == (str(expected) if expected else None)
    off = make_generator(Settings(data_dir=runtime.settings.data_dir, llm={"adapter": "none"}))
    assert off.adapter is None and off.backend == "llamacpp"
    with_torch = make_generator(Settings(data_dir=runtime.settings.data_dir,
                                         llm={"adapter": "default", "backend": "transformers"}))
    assert with_torch.adapter == DEFAULT_ADAPTER and with_torch.backend == "transformers"


@pytest.mark.slow
def test_the_shipped_adapter_loads_and_answers_short_with_a_citation(runtime: Runtime) -> None:
    from rag.answer.prompt import build_prompt
    from rag.llm.hf_transformers import TransformersGenerator, llm_dir

    tuned = TransformersGenerator(llm_dir(runtime.settings), adapter=resolve_adapter("default", "default"))
    passages = ["The Brannock lighthouse keeper is Orla Finnegan; she has kept the lamp since 2011.",
                "The Carrow ferry leaves the north pier at 06:40."]
    reply = "".join(tuned.generate(build_prompt("Who is the Brannock lighthouse keeper?", passages), 24))
    assert "Orla Finnegan" in reply and "[1]" in reply, reply
    assert len(reply) < 60, reply  # trained to answer short: the answer and its citation


def test_merged_query_and_key_deltas_follow_llama_cpps_row_order(runtime: Runtime) -> None:
    # The reordering applied to LoRA deltas is the one llama.cpp's converter applied to the
    # weights: reordering the Hugging Face weights (the GGUF loader undid it) gives the GGUF's.
    import gguf
    from gguf.quants import dequantize
    from safetensors import safe_open

    from rag.llm.gguf import _rope_rows
    from rag.llm.hf_transformers import llm_dir
    from rag.models import resolve_llm

    source = resolve_llm("default", None)
    tensors = {t.name: t for t in gguf.GGUFReader(Path(source.model) / source.gguf_file).tensors}
    with safe_open(str(Path(llm_dir(runtime.settings)) / "model.safetensors"), "np") as hf:
        for name, module, heads in [("attn_q", "q_proj", 9), ("attn_k", "k_proj", 3)]:
            tensor = tensors[f"blk.3.{name}.weight"]
            stored = dequantize(tensor.data, tensor.tensor_type)
            loaded = hf.get_tensor(f"model.layers.3.self_attn.{module}.weight")
            assert not np.allclose(stored, loaded)  # the rows really are in another order
            np.testing.assert_allclose(_rope_rows(loaded, heads), stored, atol=1e-6)


@pytest.mark.slow
def test_llama_cpp_with_the_merged_adapter_answers_like_transformers_with_peft(runtime: Runtime) -> None:
    from rag.answer.prompt import build_prompt
    from rag.llm.gguf import widened_gguf
    from rag.llm.hf_transformers import TransformersGenerator, llm_dir
    from rag.llm.llamacpp import LlamaCppGenerator
    from rag.models import resolve_llm

    adapter = resolve_adapter("default", "default")
    source, cache = resolve_llm("default", None), runtime.settings.model_cache_dir
    merged = widened_gguf(source, cache, adapter)
    assert merged != widened_gguf(source, cache)  # its own cached file, keyed by the adapter
    tuned = LlamaCppGenerator(merged, adapter=adapter)
    reference = TransformersGenerator(llm_dir(runtime.settings), adapter=adapter)
    base = LlamaCppGenerator(widened_gguf(source, cache))
    cases = [("Who is the Brannock lighthouse keeper?",
              ["The Brannock lighthouse keeper is Orla Finnegan; she has kept the lamp since 2011.",
               "The Carrow ferry leaves the north pier at 06:40."]),
             ("When does the Carrow ferry leave?", ["Harbour\nThe Carrow ferry leaves the north pier at 06:40."]),
             ("Who wrote the song?", ["The Carrow ferry leaves the north pier at 06:40."])]
    replies = []
    for question, passages in cases:
        prompt = build_prompt(question, passages)
        replies.append(["".join(g.generate(prompt, 24)) for g in (tuned, reference, base)])
    assert all(llama == peft for llama, peft, _ in replies), replies
    assert any(llama != plain for llama, _, plain in replies), replies  # the adapter changed something


@pytest.mark.slow
def test_ordinary_questions_over_the_samples_are_answered_sensibly(client: TestClient, runtime: Runtime) -> None:
    # With the default settings: the shipped adapter (RAG_LLM__ADAPTER=none in the environment
    # runs the base model, which answers these too). Answers must name the fact and cite it.
    files = [("files", (p.name, p.read_bytes())) for p in sorted(runtime.settings.samples_dir.iterdir())]
    assert client.post("/collections/adapter-samples/documents?wait=true", files=files).status_code == 200
    wrong = []
    for question, expected in QUESTIONS:
        body = client.post("/collections/adapter-samples/query", json={"question": question}).json()
        if expected.lower() not in body["answer"].lower() or not (body["grounded"] and body["citations"]):
            wrong.append((question, body["answer"]))
    assert wrong == [], wrong


@pytest.mark.slow
def test_rag_tune_runs_end_to_end_and_resumes(tmp_path: Path, runtime: Runtime, monkeypatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(16):
        name = f"Person{rng.randint(100, 999)}"
        town = rng.choice(["Alderwick", "Brannock", "Carrow", "Dunmere"])
        rows.append({"_id": f"t{i:05d}", "question": f"Where does {name} live?",
                     "passage": f"{name} lives in {town} and works at the harbour office.", "answer": town,
                     "parametric_answer": "London"})
    data = tmp_path / "train"
    data.mkdir()
    (data / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setenv("RAG_DATA_DIR", str(runtime.settings.data_dir))  # reuse the converted LLM
    out = tmp_path / "run"
    args = ["tune", "--data", str(data), "--out", str(out), "--max-steps", "2", "--holdout", "4",
            "--grad-accum", "2", "--save-every", "1", "--office-examples", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    adapter = out / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size < 10 * 1024 * 1024
    report = json.loads((adapter / "report.json").read_text())
    assert report["steps"] == 2 and report["holdout_examples"] == 4
    assert {"match", "citation", "correct_refusal", "false_refusal"} <= report["holdout"].keys()
    assert report["holdout"]["office_answerable"] + report["holdout"]["office_unanswerable"] == 2
    assert "rag tune --data" in (adapter / "README.md").read_text()
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    # Running again resumes from the last checkpoint instead of starting over.
    caplog.clear()
    with caplog.at_level("INFO", logger="lab.tuning"):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "resuming from" in caplog.text, result.output
    # A test set in BEIR layout is not training data.
    result = CliRunner().invoke(app, ["tune", "--data", str(tmp_path), "--out", str(out)])
    assert result.exit_code != 0 and "train.jsonl" in result.output



def test_generated_office_sections_hold_their_answers_and_are_never_contradicted() -> None:
    from lab.office_data import office_rows
    from lab.tuning import make_examples

    rows = office_rows(300, seed=5)
    assert rows == office_rows(300, seed=5) and rows != office_rows(300, seed=6)  # a seed decides
    for row in rows:
        assert row["answer"] in row["passage"] and row["question"] in row["asks"], row
        assert len(set(row["asks"])) == len(row["asks"]), row  # no question answered twice in a passage
    # Questions are often worded unlike the passage ("Who handles ..." of "... go to ...").
    assert any(row["question"].startswith("Who handles") and "handled" not in row["passage"] for row in rows)
    by_passage = {row["passage"]: row for row in rows}
    assert len(by_passage) == len(rows)
    # Generic questions recur across generated documents with other answers ...
    assert len({row["question"] for row in rows}) < len(rows)
    everyone = [[j for j in range(len(rows)) if j != i] for i in range(len(rows))]
    examples = make_examples(rows, range(len(rows)), everyone, random.Random(1), max_passages=3,
                             refusal_share=0.5)
    assert {e.answer is None for e in examples} == {True, False}
    for example in examples:
        # ... but a passage that answers the question otherwise is never put beside it.
        others = [p for n, p in enumerate(example.passages, start=1) if n != example.gold]
        assert all(example.question not in by_passage[p]["asks"] for p in others), example
        if example.gold is not None:
            # The answer's clause from its sentence, then the citation.
            assert example.answer.lower() in example.target.lower(), example
            assert example.target.endswith(f" [{example.gold}]."), example


def test_the_target_copies_the_sentence_up_to_the_answer() -> None:
    from lab.tuning import MAX_CLAUSE_WORDS, answer_clause

    notes = ("Kestrel frame, release notes\nKestrel 3.2 was released on 14 March 2026. It replaces the "
             "dropouts of Kestrel 3.1. Kestrel 3.1 was released on 2 September 2025 and added cable routing.")
    assert answer_clause(notes, "14 March 2026", "When was Kestrel 3.2 released?") == \
        "Kestrel 3.2 was released on 14 March 2026"
    assert answer_clause(notes, "2 september 2025", "When was Kestrel 3.1 released?") == \
        "Kestrel 3.1 was released on 2 September 2025"  # the passage's spelling
    # Of two mentions, the sentence that shares the question's words.
    twice = "Orla Finnegan sings. The Brannock lighthouse keeper is Orla Finnegan."
    assert answer_clause(twice, "Orla Finnegan", "Who keeps the Brannock lighthouse?") == \
        "The Brannock lighthouse keeper is Orla Finnegan"
    assert answer_clause("- Requests go to Ines Marwood.", "Ines Marwood", "Who?") == "Requests go to Ines Marwood"
    long = " ".join(["word"] * MAX_CLAUSE_WORDS) + " Ines Marwood."
    assert answer_clause(long, "Ines Marwood", "Who?") == "Ines Marwood"  # too long: the bare answer
    assert answer_clause("Nothing here.", "Ines Marwood", "Who?") == "Ines Marwood"
