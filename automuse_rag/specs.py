"""Backend specs (``name[:model]``, e.g. ``openai:gpt-4o-mini``, ``hash:64``) read and
checked without loading any backend, so that a bad one is refused as it is parsed,
before a command stores anything."""

from __future__ import annotations

import re

from automuse_rag.errors import InputError

#: hash:DIM's largest dimension (each text's vector is allocated in full).
MAX_HASH_DIMENSION = 65536


def split_spec(spec: str) -> tuple[str, str | None]:
    """(backend name in lower case, the model part or None)."""
    backend, _, model = spec.partition(":")
    return backend.strip().lower(), (model.strip() or None)


def hash_dimension(model: str | None) -> int:
    """The dimension of ``hash[:DIM]`` (64 without one); an :class:`InputError` unless
    DIM is a whole number from 1 to :data:`MAX_HASH_DIMENSION`."""
    if model is None:
        return 64
    if not re.fullmatch(r"[0-9]+", model) or not 1 <= int(model) <= MAX_HASH_DIMENSION:
        raise InputError(
            f"bad embedder 'hash:{model}': the dimension must be a whole number from 1 to {MAX_HASH_DIMENSION}, e.g. hash:64"
        )
    return int(model)


def check_embedder_spec(spec: str) -> str:
    """``spec`` if what it says can be checked without a backend holds (a hash
    embedder's dimension); an :class:`InputError` otherwise."""
    backend, model = split_spec(spec)
    if backend == "hash":
        hash_dimension(model)
    return spec
