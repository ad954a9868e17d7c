"""Sampling options (:class:`Sampling`), carried through to every backend that has
them. A module of its own, below both :mod:`automuse_rag.settings` (which holds the
defaults) and :mod:`automuse_rag.models` (which re-exports it), so neither imports
the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypedDict, Unpack


class SamplingChanges(TypedDict, total=False):
    """The fields :meth:`Sampling.with_` may change, with their types."""

    temperature: float
    top_p: float
    max_tokens: int
    frequency_penalty: float
    presence_penalty: float
    stop: tuple[str, ...]
    seed: int | None


@dataclass(frozen=True)
class Sampling:
    """Sampling options carried through to every backend that has them."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None

    def with_(self, **changes: Unpack[SamplingChanges]) -> Sampling:
        return replace(self, **changes)

    def request_kwargs(self) -> dict[str, object]:
        """Keyword arguments for a chat-completion call (llama-cpp-python and the
        openai client take the same names); ``stop`` and ``seed`` only when set."""
        kwargs: dict[str, object] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
        }
        if self.stop:
            kwargs["stop"] = list(self.stop)
        if self.seed is not None:
            kwargs["seed"] = self.seed
        return kwargs

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "stop": list(self.stop),
            "seed": self.seed,
        }
