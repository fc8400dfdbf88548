"""Groundwork: a self-hosted, offline retrieval-augmented generation service."""

import os

# Offline and quiet by default, set before any Hugging Face or unstructured import reads
# them. setdefault: a user who exports HF_HUB_OFFLINE=0 to use a hub model id still can.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # llama.cpp, torch and faiss share one libgomp in this process. Once torch has run a
    # parallel region, libgomp counts more threads than cores and cuts the spin before a
    # waiting thread sleeps from 300,000 to 1,000 iterations: llama.cpp synchronises its
    # threads after every operation, so each token then pays futex wake-ups, and decoding in
    # the service ran at 57-62 tokens/s against 104-113 alone. "ACTIVE" with an explicit spin
    # count keeps the usual spin-then-sleep whatever the thread count (idle threads still
    # sleep); BENCHMARKS.md has the figures. Read when libgomp loads: set before any import.
    "OMP_WAIT_POLICY": "ACTIVE",
    "GOMP_SPINCOUNT": "300000",
}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
