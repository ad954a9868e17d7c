"""Chunking invariants, checked with hypothesis on generated texts and on real books.

The size rule: every chunk fits the limit (characters, or tokens by the given
counter), whatever the text; a word longer than the limit is cut between characters,
the only case where a chunk starts or ends inside a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, gutenberg_path
from hypothesis import HealthCheck, given, settings, strategies as st

from automuse_rag.errors import InputError
from automuse_rag.models.fake import count_words_and_marks
from automuse_rag.text.chunk import chunk_book, estimate_tokens
from automuse_rag.text.clean import clean_text, decode_bytes
from automuse_rag.text.types import Book, Chapter, Chunk

_BLANK = re.compile(r"\n[ \t]*\n")


def check_invariants(
    book: Book,
    chunks: list[Chunk],
    story: str,
    size: int | None = 1500,
    max_tokens: int | None = None,
    counter: Callable[[str], int] | None = None,
) -> None:
    text = book.text
    chapters = book.chapters or (Chapter(1, "", 0, len(text)),)
    # nothing lost, nothing duplicated: only whitespace outside and between chunks
    position = 0
    for index, chunk in enumerate(chunks):
        assert chunk.index == index
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert position <= chunk.start
        assert text[position : chunk.start].strip() == ""
        position = chunk.end
    assert text[position:].strip() == ""
    assert re.sub(r"\s+", "", "".join(c.text for c in chunks)) == re.sub(r"\s+", "", text)

    def fits(piece: str) -> bool:
        return len(piece) <= size if max_tokens is None else (counter or estimate_tokens)(piece) <= max_tokens

    # never mid-word, unless that word alone is too long
    for chunk in chunks:
        for cut in (chunk.start, chunk.end):
            if 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace():
                word = re.search(r"\S+$", text[:cut]).group() + re.match(r"\S+", text[cut:]).group()
                assert not fits(word), (chunk.index, word[:80])
    # never across chapters, with the chapter recorded
    for chunk in chunks:
        owner = [c for c in chapters if c.start <= chunk.start and chunk.end <= c.end]
        assert len(owner) == 1
        assert (chunk.chapter, chunk.chapter_title) == (owner[0].number, owner[0].title)
    # size: always (a token limit below one character's count is the only exception)
    for chunk in chunks:
        assert fits(chunk.text) or len(chunk.text) == 1, chunk.text[:80]
    # greedy: two neighbours in a chapter could not have been one chunk
    for a, b in zip(chunks, chunks[1:]):
        if a.chapter == b.chapter and max_tokens is None:
            assert b.end - a.start > size
    # stable ids
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert re.fullmatch(rf"{re.escape(story)}:{chunk.index:05d}:[0-9a-f]{{10}}", chunk.id)


# --------------------------------------------------------------------------- generated texts

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüçœ’“”—-,;:'0123456789"
words = st.text(alphabet=_LETTERS, min_size=1, max_size=14)
long_words = st.text(alphabet="abcdefghij", min_size=40, max_size=120)
sentence = st.builds(
    lambda ws, end: " ".join(ws) + end,
    st.lists(st.one_of(words, words, words, words, long_words), min_size=1, max_size=30),
    st.sampled_from([".", "!", "?", "…", ".”", "?’", "", ";"]),
)
paragraph = st.builds(
    lambda ss, seps: "".join(s + sep for s, sep in zip(ss, seps)).rstrip(),
    st.lists(sentence, min_size=1, max_size=12),
    st.lists(st.sampled_from([" ", "\n", "  ", " \n"]), min_size=12, max_size=12),
)
heading = st.sampled_from(["CHAPTER I.", "CHAPTER II. The Next", "Chapter 3", "IV", "STAVE FIVE.", "PART ONE"])
block = st.one_of(paragraph, paragraph, paragraph, heading)
document = st.builds(
    lambda blocks, seps: "".join(b + s for b, s in zip(blocks, seps)),
    st.lists(block, min_size=1, max_size=25),
    st.lists(st.sampled_from(["\n\n", "\n\n\n", "\n \n", "\n\t\n\n", "\n"]), min_size=25, max_size=25),
)

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(document, st.integers(min_value=20, max_value=2500))
def test_invariants_on_cleaned_generated_books(raw: str, size: int) -> None:
    if not raw.strip():
        return
    book = clean_text(raw, "gen.txt")
    spans = [(c.start, c.end) for c in book.chapters]
    assert spans[0][0] == 0 and spans[-1][1] == len(book.text)  # chapters tile the text
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    numbers = [c.number for c in book.chapters]
    assert numbers[0] in (0, 1) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    chunks = chunk_book(book, "gen", size)
    check_invariants(book, chunks, "gen", size)
    assert chunk_book(book, "gen", size) == chunks  # deterministic


@FAST
@given(document, st.integers(min_value=1, max_value=400))
def test_invariants_on_raw_text_with_odd_whitespace(raw: str, size: int) -> None:
    # chunk_book does not depend on cleaning: any text, any whitespace
    raw = "  \t\n" + raw.replace("\n\n", "\r\n \r\n") + " \n "
    book = Book(title="", author="", text=raw)
    chunks = chunk_book(book, "raw", size)
    check_invariants(book, chunks, "raw", size)


@FAST
@given(document, st.integers(min_value=3, max_value=300))
def test_invariants_with_a_token_limit(raw: str, max_tokens: int) -> None:
    if not raw.strip():
        return
    book = clean_text(raw)
    chunks = chunk_book(book, "tok", max_tokens=max_tokens, count_tokens=count_words_and_marks)
    check_invariants(book, chunks, "tok", None, max_tokens, count_words_and_marks)
    estimated = chunk_book(book, "tok", max_tokens=max_tokens)
    check_invariants(book, estimated, "tok", None, max_tokens, None)


whole_sentence = st.builds(
    lambda ws, end: " ".join(ws + ["end"]) + end,
    st.lists(st.one_of(words, words, long_words), min_size=0, max_size=30),
    st.sampled_from([".", "!", "?", "…", ".”", "?’"]),
)


@FAST
@given(st.lists(whole_sentence, min_size=1, max_size=60), st.integers(min_value=30, max_value=600))
def test_a_paragraph_too_long_is_split_at_sentences(sentences: list[str], size: int) -> None:
    text = " ".join(sentences)
    book = Book("", "", text)
    chunks = chunk_book(book, "p", size)
    check_invariants(book, chunks, "p", size)
    ends = sorted(m.end() for m in re.finditer(r"end[.!?…]+[”’]?(?= |$)", text))
    for chunk in chunks[:-1]:
        if chunk.end not in ends:
            # it ends between words only because its sentence alone is too long
            prior = max([e for e in ends if e < chunk.end], default=0)
            following = min(e for e in ends if e > chunk.end)
            assert len(text[prior:following].strip()) > size


def test_paragraphs_are_never_split_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * (i % 7 + 3) + "end." for i in range(40)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_book(Book("", "", text), "s", 200)
    check_invariants(Book("", "", text), chunks, "s", 200)
    for chunk in chunks:
        parts = chunk.text.split("\n\n")
        assert all(part in paragraphs for part in parts)
    assert any("\n\n" in c.text for c in chunks)  # paragraph breaks kept inside chunks


def test_a_single_overlong_word_is_cut_between_characters() -> None:
    word = "x" * 50
    book = Book("", "", f"short start. {word} short end.")
    chunks = chunk_book(book, "w", 20)
    check_invariants(book, chunks, "w", 20)
    assert [c.text for c in chunks] == ["short start.", "x" * 20, "x" * 20, "x" * 10 + " short", "end."]


def test_a_huge_text_without_spaces_respects_the_size() -> None:
    # the hostile input: 1.2 million characters, no space, no sentence end
    text = "abcdefghij" * 120_000
    book = Book("", "", text)
    chunks = chunk_book(book, "big", 1500)
    check_invariants(book, chunks, "big", 1500)
    assert len(chunks) == 800 and max(len(c.text) for c in chunks) == 1500
    tokens = chunk_book(Book("", "", text[:60_000]), "big", max_tokens=200)
    check_invariants(Book("", "", text[:60_000]), tokens, "big", None, 200, None)
    assert max(estimate_tokens(c.text) for c in tokens) == 200


def test_ids_depend_on_story_index_and_text() -> None:
    book = Book("", "", "One paragraph.\n\nTwo paragraph.")
    a = chunk_book(book, "s", 15)
    b = chunk_book(Book("", "", "One paragraph.\n\nTwo paragraph!"), "s", 15)
    assert a[0].id == b[0].id and a[1].id != b[1].id
    assert chunk_book(book, "other", 15)[0].id.startswith("other:00000:")


def test_bad_sizes_are_input_errors() -> None:
    book = Book("", "", "text")
    with pytest.raises(InputError):
        chunk_book(book, "s", 0)
    with pytest.raises(InputError):
        chunk_book(book, "s", max_tokens=0)


# --------------------------------------------------------------------------- real texts


def _real_books(shared: Path) -> list[tuple[str, Book]]:
    books = []
    for gid in (11, 84, 64317, 1342):
        path = gutenberg_path(shared, gid)
        books.append((f"pg{gid}", clean_text(decode_bytes(path.read_bytes(), str(path)), str(path), gid)))
    sample = SAMPLE_DIR / "story.txt"
    if sample.is_file():
        books.append(("sample", clean_text(decode_bytes(sample.read_bytes(), str(sample)), str(sample))))
    return books


@pytest.fixture(scope="module")
def real_books(shared_data: Path) -> list[tuple[str, Book]]:
    return _real_books(shared_data)


@pytest.mark.parametrize("size", [1500, 400, 5000])
def test_invariants_on_real_books(real_books: list[tuple[str, Book]], size: int) -> None:
    assert "sample" in [name for name, _ in real_books], "books/sample/story.txt is missing"
    for name, book in real_books:
        chunks = chunk_book(book, name, size)
        check_invariants(book, chunks, name, size)
        assert not any("gutenberg" in c.text.lower() for c in chunks), name
        # a chunk ends inside a paragraph only when that paragraph alone is too long
        for a, b in zip(chunks, chunks[1:]):
            if a.chapter != b.chapter or _BLANK.search(book.text, a.end, b.start):
                continue
            before = [m.end() for m in _BLANK.finditer(book.text, 0, a.end)]
            after = _BLANK.search(book.text, a.end)
            paragraph = book.text[before[-1] if before else 0 : after.start() if after else len(book.text)]
            assert len(paragraph.strip()) > size, (name, a.index)


def test_real_books_in_tokens(real_books: list[tuple[str, Book]]) -> None:
    for name, book in real_books[:1] + real_books[-1:]:
        chunks = chunk_book(book, name, max_tokens=256, count_tokens=count_words_and_marks)
        check_invariants(book, chunks, name, None, 256, count_words_and_marks)
