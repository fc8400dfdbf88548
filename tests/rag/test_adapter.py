"""The shipped LoRA adapter: loaded by default, switchable off, harmless to ordinary
questions; `rag tune` works end to end on a tiny generated dataset."""

from __future__ import annotations

import json
import random
from pathlib import Path

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
    ("What is the door code of the Alderwick workshop this quarter?", "5-K-19"),
    ("What time does the weekly members' meeting start?", "10:15"),
]


def test_adapter_setting_resolves() -> None:
    assert resolve_adapter("none", "default") is None
    assert resolve_adapter("default", "/some/other/model") is None  # trained for the default model only
    assert resolve_adapter("default", "default") == DEFAULT_ADAPTER
    assert (DEFAULT_ADAPTER / "adapter_config.json").exists() and (DEFAULT_ADAPTER / "README.md").exists()
    with pytest.raises(ModelUnavailable, match="adapter_config.json"):
        resolve_adapter("/nonexistent/adapter", "default")


def test_the_default_runtime_runs_the_adapter(runtime: Runtime) -> None:
    assert runtime.generator.adapter == DEFAULT_ADAPTER


@pytest.mark.slow
def test_ordinary_questions_over_the_samples_are_answered_sensibly(client: TestClient, runtime: Runtime) -> None:
    files = [("files", (p.name, p.read_bytes())) for p in sorted(runtime.settings.samples_dir.iterdir())]
    assert client.post("/collections/adapter-samples/documents", files=files).status_code == 200
    for question, expected in QUESTIONS:
        body = client.post("/collections/adapter-samples/query", json={"question": question}).json()
        assert expected.lower() in body["answer"].lower(), (question, body["answer"])
        assert body["grounded"] and body["citations"], body


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
            "--grad-accum", "2", "--save-every", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    adapter = out / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size < 10 * 1024 * 1024
    report = json.loads((adapter / "report.json").read_text())
    assert report["steps"] == 2 and report["holdout_examples"] == 4
    assert {"match", "citation", "correct_refusal", "false_refusal"} <= report["holdout"].keys()
    assert "rag tune --data" in (adapter / "README.md").read_text()
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    # Running again resumes from the last checkpoint instead of starting over.
    caplog.clear()
    with caplog.at_level("INFO", logger="rag.tuning"):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "resuming from" in caplog.text, result.output
    # A test set in BEIR layout is not training data.
    result = CliRunner().invoke(app, ["tune", "--data", str(tmp_path), "--out", str(out)])
    assert result.exit_code != 0 and "train.jsonl" in result.output

