"""Books: the catalog (``books/catalog.toml``), the Gutenberg downloader and loading a
book by path, catalog short name or Gutenberg ID.

The downloader reads ``/cache/epub/ID/pgID.txt`` from the mirror (``--mirror`` /
``AUTOMUSE_GUTENBERG_MIRROR``: an http(s) URL, a ``file://`` URL or a local directory
with the same layout), checks that it got text, and writes it atomically to
``HOME/books/pgID.txt``. A book already there is never fetched again.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from automuse_rag import paths
from automuse_rag.errors import AutomuseError, InputError
from automuse_rag.fsutil import write_bytes_atomic
from automuse_rag.settings import Settings
from automuse_rag.text.clean import clean_text, decode_bytes
from automuse_rag.text.types import Book

MIRROR_SETTING = "--mirror / AUTOMUSE_GUTENBERG_MIRROR"
SAMPLE_NAME = "sample"
_MAX_DOWNLOAD = 200 * 1024 * 1024
_TIMEOUT = 60.0


class DownloadError(AutomuseError):
    """The Gutenberg mirror could not be reached or did not have the book."""


@dataclass(frozen=True)
class CatalogEntry:
    id: int
    name: str
    title: str
    author: str


@dataclass(frozen=True)
class Fetched:
    """Where a book is, and whether this call downloaded it."""

    path: Path
    downloaded: bool
    gutenberg_id: int | None
    name: str  # a short story name: catalog name, "pgID", "sample" or the file's stem


# --------------------------------------------------------------------------- catalog


def catalog() -> list[CatalogEntry]:
    """The books in ``books/catalog.toml``, in file order."""
    path = paths.catalog_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"book catalog not found at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"book catalog {path} is not valid TOML: {exc}") from None
    return [CatalogEntry(int(b["id"]), str(b["name"]), str(b["title"]), str(b["author"])) for b in data.get("books", [])]


def find_entry(spec: str) -> CatalogEntry | None:
    """The catalog entry whose short name or ID is ``spec`` (case-insensitive)."""
    key = spec.strip().lower()
    for entry in catalog():
        if key in (entry.name.lower(), str(entry.id)):
            return entry
    return None


def sample_story_path() -> Path:
    """The project's own sample story, ``books/sample/story.txt`` in the checkout."""
    return paths.sample_dir() / "story.txt"


def downloaded_path(settings: Settings, gutenberg_id: int) -> Path:
    return settings.books_dir / f"pg{gutenberg_id}.txt"


# --------------------------------------------------------------------------- downloading


def book_url(mirror: str, gutenberg_id: int) -> str:
    return f"{mirror.rstrip('/')}/cache/epub/{gutenberg_id}/pg{gutenberg_id}.txt"


def _one_line(text: object) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _mirror_dir(mirror: str) -> Path | None:
    """The local directory a mirror names, or None for an http(s) URL."""
    parsed = urlparse(mirror)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InputError(f"unsupported mirror {mirror!r}: use an http(s) URL or a directory ({MIRROR_SETTING})")
    return Path(mirror).expanduser()


def _read_dir_mirror(root: Path, mirror: str, gutenberg_id: int) -> bytes:
    if not root.is_dir():
        raise DownloadError(
            f"Gutenberg mirror directory {mirror} does not exist; "
            f"set {MIRROR_SETTING} to a URL or a directory with cache/epub/ID/pgID.txt"
        )
    path = root / "cache" / "epub" / str(gutenberg_id) / f"pg{gutenberg_id}.txt"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DownloadError(
            f"book {gutenberg_id} is not on mirror {mirror} (no {path}); check the ID or {MIRROR_SETTING}"
        ) from None
    except OSError as exc:
        raise DownloadError(f"cannot read {path} from mirror {mirror}: {_one_line(exc.strerror or exc)}") from None


def _read_http_mirror(mirror: str, gutenberg_id: int) -> bytes:
    import urllib.error
    import urllib.request

    url = book_url(mirror, gutenberg_id)
    request = urllib.request.Request(url, headers={"User-Agent": "automuse-rag (+https://github.com/)"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            data: bytes = response.read(_MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise DownloadError(
                f"book {gutenberg_id} not found on mirror {mirror} (HTTP 404 for {url}); check the ID or {MIRROR_SETTING}"
            ) from None
        raise DownloadError(
            f"mirror {mirror} answered HTTP {exc.code} for {url}; try again later or set {MIRROR_SETTING}"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach Gutenberg mirror {mirror} ({_one_line(reason)}); "
            f"check the network or set {MIRROR_SETTING} to a reachable mirror or a local directory"
        ) from None
    if len(data) > _MAX_DOWNLOAD:
        raise DownloadError(f"{url} is larger than {_MAX_DOWNLOAD // (1024 * 1024)} MB: not a book")
    return data


_MARKUP = re.compile(r"(?:\s|<!--.*?-->)*<(?:!doctype\s+html|html|\?xml|head|body)[\s>]", re.IGNORECASE | re.DOTALL)


def is_markup(text: str) -> bool:
    """True when ``text`` starts (after whitespace and comments) like an HTML or XML
    document rather than a plain-text book."""
    return bool(_MARKUP.match(text[:4096].lstrip("\ufeff")))


def _check_text(data: bytes, where: str) -> None:
    """Raise unless ``data`` is a plain-text book (not binary, not an HTML page)."""
    text = decode_bytes(data, where)
    if is_markup(text):
        raise DownloadError(f"{where} is an HTML/XML page, not a plain-text book; check the ID or {MIRROR_SETTING}")


def download(gutenberg_id: int, settings: Settings, mirror: str | None = None) -> Fetched:
    """Fetch book ``gutenberg_id`` into ``settings.books_dir`` unless it is already there."""
    target = downloaded_path(settings, gutenberg_id)
    entry = find_entry(str(gutenberg_id))
    name = entry.name if entry else f"pg{gutenberg_id}"
    if target.is_file() and target.stat().st_size > 0:
        return Fetched(target, False, gutenberg_id, name)
    source = mirror or settings.gutenberg_mirror
    root = _mirror_dir(source)
    if root is None:
        data = _read_http_mirror(source, gutenberg_id)
        where = book_url(source, gutenberg_id)
    else:
        data = _read_dir_mirror(root, source, gutenberg_id)
        where = str(root / "cache" / "epub" / str(gutenberg_id) / f"pg{gutenberg_id}.txt")
    _check_text(data, where)
    try:
        write_bytes_atomic(target, data)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {_one_line(exc.strerror or exc)} (check --home / AUTOMUSE_HOME)") from None
    return Fetched(target, True, gutenberg_id, name)


# --------------------------------------------------------------------------- resolving specs


def fetch(spec: str, settings: Settings, mirror: str | None = None) -> Fetched:
    """Resolve ``spec`` (a path, a catalog short name, ``sample`` or a Gutenberg ID) to a
    local file, downloading it if needed."""
    spec = spec.strip()
    if not spec:
        raise InputError("no book given: pass a path, a catalog name (automuse books list) or a Gutenberg ID")
    path = Path(spec).expanduser()
    if path.is_file():
        return Fetched(path, False, None, _stem_name(path))
    if spec.lower() == SAMPLE_NAME:
        sample = sample_story_path()
        if not sample.is_file():
            raise InputError(f"the sample story is missing at {sample}")
        return Fetched(sample, False, None, SAMPLE_NAME)
    entry = find_entry(spec)
    if entry is not None:
        return download(entry.id, settings, mirror)
    if spec.isdigit():
        return download(int(spec), settings, mirror)
    if path.is_dir():
        raise InputError(f"{spec} is a directory, not a text file")
    raise InputError(f"{spec}: no such file, and not a catalog name (see automuse books list) or a Gutenberg ID")


def _stem_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower()
    return name or "book"


def get_book(spec: str, settings: Settings, mirror: str | None = None) -> Path:
    """The local file for ``spec`` (see :func:`fetch`)."""
    return fetch(spec, settings, mirror).path


def read_book_file(path: Path, gutenberg_id: int | None = None) -> Book:
    """Read, decode and clean a local text file."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a text file") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_one_line(exc.strerror or exc)}") from None
    return book_from_bytes(data, str(path), gutenberg_id)


def book_from_bytes(data: bytes, source: str, gutenberg_id: int | None = None) -> Book:
    """Decode and clean a book file's bytes (``source``: where they came from): what
    :func:`read_book_file` does once the file is read, and a corpus worker too."""
    if source.lower().endswith(".epub"):
        data = epub_text(data, source).encode("utf-8")
    text = decode_bytes(data, source)
    if is_markup(text):
        raise InputError(
            f"{source} is an HTML/XML page, not a plain-text book; use the plain-text edition (automuse books get ID)"
        )
    return clean_text(text, source=source, gutenberg_id=gutenberg_id)


class _TextOf(HTMLParser):
    """The text of an XHTML document: paragraphs and headings on lines of their own."""

    BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "tr", "blockquote", "section"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(" ".join(data.split()) if data.strip() else " ")


def epub_text(data: bytes, source: str) -> str:
    """The plain text of an EPUB's documents in reading (spine) order, one paragraph a
    block; an :class:`InputError` if it is not a readable EPUB."""
    import io
    import zipfile

    from ebooklib import ITEM_DOCUMENT, epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, epub.EpubException) as exc:
        raise InputError(f"{source} is not a readable EPUB: {_one_line(exc)}") from None
    texts = []
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ITEM_DOCUMENT or isinstance(item, epub.EpubNav):  # the table of contents
            continue
        parser = _TextOf()
        parser.feed(item.get_content().decode("utf-8", errors="replace"))
        paras = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
        texts.append("\n\n".join(p for p in paras if p))
    text = "\n\n".join(t for t in texts if t)
    if not text:
        raise InputError(f"{source}: the EPUB has no text")
    return text + "\n"


def load_book(spec: str, settings: Settings, mirror: str | None = None) -> Book:
    """The cleaned :class:`Book` for ``spec``: a path, a catalog short name, ``sample``
    or a Gutenberg ID (downloaded into ``settings.books_dir`` if needed)."""
    fetched = fetch(spec, settings, mirror)
    return read_book_file(fetched.path, fetched.gutenberg_id)


def story_name(spec: str) -> str:
    """A default story name for ``spec`` (used in chunk ids): the catalog name, ``pgID``,
    ``sample``, or the file's stem. Does no I/O beyond reading the catalog."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_file():
        return _stem_name(path)
    if spec.lower() == SAMPLE_NAME:
        return SAMPLE_NAME
    entry = find_entry(spec)
    if entry is not None:
        return entry.name
    return f"pg{spec}" if spec.isdigit() else _stem_name(path)
