"""GGUF surgery: rewrite a quantized GGUF as float16 or 8-bit (Q8_0) weights (with a LoRA
adapter merged), or convert it once to safetensors for the transformers backend. Results are
cached under data/models."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag.errors import ModelUnavailable
from rag.files import atomic_path
from rag.models import LLMSource

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


RewrittenWeights = Literal["f16", "q8_0"]


def widened_gguf(source: LLMSource, cache_root: Path, adapter: Path | None = None,
                 weights: RewrittenWeights = "f16") -> Path:
    """The GGUF with every quantized tensor dequantized (and a LoRA adapter, if given, merged
    into the weights), then written as float16 or as Q8_0 matrices once under cache_root;
    return its path.

    llama.cpp multiplies 4-bit weights by 8-bit-quantized activations, and with SmolLM2-135M
    that changes answers (an end-to-end test's organiser became "Lantern Festival"). From
    float16 weights it answers like the float32 transformers path and is still ~6x faster.
    Q8_0 (8-bit blocks of 32 with a float16 scale, quantized after the merge) reads half the
    bytes per token of float16; EVALUATION.md and BENCHMARKS.md compare its answers and speed.
    Merging the adapter here lets the tuned model run on llama.cpp at the base model's speed.
    Written under a temporary name and renamed, so a crash never leaves half a file.
    """
    import gguf

    if source.gguf_file is None:
        raise ValueError("only GGUF sources are widened")
    original = Path(source.model) / source.gguf_file
    raw = f"{original.resolve()}|{original.stat().st_size}|{weights}-v2"
    if adapter is not None:
        raw += "|" + _adapter_digest(adapter)
    key = hashlib.sha256(raw.encode()).hexdigest()[:16]
    target = cache_root / f"gguf-{weights.replace('_', '')}-{key}.gguf"
    if target.exists():
        return target
    log.info("writing %s with %s weights%s once (seconds); cached as %s", original.name, weights,
             f" and the adapter {adapter.name} merged" if adapter else "", target)
    reader = gguf.GGUFReader(original)
    deltas = lora_deltas(adapter, reader) if adapter is not None else {}
    with atomic_path(target) as tmp:
        _write_widened(gguf.GGUFWriter(tmp, reader.fields[gguf.Keys.General.ARCHITECTURE].contents()),
                       reader, deltas, weights)
    return target


def _write_widened(writer, reader, deltas: dict, weights_kind: RewrittenWeights) -> None:
    import gguf
    import numpy as np
    from gguf.quants import dequantize, quantize

    q8 = gguf.GGMLQuantizationType.Q8_0
    block = gguf.GGML_QUANT_SIZES[q8][0]

    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_F16 if weights_kind == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_key_value(field.name, value, kind,
                             sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    for tensor in reader.tensors:
        weights = dequantize(tensor.data, tensor.tensor_type)
        if tensor.name in deltas:
            weights = weights.astype(np.float32) + deltas[tensor.name]
        if weights.ndim == 1:
            # Norm vectors stay float32, as llama.cpp's own converter writes them.
            writer.add_tensor(tensor.name, weights.astype(np.float32))
        elif weights_kind == "q8_0" and weights.shape[-1] % block == 0 and tensor.name not in _KEEP_F16:
            writer.add_tensor(tensor.name, quantize(weights.astype(np.float32), q8), raw_dtype=q8)
        else:
            writer.add_tensor(tensor.name, weights.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# Kept float16 in the Q8_0 copy: the token embeddings, which SmolLM2 also uses as its output
# projection (tied), so their rounding moves every logit and flipped near-ties of greedy
# decoding; the other matrices take the 8-bit blocks.
_KEEP_F16 = {"token_embd.weight", "output.weight"}

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
    tokenizer = AutoTokenizer.from_pretrained(source.model, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.model, gguf_file=source.gguf_file)
    # The GGUF loader leaves a "gguf" quantizer on the model although the weights in memory
    # are already dequantized float tensors; drop it so they can be saved as plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_path(target) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
