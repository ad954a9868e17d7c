"""Backends register by name; specs look like ``local``, ``extractive``,
``openai:gpt-4o-mini`` (the part after the colon is the model).

The built-in backends are listed in the tables below as ``"module:factory"``: a
factory's module (:mod:`automuse_rag.models.backends`) is imported on the first
request for a backend, and each factory imports its backend's heavy libraries only
when called. :func:`register_chat` and :func:`register_embedder` add others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from automuse_rag.errors import InputError
from automuse_rag.models.base import ChatModel, Embedder, capable
from automuse_rag.models.cache import CachedChatModel, CallCache
from automuse_rag.settings import Settings

ChatFactory = Callable[[str | None, Settings], ChatModel]
EmbedderFactory = Callable[[str | None, Settings], Embedder]
F = TypeVar("F", ChatFactory, EmbedderFactory)

_CHAT: dict[str, ChatFactory | str] = {
    "extractive": "automuse_rag.models.backends:extractive_chat",
    "fake": "automuse_rag.models.backends:fake_chat",
    "local": "automuse_rag.models.backends:local_chat",
    "openai": "automuse_rag.models.backends:openai_chat",
}
_EMBED: dict[str, EmbedderFactory | str] = {
    "hash": "automuse_rag.models.backends:hash_embedder",
    "minilm": "automuse_rag.models.backends:minilm_embedder",
    "openai": "automuse_rag.models.backends:openai_embedder",
}


def _factory(entry: F | str) -> F:
    """The factory an entry names (``"module:attribute"``, imported now), or the entry."""
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    factory: F = getattr(importlib.import_module(module), attr)
    return factory


def register_chat(name: str) -> Callable[[ChatFactory], ChatFactory]:
    def deco(factory: ChatFactory) -> ChatFactory:
        _CHAT[name] = factory
        return factory

    return deco


def register_embedder(name: str) -> Callable[[EmbedderFactory], EmbedderFactory]:
    def deco(factory: EmbedderFactory) -> EmbedderFactory:
        _EMBED[name] = factory
        return factory

    return deco


def _split(spec: str) -> tuple[str, str | None]:
    backend, _, model = spec.partition(":")
    return backend.strip().lower(), (model.strip() or None)


def chat_backends() -> list[str]:
    return sorted(_CHAT)


def embedder_backends() -> list[str]:
    return sorted(_EMBED)


def get_chat_model(spec: str, settings: Settings, *, cache: bool | None = None) -> ChatModel:
    """The chat backend for ``spec``, wrapped in the SQLite call cache
    (:class:`automuse_rag.models.cache.CachedChatModel`, at ``settings.cache_path``)
    unless ``cache`` is False (``--no-cache``) or, when None, ``settings.cache`` is.
    Without the cache the wrapper still counts calls and tokens."""
    backend, model = _split(spec)
    if backend not in _CHAT:
        raise InputError(
            f"unknown LLM backend {spec!r}; choose one of: {', '.join(sorted(_CHAT))} (e.g. --llm openai:gpt-4o-mini)"
        )
    inner = _factory(_CHAT[backend])(model, settings)
    if not capable(inner, "cacheable"):  # no model calls (extractive) or a test script (fake)
        return inner
    use_cache = settings.cache if cache is None else cache
    return CachedChatModel(inner, CallCache(settings.cache_path, settings.cache_max_bytes) if use_cache else None)


def get_embedder(spec: str, settings: Settings) -> Embedder:
    backend, model = _split(spec)
    if backend not in _EMBED:
        raise InputError(f"unknown embedder {spec!r}; choose one of: {', '.join(sorted(_EMBED))}")
    return _factory(_EMBED[backend])(model, settings)
