"""Helpers shared by the backends' structured calls: the repair prompt and error text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from automuse_rag import templates
from automuse_rag.models.base import Message, Sampling

MAX_ECHO_CHARS = 2000  # how much of the invalid answer is shown back to the model


def first_error(exc: ValidationError | ValueError) -> str:
    """One line describing the first validation problem."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            err = errors[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
            return f"{where}: {err.get('msg', 'invalid')}"
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def repair_messages(
    messages: list[Message], previous: str, error: ValidationError | ValueError, schema: dict[str, Any]
) -> list[Message]:
    """The conversation re-asked once, showing the model its invalid answer and the error."""
    prompt = templates.render(
        "repair_json.txt",
        error=first_error(error),
        previous=previous[:MAX_ECHO_CHARS],
        schema=json.dumps(schema, ensure_ascii=False),
    )
    return [*messages, {"role": "assistant", "content": previous[:MAX_ECHO_CHARS]}, {"role": "user", "content": prompt}]


CHARS_PER_TOKEN = 3  # free text runs ~4 characters a token; 3 leaves room for names and punctuation
_SCALAR_TOKENS = {"integer": 8, "number": 12, "boolean": 2, "null": 2}


def max_answer_tokens(schema: dict[str, Any], root: dict[str, Any] | None = None) -> int | None:
    """Tokens the longest JSON answer allowed by ``schema`` can take (an estimate from
    maxLength / maxItems / enums, at :data:`CHARS_PER_TOKEN`), or None when some
    string or list is unbounded."""
    root = root if root is not None else schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = root.get("$defs", {}).get(name)
        return None if target is None else max_answer_tokens(target, root)
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return max(len(json.dumps(v)) for v in values) // 2 + 2
    for key in ("anyOf", "oneOf"):
        if key in schema:
            bounds = [max_answer_tokens(s, root) for s in schema[key]]
            return None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
    kind = schema.get("type")
    if kind == "string":
        limit = schema.get("maxLength")
        return None if limit is None else -(-int(limit) // CHARS_PER_TOKEN) + 2
    if kind == "array":
        items = max_answer_tokens(schema.get("items", {}), root)
        limit = schema.get("maxItems")
        return None if items is None or limit is None else 2 + int(limit) * (items + 2)
    if kind == "object":
        total = 2
        for key, prop in (schema.get("properties") or {}).items():
            bound = max_answer_tokens(prop, root)
            if bound is None:
                return None
            total += -(-len(key) // CHARS_PER_TOKEN) + 4 + bound
        return total
    return _SCALAR_TOKENS.get(str(kind))


def fit_max_tokens(sampling: Sampling, schema: dict[str, Any], limit: int | None = None) -> Sampling:
    """``sampling`` with room for the longest answer ``schema`` allows, so a valid answer
    is never cut short (a cut JSON answer can never validate): max_tokens is raised to
    the schema's bound (at most ``limit``), never lowered. Unbounded schemas: unchanged."""
    bound = max_answer_tokens(schema)
    if bound is None:
        return sampling
    if limit is not None:
        bound = min(bound, limit)
    return sampling if sampling.max_tokens >= bound else sampling.with_(max_tokens=bound)
