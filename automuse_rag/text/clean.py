"""Decoding and cleaning of book texts: pure functions, no I/O.

* :func:`decode_bytes` turns a file's bytes into text: UTF-8 (with or without a
  BOM), UTF-16/UTF-32 with a BOM, BOM-less UTF-16, then cp1252 and finally latin-1.
  Empty and binary inputs (images, archives, PDFs, anything with NUL bytes or many
  control characters) raise :class:`InputError`. Curly quotes, dashes and accents
  are kept: nothing is ever stripped to ASCII.
* :func:`clean_text` normalizes newlines to ``\\n`` and Unicode to NFC, strips the
  Project Gutenberg header and licence footer (``*** START OF ...`` / ``*** END OF
  ...`` and older variants), keeps title and author as metadata, and detects chapters.

Chapters are detected by :func:`automuse_rag.text.chapters.detect_chapters` (that
module's docstring states the conventions).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from automuse_rag.errors import InputError
from automuse_rag.text.chapters import detect_chapters, heading_line
from automuse_rag.text.types import Book

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
                raise InputError(
                    f"{_where(source)}: not valid {codec.upper()} text after its byte-order mark ({exc.reason})"
                ) from None
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
    if not by or len(title_line.strip()) > 150 or heading_line(title_line.strip()):
        return "", "", text
    rest = "\n".join(lines[by_index + 1 :]) if by_index + 1 < len(lines) else ""
    return _one_line(title_line), _one_line(by.group(1)), rest.strip("\n")


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
