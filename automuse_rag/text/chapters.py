"""Chapter detection (:func:`detect_chapters`), a pure function over cleaned text.

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

import re
from collections.abc import Iterator
from dataclasses import dataclass

from automuse_rag.text.types import Chapter

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


def heading_line(line: str) -> str | None:
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
    kind = heading_line(lines[0])
    if kind is None:
        return None
    if len(lines) == 2 and (len(lines[1]) > 80 or heading_line(lines[1]) or not lines[1]):
        return None
    if kind != "keyword" and len(lines) == 2:
        return None
    title = " ".join(lines)
    keyword = lines[0].split()[0].upper() if kind == "keyword" else ""
    return _Heading(start, end, title, kind, keyword in _CONTAINER)


def _blocks(text: str) -> Iterator[tuple[int, int]]:
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
