"""The books a corpus run ingests, read from its SPECs before any work starts: catalog
names, Gutenberg IDs and ID ranges (``1300-1400``), files (.txt, .epub), directories
(their .txt and .epub files), globs and ``@list.txt`` (one SPEC a line, ``#``
comments). Each book is its own story, named as ``automuse ingest`` names it (the
catalog name, ``pgID``, ``sample`` or the file's stem); two books with one name are
an error naming both."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from automuse_rag.books import SAMPLE_NAME, downloaded_path, find_entry, sample_story_path, story_name
from automuse_rag.errors import InputError
from automuse_rag.memory.layout import check_name
from automuse_rag.settings import Settings

#: The file types a directory or a glob contributes.
BOOK_SUFFIXES = (".txt", ".epub")
#: The most IDs one range may name.
MAX_RANGE = 100_000
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class BookSpec:
    """One book of the corpus: its story name, what ``automuse ingest`` would be
    given for it, and the source its store records (the file it is read from)."""

    name: str
    spec: str
    source: str
    gutenberg_id: int | None = None


def expand_specs(specs: list[str], settings: Settings) -> list[BookSpec]:
    """The books ``specs`` name, in order, each once; an :class:`InputError` for a SPEC
    that names nothing, or for two books that would share a story name."""
    if not specs:
        raise InputError("no books given: pass catalog names, Gutenberg IDs or ranges, files, directories, globs or @LIST")
    books: dict[str, BookSpec] = {}
    for spec in specs:
        for book in _expand(spec, settings, depth=0):
            have = books.get(book.name)
            if have is not None and have.source != book.source:
                raise InputError(
                    f"two books would be story {book.name}: {have.spec} and {book.spec}; "
                    "rename one file or ingest one of them with automuse ingest --story NAME"
                )
            books.setdefault(book.name, book)
    return list(books.values())


def _expand(spec: str, settings: Settings, depth: int) -> list[BookSpec]:
    spec = spec.strip()
    if not spec:
        return []
    if spec.startswith("@"):
        return _from_list(spec[1:], settings, depth)
    path = Path(spec).expanduser()
    if path.is_file():
        return [_file(spec)]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in BOOK_SUFFIXES)
        if not found:
            raise InputError(f"{spec}: the directory has no .txt or .epub file")
        return [_file(str(p)) for p in found]
    if _GLOB.search(spec):
        matched = sorted(Path(p) for p in glob.glob(str(path)))
        files = [p for p in matched if p.is_file() and p.suffix.lower() in BOOK_SUFFIXES]
        if not files:
            raise InputError(f"{spec}: no .txt or .epub file matches")
        return [_file(str(p)) for p in files]
    ids = _range(spec)
    if ids is not None:
        return [_gutenberg(str(i), i, settings) for i in ids]
    if spec.lower() == SAMPLE_NAME:
        return [BookSpec(SAMPLE_NAME, spec, str(sample_story_path()))]
    entry = find_entry(spec)
    if entry is not None:
        return [_gutenberg(spec, entry.id, settings)]
    if spec.isdigit():
        return [_gutenberg(spec, int(spec), settings)]
    raise InputError(
        f"{spec}: no such file or directory, and not a catalog name (automuse books list), a Gutenberg ID or range, or a glob"
    )


def _file(spec: str) -> BookSpec:
    return BookSpec(check_name(story_name(spec)), spec, str(Path(spec).expanduser()))


def _gutenberg(spec: str, gutenberg_id: int, settings: Settings) -> BookSpec:
    entry = find_entry(str(gutenberg_id))
    name = entry.name if entry else f"pg{gutenberg_id}"
    return BookSpec(name, spec, str(downloaded_path(settings, gutenberg_id)), gutenberg_id)


def _range(spec: str) -> range | None:
    m = _RANGE.fullmatch(spec)
    if m is None:
        return None
    first, last = int(m.group(1)), int(m.group(2))
    if first > last or last - first + 1 > MAX_RANGE:
        raise InputError(f"bad ID range {spec}: give FIRST-LAST with FIRST <= LAST and at most {MAX_RANGE} IDs")
    return range(first, last + 1)


def _from_list(where: str, settings: Settings, depth: int) -> list[BookSpec]:
    if depth > 4:
        raise InputError(f"@{where}: lists nest more than 4 deep")
    path = Path(where).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"@{where}: no such list file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read list @{where}: {exc}") from None
    out: list[BookSpec] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            out += _expand(line, settings, depth + 1)
    return out
