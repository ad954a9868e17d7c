"""Model seams: chat models and embedders, with built-in backends registered by name.

Use :func:`automuse_rag.models.registry.get_chat_model` and
:func:`automuse_rag.models.registry.get_embedder`; backends import their heavy
dependencies only when constructed.
"""

from automuse_rag.models.base import ChatModel, Embedder, Message, Sampling

__all__ = ["ChatModel", "Embedder", "Message", "Sampling"]
