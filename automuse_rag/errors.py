"""Errors a user can cause. The CLI prints ``str(error)`` as one line and exits with
``error.exit_code``; it never shows a traceback for these."""

from __future__ import annotations


class AutomuseError(Exception):
    """Base of every user-facing error: bad input, unreachable server, bad key..."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(AutomuseError):
    """A missing, empty, binary or undecodable input file, or a bad argument."""


class ModelError(AutomuseError):
    """A model backend failed: unreachable server, missing or wrong key, timeouts."""

    exit_code = 3


class StructuredOutputError(ModelError):
    """The model's output did not validate against the schema, even after a repair."""


class StoreError(AutomuseError):
    """A story store is missing, locked, or was built with a different embedder."""


class BudgetError(AutomuseError):
    """The fixed parts of a prompt cannot fit in the token budget."""
