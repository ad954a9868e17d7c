"""The built-in backends' factories, listed by name in
:mod:`automuse_rag.models.registry`'s tables. The backend modules are light; each
imports its heavy libraries (llama_cpp, openai, sentence_transformers) only when a
model is constructed."""

from __future__ import annotations

from pathlib import Path

from automuse_rag.models.base import ChatModel, Embedder
from automuse_rag.models.embedders import MiniLMEmbedder
from automuse_rag.models.extractive import ExtractiveChatModel
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.models.local import LocalChatModel
from automuse_rag.models.openai_backend import OpenAIChatModel, OpenAIEmbedder
from automuse_rag.settings import Settings
from automuse_rag.specs import hash_dimension


def fake_chat(model: str | None, settings: Settings) -> ChatModel:
    return ScriptedChatModel()


def hash_embedder(model: str | None, settings: Settings) -> Embedder:
    return HashEmbedder(dimension=hash_dimension(model))


def local_chat(model: str | None, settings: Settings) -> ChatModel:
    # "local:/path/to/model.gguf" loads another GGUF; plain "local" the shipped SmolLM2.
    return LocalChatModel(settings, Path(model) if model else None)


def openai_chat(model: str | None, settings: Settings) -> ChatModel:
    return OpenAIChatModel(settings, model)


def extractive_chat(model: str | None, settings: Settings) -> ChatModel:
    return ExtractiveChatModel()


def minilm_embedder(model: str | None, settings: Settings) -> Embedder:
    return MiniLMEmbedder(settings)


def openai_embedder(model: str | None, settings: Settings) -> Embedder:
    return OpenAIEmbedder(settings, model)
