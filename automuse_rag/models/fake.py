"""First-class test doubles: a scripted chat model and a deterministic embedder.

They implement the same seams as the real backends, so pipeline tests run the
real pipeline code with predictable model behaviour.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from automuse_rag.errors import StructuredOutputError
from automuse_rag.models.base import Capabilities, Message, Sampling, T

Script = Callable[[list[Message], Sampling], str]
_WORD = re.compile(r"\w+", re.UNICODE)


class ScriptedChatModel(Capabilities):
    """Answers from a script: a list of replies consumed in order (strings, or dicts /
    pydantic objects for structured calls), or a function ``(messages, sampling) -> str``.

    Every call is recorded in ``calls`` as ``(kind, messages, sampling)``.
    Tokens are counted as whitespace-separated words plus punctuation (deterministic).
    Its answers are never put in the call cache (``cacheable``): a script is per test.
    """

    cacheable = False

    def __init__(
        self,
        replies: Iterable[Any] | Script | None = None,
        *,
        name: str = "fake:scripted",
        context_window: int = 8192,
        default: str | None = "Once more the story went on.",
    ) -> None:
        self.name = name
        self.context_window = context_window
        self.calls: list[tuple[str, list[Message], Sampling]] = []
        self._fn: Script | None = replies if callable(replies) else None
        self._queue: list[Any] = [] if (replies is None or callable(replies)) else list(replies)
        self._default = default

    def _next(self, messages: list[Message], sampling: Sampling) -> Any:
        if self._fn is not None:
            return self._fn(messages, sampling)
        if self._queue:
            return self._queue.pop(0)
        if self._default is None:
            raise AssertionError("ScriptedChatModel ran out of replies")
        return self._default

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        sampling = sampling or Sampling()
        self.calls.append(("chat", messages, sampling))
        reply = self._next(messages, sampling)
        return reply if isinstance(reply, str) else json.dumps(_plain(reply))

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        sampling = sampling or Sampling()
        self.calls.append(("structured", messages, sampling))
        reply = self._next(messages, sampling)
        if reply is None:
            return None
        try:
            if isinstance(reply, str):
                return schema.model_validate_json(reply)
            return schema.model_validate(_plain(reply))
        except ValidationError as exc:
            raise StructuredOutputError(f"scripted reply does not fit {schema.__name__}: {exc.errors()[0]['msg']}") from None

    def count_tokens(self, text: str) -> int:
        return count_words_and_marks(text)


def _plain(obj: Any) -> Any:
    return obj.model_dump() if isinstance(obj, BaseModel) else obj


def count_words_and_marks(text: str) -> int:
    """A deterministic token count: words and single non-space marks."""
    return len(re.findall(r"\w+|[^\w\s]", text, re.UNICODE))


class HashEmbedder:
    """Deterministic bag-of-words embedding: each lower-cased word is hashed into one of
    ``dimension`` buckets with a sign; vectors are L2-normalised. Texts sharing words
    are close, so retrieval tests behave like real ones."""

    def __init__(self, dimension: int = 64) -> None:
        if dimension < 1:
            raise ValueError(f"HashEmbedder needs a dimension of at least 1, not {dimension}")
        self.dimension = dimension
        self.name = f"hash:{dimension}"
        self.calls = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            vec = [0.0] * self.dimension
            for word in _WORD.findall(text.lower()):
                h = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(h[:4], "little") % self.dimension
                vec[bucket] += 1.0 if h[4] & 1 else -1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out
