"""Run ``automuse ARGS...`` in this process and write where its time went as JSON to
``$CLI_PROBE_OUT``: ``imports`` (every import, lazy ones too), ``model load``
(embedder, llama.cpp model or vocabulary), ``store open`` (the Chroma client) and
``work`` (the rest), each exclusive of the others, plus the wall and CPU seconds from
this script's start. A region run by another thread (the query embedder loading while
Chroma opens) overlaps these and is reported apart (``background``, wall seconds). ``benchmarks/cli.py`` runs it; the command's output goes where
stdout goes.

Usage: python benchmarks/cli_probe.py ARGS...   (PYTHONPATH picks the checkout)
"""

from __future__ import annotations

import time

START, CPU_START = time.perf_counter(), time.process_time()

import builtins  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

totals: dict[str, float] = {"imports": 0.0, "model load": 0.0, "store open": 0.0}
cpu_totals: dict[str, float] = dict.fromkeys(totals, 0.0)  # the same, in CPU seconds of the process
stack: list[list[float]] = []  # [wall, CPU seconds spent in nested regions] per open region (main thread)
#: Regions run by other threads (the query embedder loading while Chroma opens): their
#: wall time overlaps the main thread's, so it is reported apart, not in the parts.
background: dict[str, float] = {}

#: (module, attribute, category): functions timed once their module is imported.
TIMED = [
    ("automuse_rag.models.embedders", "load_sentence_transformer", "model load"),
    ("automuse_rag.models.local", "load_llama", "model load"),
    ("automuse_rag.models.local", "load_vocab", "model load"),
    ("automuse_rag.memory.chroma_client", "connect", "store open"),
    ("automuse_rag.memory.store", "connect", "store open"),
]
TIMED_METHODS = [("automuse_rag.models.onnx_minilm", "OnnxMiniLM", "__init__", "model load")]
_patched: set[tuple[str, ...]] = set()


def timed(category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                background[category] = background.get(category, 0.0) + time.perf_counter() - began
        began, began_cpu = time.perf_counter(), time.process_time()
        stack.append([0.0, 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed, used = time.perf_counter() - began, time.process_time() - began_cpu
            nested, nested_cpu = stack.pop()
            totals[category] += elapsed - nested
            cpu_totals[category] += used - nested_cpu
            if stack:
                stack[-1][0] += elapsed
                stack[-1][1] += used

    return wrapper


def _patch_loaded() -> None:
    for module, attr, category in TIMED:
        mod = sys.modules.get(module)
        if mod is not None and (module, attr) not in _patched and hasattr(mod, attr):
            _patched.add((module, attr))
            setattr(mod, attr, timed(category, getattr(mod, attr)))
    for module, cls, attr, category in TIMED_METHODS:
        mod = sys.modules.get(module)
        if mod is not None and (module, cls, attr) not in _patched and hasattr(mod, cls):
            _patched.add((module, cls, attr))
            klass = getattr(mod, cls)
            setattr(klass, attr, timed(category, getattr(klass, attr)))


_import = timed("imports", builtins.__import__)
_import_module = timed("imports", importlib.import_module)


def _traced_import(*args: Any, **kwargs: Any) -> Any:
    module = _import(*args, **kwargs)
    if not stack:
        _patch_loaded()
    return module


def _traced_import_module(*args: Any, **kwargs: Any) -> Any:
    module = _import_module(*args, **kwargs)
    if not stack:
        _patch_loaded()
    return module


def report() -> None:
    wall, cpu = time.perf_counter() - START, time.process_time() - CPU_START
    out = {**totals, "work": wall - sum(totals.values()), "wall": wall, "cpu": cpu}
    out["cpu parts"] = {**cpu_totals, "work": cpu - sum(cpu_totals.values())}
    out["background"] = background
    path = os.environ.get("CLI_PROBE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(out, handle)


def main() -> None:
    builtins.__import__ = _traced_import
    importlib.import_module = _traced_import_module
    sys.argv = ["automuse", *sys.argv[1:]]
    code: Any = 0
    try:
        runpy.run_module("automuse_rag", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    report()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
