"""Decoding, normalizing, Gutenberg stripping and chapter detection."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, gutenberg_path

from automuse_rag.errors import InputError
from automuse_rag.text.clean import clean_text, decode_bytes, detect_chapters, normalize

CURLY = "“Don’t,” she said — naïve café, Zoë… 'fin'"


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    "data",
    [
        CURLY.encode("utf-8"),
        codecs.BOM_UTF8 + CURLY.encode("utf-8"),
        CURLY.encode("utf-16"),  # with BOM (native order)
        codecs.BOM_UTF16_BE + CURLY.encode("utf-16-be"),
        codecs.BOM_UTF16_LE + CURLY.encode("utf-16-le"),
        CURLY.encode("utf-32"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16be-bom", "utf16le-bom", "utf32-bom"],
)
def test_decode_unicode_encodings_keep_typography(data: bytes) -> None:
    text = decode_bytes(data, "x.txt")
    assert text == CURLY
    assert "\ufeff" not in text


def test_decode_bomless_utf16() -> None:
    text = "Plain ASCII start, then “quotes” and more words to be sure.\n"
    assert decode_bytes(text.encode("utf-16-le")) == text


def test_decode_cp1252_curly_quotes() -> None:
    text = "“Quoted” – it’s … a café"
    data = text.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert decode_bytes(data) == text


def test_decode_latin1_when_not_cp1252() -> None:
    # 0x81 and 0x8d are undefined in cp1252, so only latin-1 can decode these bytes.
    data = "déjà vu à Zürich".encode("latin-1") + b"\x81\x8d"
    assert decode_bytes(data) == "déjà vu à Zürich\x81\x8d"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   \n\n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG"),
        (b"PK\x03\x04" + b"\x14\x00" * 40, "ZIP"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"hello\x00world\x00\x01\x02" * 10, "binary"),
        (bytes(range(1, 32)) * 50, "binary"),
    ],
    ids=["empty", "blank", "png", "zip", "pdf", "nul", "controls"],
)
def test_decode_rejects_empty_and_binary(data: bytes, words: str) -> None:
    with pytest.raises(InputError) as info:
        decode_bytes(data, "some/file.bin")
    message = str(info.value)
    assert "some/file.bin" in message and words.lower() in message.lower()
    assert "\n" not in message


def test_normalize_newlines_nfc_and_blank_lines() -> None:
    decomposed = "Cafe\u0301 na\u0131\u0308ve"
    raw = f"\ufeffline one  \r\nline two\rline three\n\n\n\n\n{decomposed}\t \n"
    text = normalize(raw)
    assert "\r" not in text and "\ufeff" not in text
    assert text.split("\n")[:3] == ["line one", "line two", "line three"]
    assert "\n\n\n" not in text
    assert unicodedata.is_normalized("NFC", text)
    assert "Café" in text


# --------------------------------------------------------------------------- Gutenberg boilerplate

BODY = "CHAPTER I.\nThe Start\n\n" + ("It was a dark and stormy night; the rain fell in torrents. " * 6 + "\n\n") * 3
BODY += "CHAPTER II.\nThe End\n\n" + ("Nothing more happened, and everyone went home. " * 6 + "\n\n") * 3


@pytest.mark.parametrize(
    ("header", "footer"),
    [
        (
            "The Project Gutenberg eBook of A Test, by Jo Writer\n\nTitle: A Test\n\nAuthor: Jo Writer\n\n"
            "Release Date: May 1, 2020 [eBook #4242]\n\n*** START OF THE PROJECT GUTENBERG EBOOK A TEST ***\n",
            "\n*** END OF THE PROJECT GUTENBERG EBOOK A TEST ***\n\nSection 1. General Terms of Use and Redistributing Project Gutenberg-tm\n",
        ),
        (
            "The Project Gutenberg EBook of A Test, by Jo Writer\n\nTitle: A Test\nAuthor: Jo Writer\n\n"
            "*** START OF THIS PROJECT GUTENBERG EBOOK A TEST ***\n\n\n\nProduced by Some Volunteers\nand friends\n\n\n",
            "\nEnd of the Project Gutenberg EBook of A Test, by Jo Writer\n\n*** END OF THIS PROJECT GUTENBERG EBOOK A TEST ***\nlicence text\n",
        ),
        (
            "The Project Gutenberg Etext of A Test, by Jo Writer\n*****These eBooks Were Prepared By Thousands of Volunteers!*****\n"
            "legal small print\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n",
            "\nEnd of Project Gutenberg's A Test, by Jo Writer\n",
        ),
    ],
    ids=["modern", "this-ebook", "small-print"],
)
def test_strips_gutenberg_header_and_footer_variants(header: str, footer: str) -> None:
    book = clean_text(header + BODY + footer, "t.txt")
    assert "Gutenberg" not in book.text and "GUTENBERG" not in book.text
    assert "Produced by" not in book.text
    assert book.text.startswith("CHAPTER I.")
    assert book.text.endswith("went home.")
    assert book.title == "A Test"
    assert book.author == "Jo Writer"
    assert [c.title for c in book.chapters] == ["CHAPTER I. The Start", "CHAPTER II. The End"]


def test_gutenberg_id_from_header() -> None:
    header = "Title: A Test\n\nRelease Date: May 1, 2020 [eBook #4242]\n\n*** START OF THE PROJECT GUTENBERG EBOOK A TEST ***\n"
    assert clean_text(header + BODY).gutenberg_id == 4242
    assert clean_text(header + BODY, gutenberg_id=7).gutenberg_id == 7


def test_nothing_left_after_stripping_is_an_input_error() -> None:
    raw = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n"
    with pytest.raises(InputError, match="no text left"):
        clean_text(raw, "x.txt")


# --------------------------------------------------------------------------- chapters (synthetic)

PROSE = "She walked to the window and looked out at the grey sea for a long time, saying nothing at all."


def _body(n: int = 3) -> str:
    return "\n\n".join([PROSE] * n)


def _book(*headings: str, preamble: str = "") -> str:
    parts = [preamble] if preamble else []
    for heading in headings:
        parts += [heading, _body()]
    return "\n\n".join(parts)


@pytest.mark.parametrize(
    "headings",
    [
        ["CHAPTER I.\nThe Rabbit", "CHAPTER II.\nThe Pool", "CHAPTER III.\nThe Race"],
        ["Chapter 1", "Chapter 2", "Chapter 3"],
        ["CHAPTER I. The Rabbit", "CHAPTER II. The Pool", "CHAPTER III. The Race"],
        ["Chapter One", "Chapter Two", "Chapter Three"],
        ["STAVE ONE.", "STAVE TWO.", "STAVE THREE."],
        ["I", "II", "III"],
        ["    IV", "    V", "    VI"],
        ["Chapter 1: Arrival", "Chapter 2 — Departure", "Chapter 3. Return"],
    ],
    ids=["caps-roman-title-below", "arabic", "caps-roman-title", "words", "stave", "bare-roman", "indented-roman", "separators"],
)
def test_chapter_heading_styles(headings: list[str]) -> None:
    book = clean_text(_book(*headings))
    assert [c.number for c in book.chapters] == [1, 2, 3]
    assert [c.title for c in book.chapters] == [" ".join(line.strip() for line in h.split("\n")) for h in headings]
    for chapter, heading in zip(book.chapters, headings):
        assert book.text[chapter.start :].lstrip().startswith(heading.strip())


def test_table_of_contents_is_not_counted() -> None:
    block_toc = "Contents\n\n CHAPTER I.   The Rabbit\n CHAPTER II.  The Pool\n CHAPTER III. The Race"
    spaced_toc = "CONTENTS\n\n  Chapter 1\n\n  Chapter 2\n\n  Chapter 3"
    for toc, headings in (
        (block_toc, ["CHAPTER I.\nThe Rabbit", "CHAPTER II.\nThe Pool", "CHAPTER III.\nThe Race"]),
        (spaced_toc, ["Chapter 1", "Chapter 2", "Chapter 3"]),
    ):
        book = clean_text(_book(*headings, preamble="A Title\n\n" + toc))
        assert [c.number for c in book.chapters] == [0, 1, 2, 3]
        assert book.chapters[0].start == 0
        assert "Contents" in book.text[: book.chapters[1].start] or "CONTENTS" in book.text[: book.chapters[1].start]


def test_part_heading_joins_the_next_chapter() -> None:
    text = _book("BOOK I\n\nCHAPTER I", "CHAPTER II", "BOOK II\n\nCHAPTER I", "CHAPTER II")
    book = clean_text(text)
    assert [c.title for c in book.chapters] == ["BOOK I / CHAPTER I", "CHAPTER II", "BOOK II / CHAPTER I", "CHAPTER II"]
    assert book.text[book.chapters[2].start :].startswith("BOOK II")


def test_no_headings_gives_one_chapter_1() -> None:
    book = clean_text(_body(5))
    assert book.chapters == (book.chapters[0],)
    assert (book.chapters[0].number, book.chapters[0].title) == (1, "")
    assert (book.chapters[0].start, book.chapters[0].end) == (0, len(book.text))


def test_prose_mentioning_chapters_is_not_a_heading() -> None:
    text = _book("CHAPTER I") + "\n\nChapter one was dull, she thought, and the book was worse.\n\n" + _body()
    text += "\n\nI\n\nsaid nothing more. " + PROSE
    book = clean_text(text)
    assert [c.title for c in book.chapters] == ["CHAPTER I"]


def test_chapters_tile_the_text() -> None:
    book = clean_text(_book("Chapter 1", "Chapter 2", preamble="Front matter title page"))
    spans = [(c.start, c.end) for c in book.chapters]
    assert spans[0][0] == 0 and spans[-1][1] == len(book.text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert detect_chapters("") == ()


# --------------------------------------------------------------------------- real books

REAL = {
    11: (
        "Alice’s Adventures in Wonderland",
        "Lewis Carroll",
        12,
        "CHAPTER I. Down the Rabbit-Hole",
        "CHAPTER XII. Alice’s Evidence",
    ),
    1342: ("Pride and Prejudice", "Jane Austen", 61, "Chapter 1", "Chapter 61"),
    64317: ("The Great Gatsby", "F. Scott Fitzgerald", 9, "I", "IX"),
    84: ("Frankenstein", "Mary Wollstonecraft (Godwin) Shelley", 28, "Letter 1", "Chapter 24"),
}


def _load(path: Path, gid: int | None = None):
    return clean_text(decode_bytes(path.read_bytes(), str(path)), str(path), gid)


@pytest.mark.parametrize("gid", sorted(REAL))
def test_shared_books(shared_data: Path, gid: int) -> None:
    title, author, count, first, last = REAL[gid]
    book = _load(gutenberg_path(shared_data, gid), gid)
    numbered = [c for c in book.chapters if c.number > 0]
    assert book.title.startswith(title) and book.author == author
    assert [c.number for c in numbered] == list(range(1, count + 1))
    assert (numbered[0].title, numbered[-1].title) == (first, last)
    assert "gutenberg" not in book.text.lower()
    assert "*** START" not in book.text and "*** END" not in book.text
    assert unicodedata.is_normalized("NFC", book.text) and "\r" not in book.text
    assert "’" in book.text  # typography kept, never stripped to ASCII


def test_frankenstein_letters_then_24_chapters(shared_data: Path) -> None:
    book = _load(gutenberg_path(shared_data, 84), 84)
    titles = [c.title for c in book.chapters if c.number > 0]
    assert titles == [f"Letter {i}" for i in range(1, 5)] + [f"Chapter {i}" for i in range(1, 25)]


def test_sample_story_metadata_and_chapters() -> None:
    path = SAMPLE_DIR / "story.txt"
    book = _load(path)
    first_line, by_line = path.read_text(encoding="utf-8").split("\n")[:2]
    assert book.title == first_line.strip()
    assert book.author == by_line.strip()[3:]
    assert not book.text.startswith(first_line)
    headings = [line for line in path.read_text(encoding="utf-8").split("\n") if line.startswith("CHAPTER ")]
    assert [c.title for c in book.chapters] == headings
    assert [c.number for c in book.chapters] == list(range(1, len(headings) + 1))


def test_contents_with_parts_is_not_counted() -> None:
    toc = "CONTENTS\n\nPART I\n\nCHAPTER I\n\nCHAPTER II\n\nPART II\n\nCHAPTER I"
    book = clean_text(_book("PART I\n\nCHAPTER I", "CHAPTER II", "PART II\n\nCHAPTER I", preamble=toc))
    assert [c.title for c in book.chapters] == ["", "PART I / CHAPTER I", "CHAPTER II", "PART II / CHAPTER I"]
