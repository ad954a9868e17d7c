"""The catalog, the Gutenberg downloader (directory and HTTP mirrors) and load_book."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import gutenberg_path

from automuse_rag import books
from automuse_rag.errors import AutomuseError, InputError
from automuse_rag.settings import get_settings

ORIGINAL = {
    11: "Alice's Adventures in Wonderland",
    84: "Frankenstein",
    64317: "The Great Gatsby",
    1342: "Pride and Prejudice",
    1661: "The Adventures of Sherlock Holmes",
}


def test_catalog_has_the_original_books_and_a_dozen_more() -> None:
    entries = books.catalog()
    by_id = {e.id: e for e in entries}
    for gid, title in ORIGINAL.items():
        assert by_id[gid].title.startswith(title)
    assert len(entries) >= len(ORIGINAL) + 12
    assert len({e.name for e in entries}) == len(entries) == len(by_id)
    assert all(e.name == e.name.lower() and " " not in e.name and e.author for e in entries)
    assert books.find_entry("ALICE") == by_id[11] and books.find_entry("1342") == by_id[1342]
    assert books.find_entry("no-such-book") is None


# --------------------------------------------------------------------------- directory mirror


def test_get_from_directory_mirror_then_idempotent(home: Path, gutenberg_mirror: Path) -> None:
    cfg = get_settings()
    first = books.fetch("alice", cfg, str(gutenberg_mirror))
    assert first.downloaded and first.path == home / "books" / "pg11.txt"
    assert first.path.read_bytes() == gutenberg_path(gutenberg_mirror.parent, 11).read_bytes()
    stamp = first.path.stat().st_mtime_ns
    # second time: nothing fetched, even with an unreachable mirror
    again = books.fetch("11", cfg, "http://127.0.0.1:9")
    assert not again.downloaded and again.path == first.path
    assert first.path.stat().st_mtime_ns == stamp
    assert list((home / "books").iterdir()) == [first.path]  # no temp files left


def test_mirror_from_environment_and_file_url(home: Path, gutenberg_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMUSE_GUTENBERG_MIRROR", str(gutenberg_mirror))
    assert books.get_book("84", get_settings()).read_bytes()[:3] == gutenberg_path(gutenberg_mirror.parent, 84).read_bytes()[:3]
    path = books.get_book("gatsby", get_settings(), gutenberg_mirror.resolve().as_uri())
    assert path.name == "pg64317.txt" and path.stat().st_size > 100_000


def test_book_missing_from_directory_mirror(home: Path, gutenberg_mirror: Path) -> None:
    with pytest.raises(AutomuseError) as info:
        books.fetch("1661", get_settings(), str(gutenberg_mirror))
    assert "1661" in str(info.value) and "AUTOMUSE_GUTENBERG_MIRROR" in str(info.value)
    assert not (home / "books" / "pg1661.txt").exists()


def test_binary_on_mirror_is_refused_and_nothing_written(home: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    target = mirror / "cache" / "epub" / "5" / "pg5.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK\x03\x04" + bytes(500))
    with pytest.raises(InputError, match="not a text file"):
        books.fetch("5", get_settings(), str(mirror))
    assert not (home / "books").exists() or not any((home / "books").iterdir())


# --------------------------------------------------------------------------- HTTP mirror


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_mirror(tmp_path: Path, gutenberg_mirror: Path) -> Iterator[tuple[str, list[str]]]:
    """The shared mirror served on 127.0.0.1, plus an HTML page at book 7; yields
    (url, requested paths)."""
    requests: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:  # noqa: N802
            requests.append(self.path)
            if self.path == "/cache/epub/7/pg7.txt":
                body = b"<!DOCTYPE html><html><body>Not here</body></html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(gutenberg_mirror)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_get_from_http_mirror_then_idempotent(home: Path, http_mirror: tuple[str, list[str]], gutenberg_mirror: Path) -> None:
    url, requests = http_mirror
    cfg = get_settings(gutenberg_mirror=url)
    path = books.get_book("pride", cfg)
    assert requests == ["/cache/epub/1342/pg1342.txt"]
    assert path.read_bytes() == gutenberg_path(gutenberg_mirror.parent, 1342).read_bytes()
    assert books.get_book("1342", cfg) == path
    assert len(requests) == 1  # the second get did not ask the mirror


def test_http_404_and_html_page(home: Path, http_mirror: tuple[str, list[str]]) -> None:
    url, _ = http_mirror
    with pytest.raises(AutomuseError) as missing:
        books.fetch("99999", get_settings(), url)
    assert "404" in str(missing.value) and "--mirror" in str(missing.value)
    with pytest.raises(AutomuseError, match="HTML"):
        books.fetch("7", get_settings(), url)
    assert not (home / "books" / "pg7.txt").exists()


def test_unreachable_mirror_names_the_setting(home: Path) -> None:
    with pytest.raises(AutomuseError) as info:
        books.fetch("alice", get_settings(), "http://127.0.0.1:9")
    message = str(info.value)
    assert "127.0.0.1:9" in message and "--mirror" in message and "AUTOMUSE_GUTENBERG_MIRROR" in message
    assert "\n" not in message
    assert not (home / "books" / "pg11.txt").exists()


# --------------------------------------------------------------------------- specs and load_book


def test_load_book_by_name_id_path_and_sample(home: Path, gutenberg_mirror: Path) -> None:
    cfg = get_settings(gutenberg_mirror=str(gutenberg_mirror))
    by_name = books.load_book("alice", cfg)
    by_id = books.load_book("11", cfg)
    by_path = books.load_book(str(gutenberg_path(gutenberg_mirror.parent, 11)), cfg)
    assert by_name.text == by_id.text == by_path.text
    assert by_name.gutenberg_id == 11 and by_path.gutenberg_id == 11  # from the header
    assert len([c for c in by_name.chapters if c.number]) == 12
    sample = books.sample_story_path()
    assert sample == Path(books.__file__).resolve().parents[1] / "books" / "sample" / "story.txt"
    if sample.is_file():
        assert books.load_book("sample", cfg).title
        assert books.story_name("sample") == "sample"
    assert books.story_name("alice") == "alice" and books.story_name("4242") == "pg4242"


@pytest.mark.parametrize("spec", ["no-such-book", "missing/file.txt", ""])
def test_unknown_specs(home: Path, spec: str) -> None:
    with pytest.raises(InputError):
        books.get_book(spec, get_settings())


def test_directory_spec(home: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        books.load_book(str(tmp_path), get_settings())
