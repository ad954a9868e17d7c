"""Cleaning and chunking: pure functions over strings and dataclasses (no I/O)."""

from automuse_rag.text.types import Book, Chapter, Chunk

__all__ = ["Book", "Chapter", "Chunk"]
