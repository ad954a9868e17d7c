"""Registers the built-in backends. Each factory imports its module (and that
module's heavy dependencies) only when called."""

from __future__ import annotations

from automuse_rag.models.registry import register_chat, register_embedder


@register_chat("fake")
def _fake_chat(model, settings):
    from automuse_rag.models.fake import ScriptedChatModel

    return ScriptedChatModel()


@register_embedder("hash")
def _hash_embedder(model, settings):
    from automuse_rag.models.fake import HashEmbedder

    return HashEmbedder(dimension=int(model) if model else 64)
