"""The tests' Gutenberg books in a clone without ../shared: tests/shared_data.py fetches
them with ``automuse books get`` from a mirror (here a local directory: no network)
into ``.cache/test-data``, and the tests read them from there."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data import TEST_BOOKS, cache_dir, gutenberg_path, main, shared_data_dir


def book_text(book_id: int) -> str:
    return (
        f"The Project Gutenberg eBook of Test Book {book_id}\n\nTitle: Test Book {book_id}\n\n"
        f"CHAPTER I.\n\nIt was a quiet morning in the town of number {book_id}, and nobody hurried.\n"
    )


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A directory laid out like gutenberg.org (cache/epub/ID/pgID.txt) with small texts."""
    root = tmp_path / "mirror"
    for book_id in TEST_BOOKS:
        path = root / "cache" / "epub" / str(book_id) / f"pg{book_id}.txt"
        path.parent.mkdir(parents=True)
        path.write_text(book_text(book_id), encoding="utf-8")
    return root


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with no ../shared beside it and no AUTOMUSE_SHARED_DATA."""
    monkeypatch.delenv("AUTOMUSE_SHARED_DATA", raising=False)
    repo = tmp_path / "clone" / "repo"
    repo.mkdir(parents=True)
    return repo


def test_fetch_fills_the_cache_from_a_directory_mirror_and_the_tests_read_it(
    clone: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shared_data_dir(clone, {}) == cache_dir(clone)
    assert not cache_dir(clone).exists()
    assert main(["--mirror", str(mirror), "--repo", str(clone)]) == 0
    assert "downloaded pg11, pg84, pg1342, pg64317" in capsys.readouterr().err
    shared = shared_data_dir(clone, {})
    for book_id in TEST_BOOKS:
        assert gutenberg_path(shared, book_id).read_text(encoding="utf-8") == book_text(book_id)
    # Already there: nothing is fetched again, even from a mirror that does not exist.
    assert main(["--mirror", str(mirror.parent / "gone"), "--repo", str(clone)]) == 0
    assert "all present" in capsys.readouterr().err


def test_a_book_missing_from_the_mirror_keeps_the_others_and_warns(
    clone: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (mirror / "cache" / "epub" / "1342" / "pg1342.txt").unlink()
    assert main(["--mirror", str(mirror), "--repo", str(clone)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warning: could not fetch the test books") and "book 1342 is not on mirror" in err
    assert len(err.strip().splitlines()) == 1
    assert gutenberg_path(cache_dir(clone), 11).is_file() and gutenberg_path(cache_dir(clone), 84).is_file()
    assert not gutenberg_path(cache_dir(clone), 1342).exists()


def test_nothing_is_downloaded_when_shared_data_is_beside_the_checkout(
    clone: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beside = clone.parent / "shared" / "data"
    beside.mkdir(parents=True)
    assert shared_data_dir(clone, {}) == beside
    assert main(["--mirror", str(mirror), "--repo", str(clone)]) == 0
    assert f"using {beside}" in capsys.readouterr().err
    assert not cache_dir(clone).exists()


def test_the_environment_variable_comes_first(clone: Path, tmp_path: Path) -> None:
    (clone.parent / "shared" / "data").mkdir(parents=True)
    cache_dir(clone).mkdir(parents=True)
    assert shared_data_dir(clone, {"AUTOMUSE_SHARED_DATA": str(tmp_path / "mine")}) == tmp_path / "mine"
