"""Backends register by name; specs look like ``local``, ``extractive``,
``openai:gpt-4o-mini`` (the part after the colon is the model)."""

from __future__ import annotations

from collections.abc import Callable

from automuse_rag.errors import InputError
from automuse_rag.models.base import ChatModel, Embedder, capable
from automuse_rag.settings import Settings

ChatFactory = Callable[[str | None, Settings], ChatModel]
EmbedderFactory = Callable[[str | None, Settings], Embedder]

_CHAT: dict[str, ChatFactory] = {}
_EMBED: dict[str, EmbedderFactory] = {}


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


def _load_builtins() -> None:
    # Importing the modules registers them; each imports heavy libraries lazily.
    from automuse_rag.models import backends  # noqa: F401


def chat_backends() -> list[str]:
    _load_builtins()
    return sorted(_CHAT)


def embedder_backends() -> list[str]:
    _load_builtins()
    return sorted(_EMBED)


def get_chat_model(spec: str, settings: Settings, *, cache: bool | None = None) -> ChatModel:
    """The chat backend for ``spec``, wrapped in the SQLite call cache
    (:class:`automuse_rag.models.cache.CachedChatModel`, at ``settings.cache_path``)
    unless ``cache`` is False (``--no-cache``) or, when None, ``settings.cache`` is.
    Without the cache the wrapper still counts calls and tokens."""
    _load_builtins()
    backend, model = _split(spec)
    if backend not in _CHAT:
        raise InputError(
            f"unknown LLM backend {spec!r}; choose one of: {', '.join(sorted(_CHAT))} (e.g. --llm openai:gpt-4o-mini)"
        )
    inner = _CHAT[backend](model, settings)
    if not capable(inner, "cacheable"):  # no model calls (extractive) or a test script (fake)
        return inner
    from automuse_rag.models.cache import CachedChatModel, CallCache

    use_cache = settings.cache if cache is None else cache
    return CachedChatModel(inner, CallCache(settings.cache_path, settings.cache_max_bytes) if use_cache else None)


def get_embedder(spec: str, settings: Settings) -> Embedder:
    _load_builtins()
    backend, model = _split(spec)
    if backend not in _EMBED:
        raise InputError(f"unknown embedder {spec!r}; choose one of: {', '.join(sorted(_EMBED))}")
    return _EMBED[backend](model, settings)
