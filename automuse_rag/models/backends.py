"""Registers the built-in backends. Each factory imports its module (and that
module's heavy dependencies) only when called."""

from __future__ import annotations

from automuse_rag.models.base import ChatModel, Embedder
from automuse_rag.models.registry import register_chat, register_embedder
from automuse_rag.settings import Settings


@register_chat("fake")
def _fake_chat(model: str | None, settings: Settings) -> ChatModel:
    from automuse_rag.models.fake import ScriptedChatModel

    return ScriptedChatModel()


@register_embedder("hash")
def _hash_embedder(model: str | None, settings: Settings) -> Embedder:
    from automuse_rag.models.fake import HashEmbedder
    from automuse_rag.models.specs import hash_dimension

    return HashEmbedder(dimension=hash_dimension(model))


@register_chat("local")
def _local_chat(model: str | None, settings: Settings) -> ChatModel:
    from pathlib import Path

    from automuse_rag.models.local import LocalChatModel

    # "local:/path/to/model.gguf" loads another GGUF; plain "local" the shipped SmolLM2.
    return LocalChatModel(settings, Path(model) if model else None)


@register_chat("openai")
def _openai_chat(model: str | None, settings: Settings) -> ChatModel:
    from automuse_rag.models.openai_backend import OpenAIChatModel

    return OpenAIChatModel(settings, model)


@register_chat("extractive")
def _extractive_chat(model: str | None, settings: Settings) -> ChatModel:
    from automuse_rag.models.extractive import ExtractiveChatModel

    return ExtractiveChatModel()


@register_embedder("minilm")
def _minilm(model: str | None, settings: Settings) -> Embedder:
    from automuse_rag.models.embedders import MiniLMEmbedder

    return MiniLMEmbedder(settings)


@register_embedder("openai")
def _openai_embedder(model: str | None, settings: Settings) -> Embedder:
    from automuse_rag.models.openai_backend import OpenAIEmbedder

    return OpenAIEmbedder(settings, model)
