"""Helpers shared by the backends' structured calls: the repair prompt and error text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from automuse_rag import templates
from automuse_rag.models.base import Message

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
