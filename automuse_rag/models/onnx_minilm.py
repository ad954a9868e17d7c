"""all-MiniLM-L6-v2 without torch, for one-shot commands: the shipped model exported
once to ONNX and run with onnxruntime, its tokenizer read by ``tokenizers``.

The export (``export_onnx``) is the sentence-transformers model's own transformer with
its mean pooling and L2 normalisation in the graph, so a vector equals
sentence-transformers' to float rounding (``tests/test_models_onnx.py`` checks the
cosine within 1e-4, long texts truncated at ``max_seq_length`` as it does). It is
cached under ``HOME/stores/.cache/onnx/``, named by a SHA-256 of the weights and the
export format: new weights or a new format make a new file. Hashing 90 MB costs more
than a query, so the hash is remembered per weight file by size and mtime
(``fingerprints.json``) and computed again only when they change.

onnxruntime and tokenizers are imported when a session is made; torch only to export.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automuse_rag.fsutil import atomic_path, files_fingerprint

EXPORT_FORMAT = 1  # bump when the exported graph changes: old files are not reused
WEIGHT_FILES = ("model.safetensors", "config.json")  # what the export is made of
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
FINGERPRINTS = "fingerprints.json"
BATCH = 32

Exporter = Callable[[Any, Path], None]


def onnx_cache_dir(home: Path) -> Path:
    return home / "stores" / ".cache" / "onnx"


def weights_fingerprint(model_dir: Path, cache_dir: Path) -> str:
    """SHA-256 of the model's weight files, remembered in ``cache_dir`` by their size
    and mtime (a changed file is hashed again)."""
    files = [model_dir / name for name in WEIGHT_FILES if (model_dir / name).is_file()]
    return files_fingerprint(files, str(model_dir.resolve()), cache_dir / FINGERPRINTS)


def onnx_file(model_dir: Path, cache_dir: Path) -> Path:
    """Where the export of the weights in ``model_dir`` is (or will be) cached."""
    return cache_dir / f"all-MiniLM-L6-v2-{weights_fingerprint(model_dir, cache_dir)[:20]}-f{EXPORT_FORMAT}.onnx"


def ensure_onnx(model_dir: Path, cache_dir: Path, load_model: Callable[[], Any], export: Exporter | None = None) -> Path:
    """The cached export for ``model_dir``'s weights, made now (with the model
    ``load_model`` returns) if there is none. Written atomically: a process racing
    this one reads the old state or a whole file."""
    target = onnx_file(model_dir, cache_dir)
    if not target.is_file():
        with atomic_path(target) as tmp:
            (export or export_onnx)(load_model(), tmp)
    return target


def export_onnx(model: Any, target: Path) -> None:
    """Export a SentenceTransformer (Transformer, mean Pooling, Normalize) to ``target``:
    inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (batch x tokens, int64),
    output ``embedding`` (batch x 384), pooled and normalised as sentence-transformers does."""
    import torch
    from torch.nn import functional

    bert = model[0].auto_model
    previous = bert.config._attn_implementation
    bert.set_attn_implementation("eager")  # traces with the padding mask kept (sdpa may drop it)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            tokens = hidden.last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return functional.normalize(mean, p=2, dim=1)

    ids = torch.full((2, 8), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row, so the mask is traced as data
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    try:
        with torch.no_grad(), _without_onnx_package(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's and the legacy exporter's notes, about other models' graphs
            torch.onnx.export(
                Pooled().eval(),
                (ids, mask, torch.zeros_like(ids)),
                str(target),
                input_names=list(INPUTS),
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
    finally:
        bert.set_attn_implementation(previous)


class _without_onnx_package:
    """torch's TorchScript exporter imports the ``onnx`` package only to add custom
    onnxscript functions to the file; this model has none. Without ``onnx`` installed
    that step is skipped (the bytes pass through unchanged)."""

    def __enter__(self) -> None:
        self._patched: tuple[Any, Any] | None = None
        if importlib.util.find_spec("onnx") is None:
            from torch.onnx._internal.torchscript_exporter import onnx_proto_utils

            self._patched = (onnx_proto_utils, onnx_proto_utils._add_onnxscript_fn)
            onnx_proto_utils._add_onnxscript_fn = lambda model_bytes, custom_opsets: model_bytes

    def __exit__(self, *exc: object) -> None:
        if self._patched is not None:
            module, original = self._patched
            module._add_onnxscript_fn = original


class OnnxMiniLM:
    """Runs the export: the tokenizer truncates at the model's ``max_seq_length`` and
    pads each batch to its longest text, as sentence-transformers does."""

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # onnxruntime's pool spins after each run by default; in a process that also runs
        # llama.cpp (compare, generate) the spinning threads took the cores llama.cpp's
        # own threads wait on, and a next-chunk scoring took 10 s instead of 2
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            encodings = self.tokenizer.encode_batch(texts[start : start + BATCH])
            width = max(len(e.ids) for e in encodings)
            arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUTS}
            for row, e in enumerate(encodings):
                arrays["input_ids"][row, : len(e.ids)] = e.ids
                arrays["attention_mask"][row, : len(e.ids)] = e.attention_mask
                arrays["token_type_ids"][row, : len(e.ids)] = e.type_ids
            with self._lock:
                (vectors,) = self.session.run(["embedding"], arrays)
            out.extend(vectors.astype(float).tolist())
        return out
