"""Decoding and cleaning of book texts: pure functions, no I/O.

* :func:`decode_bytes` turns a file's bytes into text: UTF-8 (with or without a
  BOM), UTF-16/UTF-32 with a BOM, BOM-less UTF-16, then cp1252 and finally latin-1.
  Empty and binary inputs (images, archives, PDFs, anything with NUL bytes or many
  control characters) raise :class:`InputError`. Curly quotes, dashes and accents
  are kept: nothing is ever stripped to ASCII.
* :func:`clean_text` normalizes newlines to ``\\n`` and Unicode to NFC, strips the
  Project Gutenberg header and licence footer (``*** START OF ...`` / ``*** END OF
  ...`` and older variants), keeps title and author as metadata, and detects chapters.

Chapter conventions (see :class:`automuse_rag.text.types.Chapter`):

* Chapters are the book's top-level sections in reading order, numbered 1, 2, 3...
  by position (not by the printed label, which stays in ``title``). So Frankenstein
  gives 28 sections: ``Letter 1``..``Letter 4`` (numbers 1-4) then ``Chapter 1``..
  ``Chapter 24`` (numbers 5-28). A ``BOOK``/``PART`` heading directly followed by a
  chapter heading is folded into that chapter's title (``PART I / CHAPTER I``).
* Text before the first heading (title page, contents, dedication) is chapter 0,
  titled ``""``; it is present only when it is not blank.
* A text without any chapter heading is one chapter numbered 1 titled ``""``.
* Chapter spans tile the text: ``start`` is the offset of the heading line (so the
  heading is part of the chapter's text) and ``end`` is the next chapter's start.
* A table of contents never counts: a block listing several headings is not a
  heading, and a heading followed by almost no text before the next heading is a
  contents entry.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from automuse_rag.errors import InputError
from automuse_rag.text.types import Book, Chapter

# --------------------------------------------------------------------------- decoding

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (EPUB, DOCX...)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "an executable"),
    (b"RIFF", "a RIFF media file"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Control characters other than tab, newline, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.01


def _where(source: str) -> str:
    return source or "input"


def _sniff_binary(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def _bomless_utf16(data: bytes) -> str | None:
    """Guess UTF-16 without a BOM from the NUL bytes of ASCII-range characters."""
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    half = len(head) // 2
    if odd_nuls > 0.4 * half and even_nuls == 0:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls == 0:
        return "utf-16-be"
    return None


def _decode(data: bytes, source: str) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(f"{_where(source)}: not valid {codec.upper()} text after its byte-order mark ({exc.reason})") from None
    utf16 = _bomless_utf16(data)
    if utf16:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise InputError(f"{_where(source)}: binary file (contains NUL bytes), not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(data: bytes, source: str = "") -> str:
    """Decode a text file's bytes; raise :class:`InputError` (naming ``source``) for an
    empty, binary or undecodable input. Newlines and Unicode are left as they are."""
    if not data.strip():
        raise InputError(f"{_where(source)}: empty file, nothing to read")
    kind = _sniff_binary(data)
    if kind:
        raise InputError(f"{_where(source)}: looks like {kind}, not a text file")
    text = _decode(data, source)
    sample = text[:200_000]
    if sample and len(_CONTROL.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        raise InputError(f"{_where(source)}: binary file (too many control characters), not a text file")
    if not text.strip():
        raise InputError(f"{_where(source)}: empty file, nothing to read")
    return text


# --------------------------------------------------------------------------- normalizing


def normalize(raw: str) -> str:
    """``\\n`` newlines, NFC, no BOM, no trailing spaces, at most one blank line in a row,
    no blank lines at either end. Tabs, indentation and typography are kept."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\f", "\n")
    text = unicodedata.normalize("NFC", text)
    text = "\n".join(line.rstrip(" \t\u00a0") for line in text.split("\n"))
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n").rstrip()


# --------------------------------------------------------------------------- Gutenberg boilerplate

_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$"
    r"|^[ \t]*\*+[ \t]*START\*?[ \t]*OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^[^\n]*\*END\*[ \t]*THE SMALL PRINT![^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$"
    r"|^[ \t]*\*+[ \t]*END\*?[ \t]*OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^[ \t]*End of (?:the )?Project Gutenberg[^\n]*$"
    r"|^[ \t]*End of this Project Gutenberg[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_PRODUCED_BY = re.compile(
    r"\A(?:\s*\n)?[ \t]*(?:Produced by|E-?text prepared by|Transcribed from|Transcriber)[^\n]*(?:\n[^\n]+)*\n*",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(r"^(Title|Author|Release Date)[ \t]*:[ \t]*(.+(?:\n[ \t]+\S.*)*)$", re.MULTILINE)
_FIRST_LINE = re.compile(
    r"The Project Gutenberg (?:e-?book|etext|EBook)(?: of)?,?[ \t]+(?P<title>.+?)(?:,[ \t]+by[ \t]+(?P<author>.+?))?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_EBOOK_NUMBER = re.compile(r"\[(?:e-?book|etext) #(\d+)\]", re.IGNORECASE)


@dataclass(frozen=True)
class _Stripped:
    body: str
    header: str
    gutenberg: bool


def strip_gutenberg(text: str) -> _Stripped:
    """Split a normalized text into (body, header) without the Gutenberg boilerplate.
    A text without Gutenberg markers comes back whole."""
    start = None
    for match in _START.finditer(text[:100_000]):
        start = match
    end = None
    if start is not None:
        end = _END.search(text, start.end())
    else:
        end = _END.search(text)
    if start is None and end is None:
        return _Stripped(text, "", False)
    header = text[: start.start()] if start else ""
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    body = _PRODUCED_BY.sub("", body, count=1) if start else body
    return _Stripped(body.strip("\n").rstrip(), header, True)


def _one_line(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def _gutenberg_metadata(header: str) -> tuple[str, str, int | None]:
    fields = {m.group(1).lower(): _one_line(m.group(2)) for m in _HEADER_FIELD.finditer(header)}
    title, author = fields.get("title", ""), fields.get("author", "")
    first = _FIRST_LINE.search(header[:2000])
    if first:
        title = title or _one_line(first.group("title"))
        author = author or _one_line(first.group("author") or "")
    number = _EBOOK_NUMBER.search(header)
    return title, author, int(number.group(1)) if number else None


_BY_LINE = re.compile(r"^[ \t]*by[ \t]+(\S.{0,150})$", re.IGNORECASE)


def _title_page(text: str) -> tuple[str, str, str]:
    """A plain text whose first line is its title and second ``by AUTHOR``: return
    (title, author, rest). Otherwise ("", "", text)."""
    lines = text.split("\n", 3)
    nonblank = [i for i, line in enumerate(lines[:3]) if line.strip()]
    if len(nonblank) < 2 or nonblank[0] != 0:
        return "", "", text
    title_line, by_index = lines[0], nonblank[1]
    by = _BY_LINE.match(lines[by_index])
    if not by or len(title_line.strip()) > 150 or _heading_line(title_line.strip()):
        return "", "", text
    rest = "\n".join(lines[by_index + 1 :]) if by_index + 1 < len(lines) else ""
    return _one_line(title_line), _one_line(by.group(1)), rest.strip("\n")


# --------------------------------------------------------------------------- chapters

_ROMAN = r"(?=[IVXLCDM])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_WORDS = (
    r"(?:THE\s+)?(?:(?:TWENTY|THIRTY|FORTY|FIFTY|SIXTY|SEVENTY|EIGHTY|NINETY)(?:[- ](?:ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE))?"
    r"|ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE|TEN|ELEVEN|TWELVE|THIRTEEN|FOURTEEN|FIFTEEN|SIXTEEN|SEVENTEEN|EIGHTEEN|NINETEEN"
    r"|FIRST|SECOND|THIRD|FOURTH|FIFTH|SIXTH|SEVENTH|EIGHTH|NINTH|TENTH|ELEVENTH|TWELFTH|LAST)"
)
_NUMBER = rf"(?:\d{{1,4}}|{_ROMAN}|{_WORDS})"
_KEYWORD = r"(?:CHAPTER|CHAP\.|BOOK|PART|STAVE|LETTER|VOLUME|VOL\.|CANTO|SECTION)"
_KEYWORD_HEADING = re.compile(
    rf"^(?P<kw>{_KEYWORD})\s+(?P<num>{_NUMBER})\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_BARE_ROMAN = re.compile(rf"^(?P<num>{_ROMAN})\.?$")
_ROMAN_TITLED = re.compile(rf"^(?P<num>{_ROMAN})\.\s+(?P<rest>[^a-z]{{2,80}})$")
_NAMED = re.compile(r"^(?:PROLOGUE|EPILOGUE)\.?$", re.IGNORECASE)
_TOC_BODY_MIN = 150  # non-space characters a real chapter has before the next heading
_CONTAINER = ("BOOK", "PART", "VOLUME", "VOL.")


def _heading_line(line: str) -> str | None:
    """The heading kind of one stripped line ("keyword", "roman", "named") or None."""
    if len(line) > 100:
        return None
    match = _KEYWORD_HEADING.match(line)
    if match and match.group("num"):
        rest = match.group("rest").strip()
        if not rest or rest[0] in ".:—–-" or (match.group("kw").isupper() and rest.isupper()):
            return "keyword"
        return None
    roman = _BARE_ROMAN.match(line) or _ROMAN_TITLED.match(line)
    if roman and roman.group("num"):
        return "roman"
    if _NAMED.match(line) and line.isupper():
        return "named"
    return None


@dataclass(frozen=True)
class _Heading:
    start: int  # offset of the heading line
    body_start: int  # offset just after the heading block
    title: str
    kind: str
    container: bool  # BOOK / PART / VOLUME: may hold chapters


def _block_heading(text: str, start: int, end: int) -> _Heading | None:
    """A heading if the block text[start:end] (between blank lines) is one: a heading
    line, optionally followed by one short title line."""
    block = text[start:end]
    lines = [line.strip() for line in block.split("\n")]
    if len(lines) > 2 or not lines[0]:
        return None
    kind = _heading_line(lines[0])
    if kind is None:
        return None
    if len(lines) == 2 and (len(lines[1]) > 80 or _heading_line(lines[1]) or not lines[1]):
        return None
    if kind != "keyword" and len(lines) == 2:
        return None
    title = " ".join(lines)
    keyword = lines[0].split()[0].upper() if kind == "keyword" else ""
    return _Heading(start, end, title, kind, keyword in _CONTAINER)


def _blocks(text: str):
    """(start, end) of each block of non-blank lines (``normalize`` leaves exactly
    ``\n\n`` between blocks)."""
    pos = 0
    while pos < len(text):
        nxt = text.find("\n\n", pos)
        end = len(text) if nxt < 0 else nxt
        yield pos, end
        if nxt < 0:
            break
        pos = nxt + 2


def _candidates(text: str) -> list[_Heading]:
    found: list[_Heading] = []
    for start, end in _blocks(text):
        if end - start > 200:
            continue
        block = text[start:end]
        lead = len(block) - len(block.lstrip())
        heading = _block_heading(text, start + lead, end) if lead < len(block) else None
        if heading:
            found.append(heading)
    return found


def _body_size(text: str, start: int, end: int) -> int:
    return len(text[start:end]) - sum(text[start:end].count(c) for c in " \n\t")


def _drop_contents(text: str, heads: list[_Heading]) -> list[_Heading]:
    """Drop contents entries: headings followed by almost no text before the next one
    (a BOOK/PART heading directly before a chapter heading is kept as a container)."""
    kept: list[_Heading] = []
    for i, head in enumerate(heads):
        nxt = heads[i + 1].start if i + 1 < len(heads) else len(text)
        if i + 1 < len(heads) and _body_size(text, head.body_start, nxt) < _TOC_BODY_MIN:
            following = heads[i + 1]
            if not (head.container and not following.container and _body_size(text, head.body_start, nxt) < 40):
                continue
        kept.append(head)
    return kept


def _prefer_keywords(heads: list[_Heading]) -> list[_Heading]:
    """Keyword headings (CHAPTER...) win over bare numerals when both occur; bare numerals
    alone count only when there are at least two of them."""
    if any(h.kind == "keyword" for h in heads):
        return [h for h in heads if h.kind != "roman"]
    if sum(h.kind == "roman" for h in heads) < 2:
        return [h for h in heads if h.kind != "roman"]
    return heads


def _merge_containers(heads: list[_Heading], text: str) -> list[tuple[int, str]]:
    """(start, title) per chapter; an empty BOOK/PART heading joins the next chapter."""
    result: list[tuple[int, str]] = []
    pending: _Heading | None = None
    for i, head in enumerate(heads):
        nxt = heads[i + 1] if i + 1 < len(heads) else None
        empty = nxt is not None and _body_size(text, head.body_start, nxt.start) < 40
        if head.container and empty and nxt is not None and not nxt.container:
            pending = pending or head
            continue
        if pending is not None:
            result.append((pending.start, f"{pending.title} / {head.title}"))
            pending = None
        else:
            result.append((head.start, head.title))
    return result


def detect_chapters(text: str) -> tuple[Chapter, ...]:
    """Chapters of a cleaned text, tiling it (see the module docstring)."""
    if not text:
        return ()
    heads = _prefer_keywords(_candidates(text))
    while True:  # dropping entries can expose more (e.g. a PART line of a contents list)
        kept = _drop_contents(text, heads)
        if len(kept) == len(heads):
            break
        heads = kept
    heads = _prefer_keywords(heads)
    starts = _merge_containers(heads, text)
    if not starts:
        return (Chapter(1, "", 0, len(text)),)
    chapters: list[Chapter] = []
    if text[: starts[0][0]].strip():
        chapters.append(Chapter(0, "", 0, starts[0][0]))
    for number, (start, title) in enumerate(starts, 1):
        end = starts[number][0] if number < len(starts) else len(text)
        chapters.append(Chapter(number, title, start if chapters else 0, end))
    return tuple(chapters)


# --------------------------------------------------------------------------- cleaning


def clean_text(raw: str, source: str = "", gutenberg_id: int | None = None) -> Book:
    """Clean a decoded text into a :class:`Book` (see the module docstring)."""
    text = normalize(raw)
    stripped = strip_gutenberg(text)
    title = author = ""
    body = stripped.body
    if stripped.gutenberg:
        title, author, number = _gutenberg_metadata(stripped.header)
        gutenberg_id = gutenberg_id if gutenberg_id is not None else number
    else:
        title, author, body = _title_page(body)
    body = normalize(body)
    if not body.strip():
        raise InputError(f"{_where(source)}: no text left after removing the Project Gutenberg header and licence")
    return Book(
        title=title,
        author=author,
        text=body,
        chapters=detect_chapters(body),
        source=source,
        gutenberg_id=gutenberg_id,
    )
