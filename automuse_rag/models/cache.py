"""A persistent call cache (SQLite) around any ChatModel.

Each call is keyed by a SHA-256 of the backend's identity (its name plus the server
URL or the model file's path, size and modification time), the call kind, the
messages, the sampling options and (for structured calls) the JSON schema, so
re-running the same work makes no model calls, and another server or model file
never answers from this one's entries. The wrapper counts:

* ``calls``: real model calls (cache misses);
* ``cache_hits``: calls answered from the cache;
* ``prompt_tokens`` / ``completion_tokens``: tokens of every answered call, whether
  it came from the model or the cache (the cost of the work itself, stable across
  re-runs); ``fresh_prompt_tokens`` / ``fresh_completion_tokens`` count only real calls.

Token figures come from the usage each reply carries (:class:`Reply`) where the
backend reports one, else from its ``count_tokens``; they are stored with the answer.

The file is kept under a size limit (``AUTOMUSE_CACHE_MAX_MB``): when the stored
answers outgrow it, the least recently used ones are evicted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel

from automuse_rag.errors import StoreError
from automuse_rag.models.base import (
    ChatModel,
    Message,
    Reply,
    Sampling,
    Usage,
    complete,
    identity_of,
    structured_reply,
)
from automuse_rag.redact import redact

T = TypeVar("T", bound=BaseModel)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    used REAL NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0
)
"""
ROW_OVERHEAD = 64  # bytes counted per entry besides its texts (SQLite's own bookkeeping)


class ModelStats(TypedDict):
    """One row of :meth:`CallCache.stats`: the entries of one model and call kind."""

    model: str
    kind: str
    entries: int
    bytes: int
    prompt_tokens: int
    completion_tokens: int


class CacheStats(TypedDict):
    """What :meth:`CallCache.stats` reports (``automuse cache stats --json`` prints it).
    ``oldest`` / ``last_used`` are UNIX times, None when the cache is empty."""

    path: str
    entries: int
    bytes: int
    file_bytes: int
    max_bytes: int | None
    oldest: float | None
    last_used: float | None
    models: list[ModelStats]


def call_key(model: str, kind: str, messages: Sequence[Message], sampling: Sampling | None, extra: Any = None) -> str:
    """The cache key: a SHA-256 of everything that determines the answer (``model`` is
    the backend's identity, see :func:`automuse_rag.models.base.identity_of`)."""
    payload = {
        "model": model,
        "kind": kind,
        "messages": [dict(m) for m in messages],
        "sampling": (sampling or Sampling()).as_dict(),
        "extra": extra,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def entry_size(key: str, model: str, kind: str, response: str) -> int:
    """The bytes an entry counts against the size limit."""
    return sum(len(t.encode("utf-8")) for t in (key, model, kind, response)) + ROW_OVERHEAD


class CallCache:
    """The SQLite table of answers. Safe to share between threads and processes.
    ``max_bytes`` (None: no limit) bounds the stored entries; the least recently used
    go first."""

    def __init__(self, path: Path, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._last_tick = 0.0

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
                    _migrate(conn)
                    conn.commit()
                except (sqlite3.Error, OSError) as exc:
                    raise StoreError(f"cannot open the call cache {self.path}: {exc} (use --no-cache or fix the path)") from None
                self._connection = conn
            return self._connection

    def _tick(self) -> float:
        """Wall-clock time, strictly increasing within this process (orders uses)."""
        now = max(time.time(), self._last_tick + 1e-6)
        self._last_tick = now
        return now

    def get(self, key: str) -> tuple[str, int, int] | None:
        with self._lock:
            conn = self._conn
            row = conn.execute("SELECT response, prompt_tokens, completion_tokens FROM calls WHERE key = ?", (key,)).fetchone()
            if row:
                conn.execute("UPDATE calls SET used = ? WHERE key = ?", (self._tick(), key))
                conn.commit()
        return (row[0], int(row[1]), int(row[2])) if row else None

    def put(self, key: str, model: str, kind: str, response: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            now = self._tick()
            conn = self._conn
            conn.execute(
                "INSERT OR REPLACE INTO calls (key, model, kind, response, prompt_tokens, completion_tokens, created, used, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, kind, response, prompt_tokens, completion_tokens, now, now, entry_size(key, model, kind, response)),
            )
            if self.max_bytes is not None:
                self._evict(conn, self.max_bytes)
            conn.commit()

    @staticmethod
    def _evict(conn: sqlite3.Connection, max_bytes: int) -> int:
        """Delete least recently used entries until the rest fit ``max_bytes``."""
        total = int(conn.execute("SELECT COALESCE(SUM(size), 0) FROM calls").fetchone()[0])
        if total <= max_bytes:
            return 0
        doomed = []
        for key, size in conn.execute("SELECT key, size FROM calls ORDER BY used, rowid"):
            if total <= max_bytes:
                break
            doomed.append((key,))
            total -= int(size)
        conn.executemany("DELETE FROM calls WHERE key = ?", doomed)
        return len(doomed)

    def keys(self) -> list[str]:
        """Stored keys, least recently used first."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT key FROM calls ORDER BY used, rowid")]

    def stats(self) -> CacheStats:
        """Entries, bytes (counted and on disk), the limit, and a row per model."""
        with self._lock:
            conn = self._conn
            entries, data, oldest, newest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(created), MAX(used) FROM calls"
            ).fetchone()
            models: list[ModelStats] = [
                {"model": m, "kind": k, "entries": int(n), "bytes": int(b), "prompt_tokens": int(p), "completion_tokens": int(c)}
                for m, k, n, b, p, c in conn.execute(
                    "SELECT model, kind, COUNT(*), SUM(size), SUM(prompt_tokens), SUM(completion_tokens)"
                    " FROM calls GROUP BY model, kind ORDER BY SUM(size) DESC"
                )
            ]
        disk = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.is_file())
        return {
            "path": str(self.path),
            "entries": int(entries),
            "bytes": int(data),
            "file_bytes": disk,
            "max_bytes": self.max_bytes,
            "oldest": oldest,
            "last_used": newest,
            "models": models,
        }

    def clear(self) -> int:
        """Remove every entry and shrink the file; returns how many were removed."""
        with self._lock:
            conn = self._conn
            removed = int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
            conn.execute("DELETE FROM calls")
            conn.commit()
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _migrate(conn: sqlite3.Connection) -> None:
    """Caches written before the size limit lack ``used`` and ``size``: add them."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
    if "used" not in columns:
        conn.execute("ALTER TABLE calls ADD COLUMN used REAL NOT NULL DEFAULT 0")
        conn.execute("UPDATE calls SET used = created")
    if "size" not in columns:
        conn.execute("ALTER TABLE calls ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            f"UPDATE calls SET size = length(CAST(key AS BLOB)) + length(CAST(model AS BLOB)) + length(CAST(kind AS BLOB))"
            f" + length(CAST(response AS BLOB)) + {ROW_OVERHEAD}"
        )
    conn.execute("CREATE INDEX IF NOT EXISTS calls_used ON calls (used)")


class CachedChatModel:
    """A ChatModel that answers repeated calls from a :class:`CallCache`.

    With ``cache=None`` nothing is stored (``--no-cache``) but the counters still work.
    Other attributes (e.g. ``summarize``, ``base_url``, the capabilities) pass through
    to the inner model.
    """

    def __init__(self, inner: ChatModel, cache: CallCache | None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.identity = identity_of(inner)
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
    def _usage(self, messages: Sequence[Message], response: str, usage: Usage) -> Usage:
        """The reply's reported usage, else counted with the backend's tokenizer."""
        if usage:
            return usage
        prompt = sum(self.inner.count_tokens(m.get("content", "")) for m in messages)
        return Usage(prompt, self.inner.count_tokens(response))

    def _record(self, hit: bool, usage: Usage) -> None:
        with self._count_lock:
            if hit:
                self.cache_hits += 1
            else:
                self.calls += 1
                self.fresh_prompt_tokens += usage.prompt_tokens
                self.fresh_completion_tokens += usage.completion_tokens
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens

    def _lookup(self, key: str) -> Reply[None] | None:
        if self.cache is None:
            return None
        found = self.cache.get(key)
        if found is None:
            return None
        response, prompt, completion = found
        reply: Reply[None] = Reply(response, Usage(prompt, completion), cached=True)
        self._record(True, reply.usage)
        return reply

    def _store(self, key: str, kind: str, response: str, usage: Usage) -> None:
        self._record(False, usage)
        if self.cache is not None:
            self.cache.put(key, redact(self.identity), kind, response, usage.prompt_tokens, usage.completion_tokens)

    # -- ChatModel --------------------------------------------------------------
    def complete(self, messages: list[Message], sampling: Sampling | None = None) -> Reply[None]:
        key = call_key(self.identity, "chat", messages, sampling)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        reply = complete(self.inner, messages, sampling)
        usage = self._usage(messages, reply.text, reply.usage)
        self._store(key, "chat", reply.text, usage)
        return Reply(reply.text, usage)

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        return self.complete(messages, sampling).text

    def structured_reply(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> Reply[T]:
        key = call_key(self.identity, "structured", messages, sampling, schema.model_json_schema())
        cached = self._lookup(key)
        if cached is not None:
            return Reply(cached.text, cached.usage, schema.model_validate_json(cached.text), cached=True)
        reply = structured_reply(self.inner, messages, schema, sampling)
        if reply.value is None:  # the backend cannot do structured output: nothing to remember
            return reply
        text = reply.value.model_dump_json()
        usage = self._usage(messages, text, reply.usage)
        self._store(key, "structured", text, usage)
        return Reply(text, usage, reply.value)

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        return self.structured_reply(messages, schema, sampling).value

    def complete_many(
        self, conversations: Sequence[list[Message]], sampling: Sampling | None = None, concurrency: int | None = None
    ) -> list[Reply[None]]:
        """Replies for many independent conversations, in order: cached ones from the
        cache, the rest through the inner model's ``complete_many`` (bounded
        concurrency) when it has one, else one by one."""
        keys = [call_key(self.identity, "chat", m, sampling) for m in conversations]
        results: list[Reply[None] | None] = [self._lookup(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            pending = [conversations[i] for i in todo]
            inner_many = getattr(self.inner, "complete_many", None)
            if inner_many is not None:
                answers = inner_many(pending, sampling, concurrency)
            else:
                answers = [complete(self.inner, m, sampling) for m in pending]
            for i, answer in zip(todo, answers):
                usage = self._usage(conversations[i], answer.text, answer.usage)
                self._store(keys[i], "chat", answer.text, usage)
                results[i] = Reply(answer.text, usage)
        return [r for r in results if r is not None]

    def chat_many(
        self, conversations: Sequence[list[Message]], sampling: Sampling | None = None, concurrency: int | None = None
    ) -> list[str]:
        return [r.text for r in self.complete_many(conversations, sampling, concurrency)]

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        scorer = self.inner.continuation_nll  # type: ignore[attr-defined]
        key = call_key(
            self.identity, "nll", [{"role": "user", "content": context}, {"role": "user", "content": continuation}], None
        )
        cached = self._lookup(key)
        if cached is not None:
            nll, n = json.loads(cached.text)
            return float(nll), int(n)
        nll, n = scorer(context, continuation)
        self._store(key, "nll", json.dumps([nll, n]), Usage(n, 0))
        return nll, n
