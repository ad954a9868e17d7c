"""A persistent call cache (SQLite) around any ChatModel.

Each call is keyed by a SHA-256 of the backend name, the call kind, the messages,
the sampling options and (for structured calls) the JSON schema, so re-running the
same work makes no model calls. The wrapper counts:

* ``calls``: real model calls (cache misses);
* ``cache_hits``: calls answered from the cache;
* ``prompt_tokens`` / ``completion_tokens``: tokens of every answered call, whether
  it came from the model or the cache (the cost of the work itself, stable across
  re-runs); ``fresh_prompt_tokens`` / ``fresh_completion_tokens`` count only real calls.

Token figures come from the backend's reported usage (``last_usage``) where it has
one, else from its ``count_tokens``; they are stored with the answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from automuse_rag.errors import StoreError
from automuse_rag.models.base import ChatModel, Message, Sampling

T = TypeVar("T", bound=BaseModel)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


def call_key(model: str, kind: str, messages: Sequence[Message], sampling: Sampling | None, extra: Any = None) -> str:
    """The cache key: a SHA-256 of everything that determines the answer."""
    payload = {
        "model": model,
        "kind": kind,
        "messages": [dict(m) for m in messages],
        "sampling": (sampling or Sampling()).as_dict(),
        "extra": extra,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallCache:
    """The SQLite table of answers. Safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        """Opened on first use, so a model used only to count tokens creates no file."""
        with self._lock:
            if self._connection is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(_SCHEMA)
                    conn.commit()
                except (sqlite3.Error, OSError) as exc:
                    raise StoreError(f"cannot open the call cache {self.path}: {exc} (use --no-cache or fix the path)") from None
                self._connection = conn
            return self._connection

    def get(self, key: str) -> tuple[str, int, int] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT response, prompt_tokens, completion_tokens FROM calls WHERE key = ?", (key,)
            ).fetchone()
        return (row[0], int(row[1]), int(row[2])) if row else None

    def put(self, key: str, model: str, kind: str, response: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, model, kind, response, prompt_tokens, completion_tokens, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class CachedChatModel:
    """A ChatModel that answers repeated calls from a :class:`CallCache`.

    With ``cache=None`` nothing is stored (``--no-cache``) but the counters still work.
    Other attributes (e.g. ``summarize``, ``base_url``) pass through to the inner model.
    """

    def __init__(self, inner: ChatModel, cache: CallCache | None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.context_window = inner.context_window
        self.calls = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.fresh_prompt_tokens = 0
        self.fresh_completion_tokens = 0
        self._count_lock = threading.Lock()
        if callable(getattr(inner, "continuation_nll", None)):
            # Only scoring backends expose it, so isinstance(model, LogprobModel) stays honest.
            self.continuation_nll = self._continuation_nll

    def __getattr__(self, item: str) -> Any:
        # Only reached for attributes not defined here.
        return getattr(self.inner, item)

    # -- bookkeeping ------------------------------------------------------------
    def _usage(self, messages: Sequence[Message], response: str, reported: bool = True) -> tuple[int, int]:
        usage = getattr(self.inner, "last_usage", None) if reported else None
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            return int(usage.prompt_tokens), int(usage.completion_tokens)
        prompt = sum(self.inner.count_tokens(m.get("content", "")) for m in messages)
        return prompt, self.inner.count_tokens(response)

    def _record(self, hit: bool, prompt: int, completion: int) -> None:
        with self._count_lock:
            if hit:
                self.cache_hits += 1
            else:
                self.calls += 1
                self.fresh_prompt_tokens += prompt
                self.fresh_completion_tokens += completion
            self.prompt_tokens += prompt
            self.completion_tokens += completion

    def _lookup(self, key: str) -> str | None:
        if self.cache is None:
            return None
        found = self.cache.get(key)
        if found is None:
            return None
        response, prompt, completion = found
        self._record(True, prompt, completion)
        return response

    def _store(
        self, key: str, kind: str, messages: Sequence[Message], response: str, usage: tuple[int, int] | None = None
    ) -> None:
        prompt, completion = usage if usage is not None else self._usage(messages, response)
        self._record(False, prompt, completion)
        if self.cache is not None:
            self.cache.put(key, self.name, kind, response, prompt, completion)

    # -- ChatModel --------------------------------------------------------------
    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        key = call_key(self.name, "chat", messages, sampling)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        response = self.inner.chat(messages, sampling)
        self._store(key, "chat", messages, response)
        return response

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        key = call_key(self.name, "structured", messages, sampling, schema.model_json_schema())
        cached = self._lookup(key)
        if cached is not None:
            return schema.model_validate_json(cached)
        result = self.inner.structured(messages, schema, sampling)
        if result is None:  # the backend cannot do structured output: nothing to remember
            return None
        self._store(key, "structured", messages, result.model_dump_json())
        return result

    def chat_many(
        self, conversations: Sequence[list[Message]], sampling: Sampling | None = None, concurrency: int | None = None
    ) -> list[str]:
        """Answers for many independent conversations, in order: cached ones from the
        cache, the rest through the inner model's ``chat_many`` (bounded concurrency)
        when it has one, else one by one."""
        keys = [call_key(self.name, "chat", m, sampling) for m in conversations]
        results: list[str | None] = [self._lookup(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            pending = [conversations[i] for i in todo]
            inner_many = getattr(self.inner, "chat_many", None)
            if inner_many is not None:
                answers = inner_many(pending, sampling, concurrency)
            else:
                answers = [self.inner.chat(m, sampling) for m in pending]
            for i, answer in zip(todo, answers):
                usage = self._usage(conversations[i], answer, reported=False)  # last_usage is per call
                self._store(keys[i], "chat", conversations[i], answer, usage)
                results[i] = answer
        return [r for r in results if r is not None]

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        scorer = self.inner.continuation_nll  # type: ignore[attr-defined]
        key = call_key(self.name, "nll", [{"role": "user", "content": context}, {"role": "user", "content": continuation}], None)
        cached = self._lookup(key)
        if cached is not None:
            nll, n = json.loads(cached)
            return float(nll), int(n)
        nll, n = scorer(context, continuation)
        self._store(key, "nll", [], json.dumps([nll, n]), usage=(n, 0))
        return nll, n


def parallel_map(fn: Any, items: Sequence[Any], concurrency: int) -> list[Any]:
    """``[fn(x) for x in items]`` with at most ``concurrency`` in flight, in order."""
    if concurrency <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(fn, items))
