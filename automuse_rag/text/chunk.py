"""Chunking a cleaned book on paragraph boundaries: a pure function, no I/O.

Rules (each one is tested with hypothesis):

* Chunks follow each other in order, never overlap and never span two chapters;
  ``book.text[c.start:c.end] == c.text``. Only whitespace lies between two chunks,
  so the chunks reproduce the cleaned text up to whitespace at the joins: nothing is
  lost, nothing duplicated. A chunk starts and ends on a non-space character.
* Chunks are packed greedily from whole paragraphs, keeping the paragraph breaks
  inside a chunk. A paragraph that does not fit alone is split at sentence
  boundaries; a sentence that does not fit alone is split between words, and a word
  (a run of non-space characters) that does not fit alone is split between
  characters. A chunk starts or ends inside a word only in that last case.
* Size: every chunk fits the limit (``len(text) <= size`` characters, or
  ``count_tokens(text) <= max_tokens``), whatever the text: a 1.2-million-character
  line without a space becomes pieces of ``size`` characters. (With a token limit, a
  single character the counter finds longer than the limit is the one exception.)
* ``id`` is ``f"{story}:{index:05d}:{sha1(text)[:10]}"``: stable across runs.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator

from automuse_rag.errors import InputError
from automuse_rag.text.types import Book, Chapter, Chunk

Span = tuple[int, int]
Fits = Callable[[int, int], bool]

DEFAULT_SIZE = 1500

_NON_SPACE = re.compile(r"\S+")
# A sentence ends after . ! ? or … (and any closing quotes or brackets) before a space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]»]*(?=\s)")
_ABBREVIATIONS = frozenset("mr mrs ms dr st sr jr mt messrs mme mlle prof rev capt col gen lt sgt hon esq vol no".split())


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate used when no ``count_tokens`` is given: the larger of
    four characters per token and four tokens per three words and marks."""
    words = len(re.findall(r"\w+|[^\w\s]", text))
    return max(math.ceil(len(text) / 4), math.ceil(words * 4 / 3))


def _trim(text: str, start: int, end: int) -> Span | None:
    """The span without surrounding whitespace, or None when it is blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _paragraphs(text: str, start: int, end: int) -> Iterator[Span]:
    """Non-blank paragraphs of text[start:end] (separated by blank lines), trimmed."""
    pos = start
    for match in _BLANK_LINE.finditer(text, start, end):
        span = _trim(text, pos, match.start())
        if span:
            yield span
        pos = match.end()
    span = _trim(text, pos, end)
    if span:
        yield span


def _sentences(text: str, start: int, end: int) -> Iterator[Span]:
    """Sentences of the paragraph text[start:end] (split after . ! ? … before a space,
    not after a common abbreviation such as "Mr.")."""
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        word = re.search(r"(\w+)\W*$", text[max(pos, match.start() - 12) : match.start() + 1])
        if word and word.group(1).lower() in _ABBREVIATIONS and text[match.start()] == ".":
            continue
        span = _trim(text, pos, match.end())
        if span:
            yield span
        pos = match.end()
    span = _trim(text, pos, end)
    if span:
        yield span


def _words(text: str, start: int, end: int) -> Iterator[Span]:
    for match in _NON_SPACE.finditer(text, start, end):
        yield match.start(), match.end()


def _longest_fit(start: int, end: int, fits: Fits) -> int:
    """The largest ``stop`` in ``start+1..end`` with ``fits(start, stop)`` (galloping,
    then binary search; at least one character, so splitting always advances)."""
    good, step = start + 1, 1
    bad = end + 1
    while good + step <= end:
        if fits(start, good + step):
            good += step
            step *= 2
        else:
            bad = good + step
            break
    else:
        if fits(start, end):
            return end
        bad = end
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(start, mid):
            good = mid
        else:
            bad = mid
    return good


def _characters(start: int, end: int, fits: Fits) -> Iterator[Span]:
    """A word too long to fit, cut between characters into the longest pieces that fit."""
    while start < end:
        stop = _longest_fit(start, end, fits)
        yield start, stop
        start = stop


def _units(text: str, span: Span, fits: Fits) -> Iterator[Span]:
    """Pieces of ``span`` that each fit: paragraphs, else sentences, else words, else
    pieces of words."""
    for para in _paragraphs(text, *span):
        if fits(*para):
            yield para
            continue
        for sentence in _sentences(text, *para):
            if fits(*sentence):
                yield sentence
                continue
            for word in _words(text, *sentence):
                if fits(*word):
                    yield word
                else:
                    yield from _characters(*word, fits)


def _pack(text: str, span: Span, fits: Fits) -> Iterator[Span]:
    """Greedily join consecutive units into the largest spans that fit."""
    current: Span | None = None
    for unit in _units(text, span, fits):
        if current is None:
            current = unit
        elif fits(current[0], unit[1]):
            current = (current[0], unit[1])
        else:
            yield current
            current = unit
    if current is not None:
        yield current


def chunk_id(story: str, index: int, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{story}:{index:05d}:{digest}"


def _fits(text: str, size: int, max_tokens: int | None, count_tokens: Callable[[str], int] | None) -> Fits:
    if max_tokens is None:
        return lambda start, end: end - start <= size
    counter = count_tokens or estimate_tokens
    return lambda start, end: counter(text[start:end]) <= max_tokens


def _chapters(book: Book) -> tuple[Chapter, ...]:
    return book.chapters or (Chapter(1, "", 0, len(book.text)),)


def chunk_book(
    book: Book,
    story: str,
    size: int = DEFAULT_SIZE,
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Chunk]:
    """Split ``book`` into chunks of at most ``size`` characters (or ``max_tokens``
    tokens by ``count_tokens``), on paragraph, then sentence, then word boundaries, and
    between characters inside a word longer than the limit."""
    if max_tokens is None and size < 1:
        raise InputError(f"chunk size must be at least 1 character, got {size}")
    if max_tokens is not None and max_tokens < 1:
        raise InputError(f"chunk size must be at least 1 token, got {max_tokens}")
    fits = _fits(book.text, size, max_tokens, count_tokens)
    chunks: list[Chunk] = []
    for chapter in _chapters(book):
        for start, end in _pack(book.text, (chapter.start, chapter.end), fits):
            text = book.text[start:end]
            index = len(chunks)
            chunks.append(Chunk(index, chunk_id(story, index, text), chapter.number, chapter.title, start, end, text))
    return chunks
