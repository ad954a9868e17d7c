"""Write a LoRA-tuned SmolLM2 as a GGUF that the existing ``local`` backend loads.

Why a GGUF and not a new transformers backend: the base weights the trainer starts
from *are* the shipped GGUF (transformers dequantizes it exactly: every tensor equals
``gguf.quants.dequantize`` of the file's tensor, with the Q and K projections' rows
permuted back to Hugging Face order). So the tuned model is the original file with
each LoRA-targeted tensor replaced by ``dequantize(original) + delta`` (the delta
permuted into llama.cpp's row order for Q and K); every other tensor (embeddings,
norms, untargeted projections) is copied byte for byte, still quantized, and all the
metadata (tokenizer, chat template, context length) is kept. ``--llm local:FILE.gguf``
then writes, structures (llama.cpp's JSON grammar) and scores (``continuation_nll``)
with the tuned model, with no new backend. It needs only the ``gguf`` package from
PyPI (llama.cpp's Python reader/writer), no llama.cpp source.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

# Hugging Face Llama module names -> GGUF tensor names (per block).
HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_MODULE = re.compile(r"layers\.(\d+)\.((?:self_attn|mlp)\.\w+)$")
DTYPES = ("f32", "f16")


def permute_rows(weight: Any, n_head: int) -> Any:
    """Hugging Face -> llama.cpp row order of a Q or K projection (rotary halves
    interleaved per head), as llama.cpp's converter does."""
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_tensor_name(module_name: str) -> tuple[str, str] | None:
    """``base_model.model.model.layers.3.self_attn.q_proj`` -> (``blk.3.attn_q.weight``, ``attn_q``)."""
    match = _MODULE.search(module_name)
    if not match or match.group(2) not in HF_TO_GGUF:
        return None
    kind = HF_TO_GGUF[match.group(2)]
    return f"blk.{match.group(1)}.{kind}.weight", kind


def lora_deltas(peft_model: Any, n_head: int, n_head_kv: int) -> dict[str, Any]:
    """``{gguf tensor name: delta in llama.cpp layout}`` for every LoRA-adapted linear layer."""
    from peft.tuners.lora import LoraLayer

    deltas: dict[str, Any] = {}
    for name, module in peft_model.named_modules():
        if not isinstance(module, LoraLayer) or not module.active_adapters:
            continue
        target = gguf_tensor_name(name)
        if target is None:
            raise ValueError(f"cannot map the adapted module {name} to a GGUF tensor")
        tensor_name, kind = target
        # get_delta_weight is defined by LoraLayer's concrete subclasses (lora.Linear), not the base peft types.
        delta: Any = sum(module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A)  # type: ignore[attr-defined]
        array = delta.detach().float().cpu().numpy()
        if kind == "attn_q":
            array = permute_rows(array, n_head)
        elif kind == "attn_k":
            array = permute_rows(array, n_head_kv)
        deltas[tensor_name] = array
    return deltas


def deltas_from_adapter(adapter_dir: Path, n_head: int, n_head_kv: int) -> dict[str, Any]:
    """The same deltas as :func:`lora_deltas`, from a saved peft adapter directory
    (``adapter_config.json`` + ``adapter_model.safetensors``), without torch or peft:
    ``B @ A * alpha / r`` per module. Merges an adapter again, e.g. at another dtype."""
    import json

    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_rslora"):
        raise ValueError("only plain LoRA adapters (no DoRA, rsLoRA or per-module ranks) can be merged here")
    scale = float(config["lora_alpha"]) / float(config["r"])
    weights = load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))
    deltas: dict[str, Any] = {}
    for key in weights:
        if not key.endswith(".lora_A.weight"):
            continue
        module = key[: -len(".lora_A.weight")]
        target = gguf_tensor_name(module)
        if target is None:
            raise ValueError(f"cannot map the adapted module {module} to a GGUF tensor")
        tensor_name, kind = target
        a = weights[key].astype(np.float32)
        b = weights[module + ".lora_B.weight"].astype(np.float32)
        delta = (b @ a) * scale
        if kind == "attn_q":
            delta = permute_rows(delta, n_head)
        elif kind == "attn_k":
            delta = permute_rows(delta, n_head_kv)
        deltas[tensor_name] = delta
    return deltas


def _field_value(reader: Any, key: str) -> Any:
    """The value of a GGUF metadata field that a llama GGUF always has."""
    field = reader.get_field(key)
    if field is None:
        raise ValueError(f"the GGUF has no {key} metadata")
    return field.contents()


def head_counts(gguf_path: Path) -> tuple[int, int]:
    """(attention heads, key/value heads) from a llama GGUF's metadata."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    arch = _field_value(reader, "general.architecture")
    n_head = int(_field_value(reader, f"{arch}.attention.head_count"))
    kv = reader.get_field(f"{arch}.attention.head_count_kv")
    return n_head, int(kv.contents()) if kv is not None else n_head


def write_merged_gguf(base: Path, out: Path, deltas: dict[str, Any], *, dtype: str = "f32", name: str | None = None) -> Path:
    """Copy ``base`` to ``out`` with ``deltas`` added to their tensors (written as
    ``dtype``); everything else byte for byte. Written to a temp name, then renamed."""
    import gguf
    import numpy as np
    from gguf.quants import dequantize

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}")
    np_dtype, ggml_type = (
        (np.float32, gguf.GGMLQuantizationType.F32) if dtype == "f32" else (np.float16, gguf.GGMLQuantizationType.F16)
    )
    reader = gguf.GGUFReader(str(base))
    missing = set(deltas) - {t.name for t in reader.tensors}
    if missing:
        raise ValueError(f"{base} has no tensors {sorted(missing)[:3]}")
    arch = _field_value(reader, "general.architecture")
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=arch, endianess=reader.endianess)
    try:
        for field in reader.fields.values():
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
                continue
            value = name if (field.name == gguf.Keys.General.NAME and name) else field.contents()
            vtype = field.types[0]
            sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, value, vtype, sub_type=sub_type)
        merged: dict[str, Any] = {}
        for tensor in reader.tensors:
            if tensor.name in deltas:
                weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
                if weight.shape != deltas[tensor.name].shape:
                    raise ValueError(f"{tensor.name}: delta {deltas[tensor.name].shape} vs weight {weight.shape}")
                merged[tensor.name] = (weight + deltas[tensor.name]).astype(np_dtype)
                data = merged[tensor.name]
                writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, ggml_type)
            else:
                writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            data = merged.get(tensor.name)
            writer.write_tensor_data(data if data is not None else tensor.data, tensor_endianess=reader.endianess)
        writer.close()
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
