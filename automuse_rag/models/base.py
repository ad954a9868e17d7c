"""The two model seams.

ChatModel: ``chat`` (text), ``structured`` (a validated pydantic object),
``count_tokens`` and ``context_window``. Embedder: ``embed`` plus the ``name`` and
``dimension`` that a store records.

Backends that report token usage also offer ``complete`` / ``structured_reply``,
which return a :class:`Reply`: the answer together with the usage of the call(s)
that produced it, so usage never lives in shared state on the backend. What a
backend can do is declared by class attributes (:class:`Capabilities`), never
inferred from its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

# Sampling lives below the model seams (settings holds its defaults); re-exported here.
from automuse_rag.sampling import Sampling as Sampling, SamplingChanges as SamplingChanges

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the backend reported them (0 when it did not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    def __bool__(self) -> bool:
        return bool(self.prompt_tokens or self.completion_tokens)


@dataclass(frozen=True)
class Reply(Generic[V]):
    """One answer and the usage of the call(s) that produced it. ``value`` is the
    validated object of a structured call (``Reply[T]``; a plain completion is a
    ``Reply[None]``); ``cached`` says it came from the call cache."""

    text: str
    usage: Usage = field(default_factory=Usage)
    value: V | None = None
    cached: bool = False


class Capabilities:
    """What a chat backend can do, as class attributes (defaults for a plain model).

    ``can_chat``: writes prose; ``can_structure``: can return schema-validated objects;
    ``can_score``: has ``continuation_nll``; ``cacheable``: its answers may be kept in
    the call cache; ``remote``: calls go over the network (worth running in parallel).
    """

    can_chat: bool = True
    can_structure: bool = True
    can_score: bool = False
    cacheable: bool = True
    remote: bool = False


def capable(model: object, capability: str) -> bool:
    """``model``'s declared capability (``"can_chat"``, ``"remote"``...); objects that
    declare nothing get :class:`Capabilities`' defaults, ``None`` has none."""
    if model is None:
        return False
    return bool(getattr(model, capability, getattr(Capabilities, capability)))


def identity_of(model: object) -> str:
    """What identifies the answers of ``model`` (server URL / model file included),
    for cache keys and recorded capabilities; falls back to its name."""
    return str(getattr(model, "identity", None) or getattr(model, "name", type(model).__name__))


@runtime_checkable
class ChatModel(Protocol):
    """A chat model. ``name`` identifies backend and model, e.g. ``local:SmolLM2-135M-Instruct``."""

    name: str
    context_window: int

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        """One completion for the conversation."""
        ...

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        """A validated object of ``schema``. ``None`` means the backend cannot produce
        structured output at all (the caller falls back); invalid output raises
        :class:`automuse_rag.errors.StructuredOutputError`."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer (never an undercount)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Embeds texts. ``name`` and ``dimension`` are recorded with a store's data."""

    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector (read-only: a backend may learn it from its first answer)."""
        ...

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def complete(model: ChatModel, messages: list[Message], sampling: Sampling | None = None) -> Reply[None]:
    """``model.complete`` when it has one, else its ``chat`` text with no usage."""
    fn: Callable[[list[Message], Sampling | None], Reply[None]] | None = getattr(model, "complete", None)
    return fn(messages, sampling) if fn is not None else Reply(model.chat(messages, sampling))


def structured_reply(model: ChatModel, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> Reply[T]:
    """``model.structured_reply`` when it has one, else ``structured`` with no usage
    (``value`` None when the backend has no structured output)."""
    fn: Callable[[list[Message], type[T], Sampling | None], Reply[T]] | None = getattr(model, "structured_reply", None)
    if fn is not None:
        return fn(messages, schema, sampling)
    value = model.structured(messages, schema, sampling)
    return Reply(value.model_dump_json() if value is not None else "", value=value)


def sampling_from_settings(settings: object) -> Sampling:
    """The sampling defaults from :class:`automuse_rag.settings.Settings` (or any object
    with the same attribute names); missing attributes keep :class:`Sampling`'s defaults."""
    base = Sampling()
    values = {
        name: getattr(settings, name, getattr(base, name))
        for name in ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty", "seed")
    }
    stop = getattr(settings, "stop", None)
    if stop:
        values["stop"] = tuple(stop)
    return Sampling(**values)


@runtime_checkable
class LogprobModel(Protocol):
    """A model that can score text: used by compare to measure how well memory predicts
    the real continuation of a book."""

    def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        """(mean negative log-likelihood per token of ``continuation`` given ``context``,
        number of continuation tokens). The context is truncated from the left to fit."""
        ...
