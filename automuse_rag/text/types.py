"""Data types for cleaned books and their chunks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Chapter:
    number: int  # 1-based; 0 for text before the first heading
    title: str  # e.g. "CHAPTER I. Down the Rabbit-Hole"
    start: int  # character offset of the chapter (its heading line) in Book.text
    end: int


@dataclass(frozen=True)
class Book:
    """A cleaned book: Gutenberg header and licence removed, Unicode NFC, ``\\n`` newlines."""

    title: str
    author: str
    text: str
    chapters: tuple[Chapter, ...] = field(default_factory=tuple)
    source: str = ""  # path or URL it came from
    gutenberg_id: int | None = None


@dataclass(frozen=True)
class Chunk:
    index: int  # 0-based position in the book
    id: str  # stable: story, index and content hash
    chapter: int
    chapter_title: str
    start: int  # offsets into Book.text: Book.text[start:end] == text
    end: int
    text: str

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)
