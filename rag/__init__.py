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
}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
