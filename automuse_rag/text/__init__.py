"""Cleaning and chunking: pure functions over strings and dataclasses (no I/O)."""

from automuse_rag.text.types import Book, Chapter, Chunk

__all__ = ["Book", "Chapter", "Chunk", "clip"]


def clip(text: str, limit: int, placeholder: str = "…") -> str:
    """``text`` on one line (whitespace collapsed), at most ``limit`` characters: cut
    at a word boundary with ``placeholder`` (:func:`textwrap.shorten`), or inside a
    first word longer than the limit."""
    import textwrap

    short = textwrap.shorten(str(text), limit, placeholder=placeholder)
    if short == placeholder.lstrip():  # one word longer than the limit
        return " ".join(str(text).split())[: max(0, limit - len(placeholder))] + placeholder
    return short
